/// The shift-end CSV (PROTOCOL.md section 11): one row per call, RFC 4180, with exactly
/// the protocol's header and, after it, `initial_grade`, `grade_changes` and `held`
/// (issue 16) and `channel` (issue 18): columns are only ever added at the end, so a reader
/// that takes them by position is unaffected. Safe to open in a spreadsheet.
public enum ExportCSV {
    public static let columns = [
        "call_id", "received_at", "dialled", "route", "grade", "marking", "anonymous", "escalated", "category",
        "outcome", "answered_at", "ended_at", "handling_seconds", "workstation", "handler", "initial_grade", "grade_changes",
        "held", "channel",
    ]

    /// The header line, CRLF-terminated as RFC 4180 has it.
    public static var header: String { columns.joined(separator: ",") + "\r\n" }

    public static func row(_ c: ExportCall) -> String {
        let cells: [String] = [
            text(c.id), c.receivedAt.rfc3339, text(c.dialled), text(c.route), text(c.grade), text(c.marking),
            c.anonymous ? "true" : "false", c.escalated ? "true" : "false", text(c.category), text(c.outcome),
            c.answeredAt?.rfc3339 ?? "", c.endedAt?.rfc3339 ?? "", c.handlingSeconds.map(number) ?? "",
            text(c.workstation), text(c.handler), text(c.initialGrade), String(c.gradeChanges), c.held ? "true" : "false",
            c.channel.rawValue,
        ]
        return cells.joined(separator: ",") + "\r\n"
    }

    /// A number as plain decimal: `310`, `4.25`.
    public static func number(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return JSONWriter.string(.double((x * 1_000_000).rounded() / 1_000_000))
    }

    /// A text cell: quoted when it holds a comma, quote, CR or LF (quotes doubled); and
    /// defused when a spreadsheet would read it as a formula (`=`, `+`, `-`, `@`, tab, CR
    /// first): prefixed with an apostrophe, which spreadsheets show as text and hide.
    public static func text(_ value: String?) -> String {
        guard var s = value, !s.isEmpty else { return "" }
        if let first = s.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { s = "'" + s }
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else { return s }
        return "\"" + s.replacing("\"", with: "\"\"") + "\""
    }
}
