/// The scheduled shift-end export's systemd settings, made from the configuration so the
/// timer fires when the configured shifts end (`hotlined --export-units DIR`, which the
/// generator `hotlined-export-generator` runs at boot and on `systemctl daemon-reload`).
public enum ExportSchedule {
    /// Seconds after a shift's end the export runs: calls logged in its last moments are in.
    public static let delaySeconds = 30

    /// Where the files go: `shifts.export_dir`, else `exports/` beside the database.
    public static func directory(_ c: Configuration) -> String {
        if let dir = c.shifts.exportDir { return dir }
        let database = c.paths.database
        let parent = database.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return (parent.isEmpty ? "." : parent) + "/exports"
    }

    /// `OnCalendar=` lines, one a shift end, in the shifts' timezone.
    public static func onCalendar(_ settings: ShiftSettings) -> [String] {
        settings.endTimes.map { "OnCalendar=*-*-* \($0):\(digits(delaySeconds, 2)) \(settings.timezone)" }
    }

    /// A drop-in for `hotlined-export.timer` replacing the shipped times.
    public static func timerDropIn(_ c: Configuration) -> String {
        """
        # Made by hotlined --export-units from the shifts in the configuration; do not edit.
        [Timer]
        OnCalendar=
        \(onCalendar(c.shifts).joined(separator: "\n"))

        """
    }

    /// A drop-in for `hotlined-export.service` naming the export directory.
    public static func serviceDropIn(_ c: Configuration) -> String {
        let dir = directory(c)
        return """
            # Made by hotlined --export-units from the configuration; do not edit.
            [Service]
            Environment=HOTLINED_EXPORT_DIR=\(dir)
            ReadWritePaths=-\(dir)

            """
    }
}
