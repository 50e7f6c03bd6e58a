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
    /// The listening session's `application_name`.
    public static let listenerName = "hotlined alerts"

    /// Tells every daemon listening that `alerts` were committed by this one (inside the
    /// committing transaction: PostgreSQL delivers a notification only once its transaction
    /// has committed, and never one of a transaction rolled back).
    func notify(_ alerts: [Alert], _ session: PostgresSession) throws {
        for alert in alerts {
            try session.execute("SELECT pg_notify(\(Self.alertChannel), \(origin + " " + alert.id))")
        }
    }

    /// Calls `deliver` with each alert another daemon commits (raised, or gone up a level),
    /// as it stands once committed, until the calling task is cancelled; with
    /// `includingOwn`, this daemon's too (its caller skips those it pushed: one whose
    /// commit was cut off, answered `unavailable`, was not). The listening session is this
    /// one's own; when it is lost (the primary went), it connects again, to the primary by
    /// then, after `retry`, and catches up on the alerts raised while it was not listening
    /// (notifications are not kept, nor replicated). An alert escalated in that gap is not
    /// caught up: a console's backlog at subscription has it at its level.
    public func alertsFromOtherRooms(
        retry: Duration = .seconds(1), probeEvery: Duration = .seconds(5), includingOwn: Bool = false,
        _ deliver: @escaping @Sendable (Alert) -> Void
    ) async {
        let (connector, logger, origin) = (connector, logger, origin)
        // The highest alert `seq` heard of: raised before it, delivered or not wanted.
        let heard = HeardSeq()
        // Handed over in order on a queue of its own (serial, so overcommitting: a thread
        // of its own when it blocks): `deliver` may wait (the hub orders pushes with backlog
        // pages and escalations), and the listening task runs on the threads every
        // PostgreSQL statement needs.
        let handOver = DispatchQueue(label: "hotlined.alerts-heard")
        let deliver: @Sendable (Alert) -> Void = { alert in handOver.async { deliver(alert) } }
        while !Task.isCancelled {
            let connection: PostgresConnection
            do {
                (connection, _) = try await connector.connectToPrimary(name: Self.listenerName)
            } catch {
                if Task.isCancelled { return }
                logger.warning("listening for other rooms' alerts: \(PostgresFailure.describe(error)); again in \(retry)")
                try? await Task.sleep(for: retry)
                continue
            }
            // The listening runs in a task of its own, and this waits for whichever comes
            // first: its end, the connection no longer answering a probe (a machine gone
            // without a reset: nothing would ever end the listening), or cancellation (the
            // daemon stopping). A listening task left stuck ends when its connection is
            // closed, or never.
            let first = FirstAnswer<String>()
            let listening = Task(executorPreference: PostgresExecutor.shared) {
                do {
                    try await Self.listen(connection, includingOwn: includingOwn, origin: origin, heard: heard, logger: logger, deliver)
                    first.give("the listening ended")
                } catch {
                    first.give(PostgresFailure.describe(error))
                }
            }
            let probing = Task(executorPreference: PostgresExecutor.shared) {
                while !first.isAnswered, !Task.isCancelled {
                    try? await Task.sleep(for: probeEvery)
                    guard !first.isAnswered, !Task.isCancelled else { break }
                    if await !Self.answers(connection, within: probeEvery * 2, logger: logger) {
                        first.give("the server stopped answering (no reply within \(probeEvery * 2))")
                    }
                }
            }
            let why = await withTaskCancellationHandler {
                await withCheckedContinuation { first.attach($0) }
            } onCancel: {
                first.give("stopped")
            }
            listening.cancel()
            probing.cancel()
            _ = connection.close() as EventLoopFuture<Void>
            if Task.isCancelled { return }
            logger.warning("listening for other rooms' alerts ended (\(why)); again in \(retry)")
            try? await Task.sleep(for: retry)
        }
    }

    /// Listens on `connection`: first the alerts raised since `heard` (on a reconnection),
    /// then each notification, until the connection ends.
    private static func listen(
        _ connection: PostgresConnection, includingOwn: Bool, origin: String, heard: HeardSeq, logger: Logger,
        _ deliver: @escaping @Sendable (Alert) -> Void
    ) async throws {
        try await connection.listen(on: alertChannel) { notifications in
            // Listening now: what was committed before is in the table.
            // On a reconnection: the alerts raised since the last heard of (with a margin: a
            // promoted standby may number again what an old primary committed alone), and
            // those escalated and not acknowledged (an escalation changes no seq). Those
            // pushed already are skipped by the caller. At the first session, nothing: a
            // console's backlog at subscription has it all.
            if let since = heard.seq.withLock({ $0 }) {
                for try await row in try await connection.query(
                    "SELECT * FROM alerts WHERE seq > \(since - Self.catchUpMargin) OR (acked_at IS NULL AND level > 1) ORDER BY seq",
                    logger: logger)
                {
                    let alert = try Self.alert(row.makeRandomAccess())
                    heard.seq.withLock { $0 = max($0 ?? 0, alert.seq) }
                    deliver(alert)
                }
            } else {
                for try await row in try await connection.query("SELECT COALESCE(MAX(seq), 0) FROM alerts", logger: logger) {
                    let latest = try row.decode(Int64.self)
                    heard.seq.withLock { $0 = max($0 ?? 0, latest) }
                }
            }
            logger.info("listening for other rooms' alerts")
            for try await notification in notifications {
                let parts = notification.payload.split(separator: " ", maxSplits: 1).map(String.init)
                guard parts.count == 2, includingOwn || parts[0] != origin else { continue }
                let rows = try await connection.query("SELECT * FROM alerts WHERE alert_id = \(parts[1])", logger: logger)
                for try await row in rows {
                    let alert = try Self.alert(row.makeRandomAccess())
                    heard.seq.withLock { $0 = max($0 ?? 0, alert.seq) }
                    deliver(alert)
                }
            }
        }
    }

    /// How far before the last alert heard of a catch-up reads again (repeats are skipped).
    static let catchUpMargin: Int64 = 1000

    /// The highest alert `seq` a listener has heard of, across its reconnections.
    final class HeardSeq: Sendable {
        let seq = Mutex<Int64?>(nil)
    }

    /// Whether `connection` answers a trivial statement within `bound`.
    private static func answers(_ connection: PostgresConnection, within bound: Duration, logger: Logger) async -> Bool {
        let first = FirstAnswer<Bool>()
        let timer = Task(executorPreference: PostgresExecutor.shared) {
            try? await Task.sleep(for: bound)
            first.give(false)
        }
        Task(executorPreference: PostgresExecutor.shared) {
            first.give((try? await connection.query("SELECT 1", logger: logger).collect()) != nil)
            timer.cancel()
        }
        return await withCheckedContinuation { first.attach($0) }
    }
}

/// Leadership among the daemons on one log: a lease, a row that the leader renews every
/// tick by a write that must reach the synchronous standbys (every hotlined session commits
/// so). A daemon leads while its last renewal, counted from before it was sent, is younger
/// than the lease less a margin; another takes the row only once the server's clock says
/// the lease ran out. A leader cut off, or left on an old primary after a failover (whose
/// standby now follows another), cannot renew: its commits wait and fail, and it stops
/// leading before anyone else may start. Each new holder raises the epoch, which fences
/// work done under an older lease (issue 15: the outbox's claims, next). Re-escalation and
/// sink delivery run on the leader only: once across rooms.
public final class PostgresLeadership: Sendable {
    let connector: PostgresConnector
    let logger: Logger
    /// This daemon, as the lease names its holder.
    public let holder: String
    private let state = Mutex<(session: PostgresSession?, validUntil: ContinuousClock.Instant?, epoch: Int64)>((nil, nil, 0))

    /// How long a renewal holds the lead (the server's clock), and how much sooner the
    /// leader stops counting on it (its own clock, which started before the server's did).
    public static let lease: Duration = .seconds(10)
    static let margin: Duration = .seconds(2)

    public init(connector: PostgresConnector, logger: Logger, holder: String = UUIDText.random()) {
        self.connector = connector
        self.logger = logger
        self.holder = holder
    }

    /// Whether this daemon leads now: its last renewal is still good.
    public var isLeader: Bool { state.withLock { s in s.validUntil.map { ContinuousClock.now < $0 } ?? false } }

    /// The lease's epoch when this daemon last took or renewed it.
    public var epoch: Int64 { state.withLock { $0.epoch } }

    /// Takes the lease if it ran out, or renews it if this daemon holds it; returns whether
    /// it leads. Called every tick: blocking, from a thread that may block.
    @discardableResult
    public func tryToLead() -> Bool {
        let wasLeading = isLeader
        var session = state.withLock { $0.session }
        let started = ContinuousClock.now
        do {
            if session == nil || session?.isClosed == true {
                session = try PostgresSession.open(connector, logger: logger).session
            }
            guard let session else { return false }
            try session.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            let seconds = Double(Self.lease.components.seconds)
            let taken = try session.row(
                """
                UPDATE hotline_leader SET epoch = epoch + CASE WHEN holder = \(holder) THEN 0 ELSE 1 END, holder = \(holder),
                    expires_at = clock_timestamp() + make_interval(secs => \(seconds))
                WHERE id = 1 AND (holder = \(holder) OR expires_at < clock_timestamp()) RETURNING epoch
                """
            ).map { try $0["epoch"].decode(Int64.self) }
            // The commit waits for the standbys: a primary they no longer follow cannot give the lead.
            try session.execute("COMMIT")
            state.withLock { s in
                s.session = session
                if let taken {
                    s.validUntil = started + Self.lease - Self.margin
                    s.epoch = taken
                } else {
                    s.validUntil = nil
                }
            }
        } catch {
            session?.close()
            state.withLock { $0 = (nil, nil, $0.epoch) }
            if wasLeading { logger.warning("could not renew the lead (\(PostgresFailure.describe(error))): another daemon may take it") }
            return false
        }
        let leading = isLeader
        if leading != wasLeading {
            logger.notice(leading ? "this daemon now leads: it re-escalates alerts and delivers them to sinks" : "another daemon leads")
        }
        return leading
    }

    /// Gives the lead up (a stop): the lease ends now, and another daemon takes it at its
    /// next try. (A daemon killed or cut off cannot: its lease runs out instead.)
    public func resign() {
        let (session, leading) = state.withLock { s in
            defer { s = (nil, nil, s.epoch) }
            return (s.session, s.validUntil.map { ContinuousClock.now < $0 } ?? false)
        }
        if leading {
            try? session?.execute("UPDATE hotline_leader SET expires_at = '-infinity' WHERE id = 1 AND holder = \(holder)")
        }
        session?.close()
    }
}
