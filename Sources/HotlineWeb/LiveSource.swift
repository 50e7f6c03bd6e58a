import HotlineCore
import HotlineStore
import HotlineTime
import NIOCore
import NIOPosix

/// Where the metrics endpoint and the wallboard read the log: ``CallLog/liveRows`` on a
/// thread of their own, so that neither a scrape nor a wallboard ever waits behind (or
/// holds up) a workstation's read.
public struct LiveSource: Sendable {
    let store: any CallLog
    let pool: NIOThreadPool
    let configuration: @Sendable () -> Configuration
    let clock: @Sendable () -> Timestamp
    let connections: @Sendable () -> Int

    /// The unacknowledged alerts a board lists at most (all are counted).
    static let alertLimit = 50

    public init(
        store: any CallLog, pool: NIOThreadPool, configuration: @escaping @Sendable () -> Configuration,
        clock: @escaping @Sendable () -> Timestamp, connections: @escaping @Sendable () -> Int
    ) {
        self.store = store
        self.pool = pool
        self.configuration = configuration
        self.clock = clock
        self.connections = connections
    }

    func rows(_ window: ShiftWindow) async throws -> LiveRows {
        let store = self.store
        return try await pool.runIfActive(eventLoop: MultiThreadedEventLoopGroup.singleton.any()) {
            try store.liveRows(callsFrom: window.from, to: window.to, alertLimit: Self.alertLimit)
        }.get()
    }

    /// The configured shifts' calendar (UTC if the zone is unknown, which the configuration
    /// check refuses anyway).
    static func calendar(_ configuration: Configuration) -> ShiftCalendar {
        configuration.shifts.calendar ?? ShiftCalendar(settings: configuration.shifts, zone: FixedOffset())
    }

    struct FixedOffset: TimeZoneRules {
        var identifier: String { "UTC" }
        func secondsFromUTC(at instant: Timestamp) -> Int { 0 }
    }
}
