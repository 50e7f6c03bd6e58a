/// Whom the service tells about its state: systemd in production (`READY=1`, `STATUS=`,
/// `WATCHDOG=1`, …), nobody in tests. Keeps the server free of libsystemd.
public protocol ServiceNotifier: Sendable {
    /// The socket is served and the database open: `READY=1`.
    func ready(status: String)
    /// A one-line status for `systemctl status`.
    func status(_ text: String)
    /// A configuration reload begins (`RELOADING=1` with `MONOTONIC_USEC=`).
    func reloading()
    /// Shutdown has begun (`STOPPING=1`).
    func stopping()
    /// The writer is alive (`WATCHDOG=1`).
    func watchdog()
    /// The interval the watchdog expects a ping within, or nil when there is none.
    var watchdogInterval: Duration? { get }
}

/// Tells nobody.
public struct SilentNotifier: ServiceNotifier {
    public init() {}
    public func ready(status: String) {}
    public func status(_ text: String) {}
    public func reloading() {}
    public func stopping() {}
    public func watchdog() {}
    public var watchdogInterval: Duration? { nil }
}
