/// Tells systemd about the daemon through `sd_notify`.
public struct SystemdNotifier: Sendable {
    public init() {}

    public func ready(status: String) { Systemd.notify("READY=1\nSTATUS=\(Self.clean(status))") }
    public func status(_ text: String) { Systemd.notify("STATUS=\(Self.clean(text))") }
    public func reloading() { Systemd.notify("RELOADING=1\nMONOTONIC_USEC=\(Systemd.monotonicMicroseconds())") }
    public func stopping() { Systemd.notify("STOPPING=1") }
    public func watchdog() { Systemd.notify("WATCHDOG=1") }
    public var watchdogInterval: Duration? { Systemd.watchdogInterval() }

    /// A status is one line.
    static func clean(_ text: String) -> String {
        String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}
