import Foundation
import HotlineCore
import HotlineStore
import Logging
import PostgresNIO
import Synchronization

/// Several daemons on one log (two control rooms): an alert raised or escalated through one
/// reaches the consoles of every other (LISTEN/NOTIFY), and the work that must happen once
/// across them (re-escalation, sink delivery) is done by the one that holds the leader's
/// advisory lock.
extension PostgresLog {
    /// The channel on which a commit that raised or escalated alerts says so.
    static let alertChannel = "hotlined_alerts"

    /// Tells every daemon listening that `alerts` were committed by this one (inside the
    /// committing transaction: PostgreSQL delivers a notification only once its transaction
    /// has committed, and never one of a transaction rolled back).
    func notify(_ alerts: [Alert], _ session: PostgresSession) throws {
        for alert in alerts {
            try session.execute("SELECT pg_notify(\(Self.alertChannel), \(origin + " " + alert.id))")
        }
    }

    /// Calls `deliver` with each alert another daemon commits (raised, or gone up a level), as
    /// it stands once committed, until the calling task is cancelled. The listening session
    /// is this one's own; when it is lost (the primary went), it connects again, to the
    /// primary by then, after `retry`. Alerts committed while no session listened are not
    /// delivered here (a console's backlog at subscription has them).
    public func alertsFromOtherRooms(retry: Duration = .seconds(1), _ deliver: @escaping @Sendable (Alert) -> Void) async {
        let (connector, logger, origin) = (connector, logger, origin)
        while !Task.isCancelled {
            do {
                let (connection, endpoint) = try await connector.connectToPrimary()
                defer { Task { try? await connection.close() } }
                logger.info("listening for other rooms' alerts on \(endpoint)")
                try await connection.listen(on: Self.alertChannel) { notifications in
                    for try await notification in notifications {
                        let parts = notification.payload.split(separator: " ", maxSplits: 1).map(String.init)
                        guard parts.count == 2, parts[0] != origin else { continue }
                        let rows = try await connection.query("SELECT * FROM alerts WHERE alert_id = \(parts[1])", logger: logger)
                        for try await row in rows { deliver(try Self.alert(row.makeRandomAccess())) }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("listening for other rooms' alerts failed (\(PostgresFailure.describe(error))); again in \(retry)")
            }
            try? await Task.sleep(for: retry)
        }
    }
}

/// Leadership among the daemons on one log: held while this daemon's own session holds a
/// session-level advisory lock, which PostgreSQL releases when the session ends (a daemon
/// stopped or killed, or its connection lost), so that another daemon takes it at its next
/// try. Re-escalation and sink delivery run on the leader only: exactly once across rooms.
public final class PostgresLeadership: Sendable {
    let connector: PostgresConnector
    let logger: Logger
    private let state = Mutex<(session: PostgresSession?, leading: Bool)>((nil, false))

    /// "hotlined" + 1: the leader's lock, beside the writers' and the migrations'.
    static let leaderLock: Int64 = 0x686f_746c_696e_6566

    public init(connector: PostgresConnector, logger: Logger) {
        self.connector = connector
        self.logger = logger
    }

    /// Whether this daemon led at its last ``tryToLead()``.
    public var isLeader: Bool { state.withLock { $0.leading } }

    /// Takes the lead if no other daemon holds it, or confirms that this one still does
    /// (its session alive); returns whether it leads. Called every tick: blocking, from a
    /// thread that may block.
    @discardableResult
    public func tryToLead() -> Bool {
        let held = state.withLock { $0 }
        var session = held.session
        do {
            if session == nil || session?.isClosed == true {
                session = try PostgresSession.open(connector, logger: logger).session
            }
            guard let session else { return false }
            let leading: Bool
            if held.leading, held.session === session {
                // Still ours while the session lives: a query that succeeds proves it.
                try session.execute("SELECT 1")
                leading = true
            } else {
                leading =
                    try session.row("SELECT pg_try_advisory_lock(\(Self.leaderLock)) AS taken")
                    .map { try $0["taken"].decode(Bool.self) } ?? false
            }
            state.withLock { $0 = (session, leading) }
            if leading != held.leading {
                logger.notice(leading ? "this daemon now leads: it re-escalates alerts and delivers them to sinks" : "another daemon leads")
            }
            return leading
        } catch {
            session?.close()
            held.session?.close()
            state.withLock { $0 = (nil, false) }
            if held.leading {
                logger.warning("lost the lead (\(PostgresFailure.describe(error))): another daemon may take it")
            }
            return false
        }
    }

    /// Gives the lead up (a stop): another daemon takes it at its next try. Unlocked before
    /// the session closes: the server would release it only once the closed session's
    /// backend has gone, a moment later. (A daemon killed or cut off cannot do this; its
    /// lock goes with its backend, and the next try after that finds it free.)
    public func resign() {
        let (session, leading) = state.withLock { s in
            defer { s = (nil, false) }
            return (s.session, s.leading)
        }
        if leading { try? session?.execute("SELECT pg_advisory_unlock(\(Self.leaderLock))") }
        session?.close()
    }
}
