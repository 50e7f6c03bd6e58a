import Foundation
import HotlineCore
import HotlineStore
import Logging
import PostgresNIO
import Synchronization

/// The call log in PostgreSQL (issue 15): the writer's side so far. A batch is one
/// transaction on the primary, each event in its own savepoint, written by the same
/// ``HotlineStore/EventProcessor`` as on SQLite; its commit returns once the synchronous
/// standbys have it (``PostgresDurability``), and only then is anything acknowledged.
/// Several daemons may write at once (two rooms): each batch takes the writers' advisory
/// lock and chains onto the log's last row as the database has it, so the log stays one
/// chain.
public final class PostgresLog: @unchecked Sendable {
    public let connector: PostgresConnector
    let keys: KeyRing
    let logger: Logger
    /// The writer's session; nil until connected, and again after it failed.
    private var writer: PostgresSession?
    private let chainHeads: Mutex<ChainHeads>
    private let fault = Mutex<String?>(nil)
    /// Reader sessions not in use.
    private let idleReaders = Mutex<[PostgresSession]>([])
    /// This daemon among those on the log, in its notifications (``alertsFromOtherRooms(retry:_:)``).
    public let origin = UUIDText.random()
    /// What an acknowledgement means on the primary the writer last reached.
    public private(set) var durability: PostgresDurability?

    /// The writers' advisory lock: one batch at a time across every daemon on the log.
    static let writerLock: Int64 = 0x686f_746c_696e_6577

    public static let storageFailure = HotlineError(
        .storage, "The event could not be stored; nothing of it was. Send it again later.")
    /// The commit was sent and no answer came back (the primary was lost): whether it
    /// committed is unknown. A resend is safe either way: a stored event is answered with
    /// its original acknowledgement, and an unstored one is stored.
    public static let outcomeUnknown = HotlineError(
        .unavailable,
        "The database connection was lost while the event was being stored; send it again (an event already stored is answered with its original acknowledgement)."
    )

    /// Connects to the primary, migrates the schema and reads where both chains end.
    public init(connector: PostgresConnector, keys: KeyRing, logger: Logger) throws {
        self.connector = connector
        self.keys = keys
        self.logger = logger
        chainHeads = Mutex(ChainHeads(events: .empty, audit: .empty))
        let session = try connect()
        let logger = logger
        _ = try PostgresSession.blocking { try await PostgresSchema.migrate(session.connection, logger: logger) }
        chainHeads.withLock {
            $0 = ChainHeads(events: (try? Self.lastEvent(session)) ?? .empty, audit: (try? PostgresAudit.last(session)) ?? .empty)
        }
    }

    /// Where the log is kept, for the journal: the primary the writer last reached.
    public var location: String {
        "PostgreSQL \(connector.settings.database) on \(connector.endpoints.map(\.description).joined(separator: ", "))"
    }

    public var heads: ChainHeads { chainHeads.withLock { $0 } }

    /// What is wrong with storage now, if anything.
    public var storageFault: String? { fault.withLock { $0 } }

    /// A session on the primary: the one held, or a new one to whichever host is the
    /// primary now (after a failover, the promoted standby).
    private func connect() throws -> PostgresSession {
        if let writer, !writer.isClosed { return writer }
        let (connector, logger) = (connector, logger)
        let (connection, endpoint) = try PostgresSession.blocking { try await connector.connectToPrimary() }
        let session = PostgresSession(connection, logger: logger)
        let durability = try PostgresSession.blocking { try await PostgresDurability.prepare(connection, logger: logger) }
        if durability.isReplicated {
            logger.notice("connected to the PostgreSQL primary \(endpoint): \(durability)")
        } else {
            logger.warning("connected to the PostgreSQL primary \(endpoint): \(durability)")
        }
        self.durability = durability
        writer = session
        return session
    }

    /// Records chain heads after their commit; never moves one backwards.
    func publish(events: Chain.Head? = nil, audit: Chain.Head? = nil) {
        chainHeads.withLock { heads in
            if let events, events.seq > heads.events.seq { heads.events = events }
            if let audit, audit.seq > heads.audit.seq { heads.audit = audit }
        }
    }

    static func lastEvent(_ session: PostgresSession) throws -> Chain.Head {
        try session.row("SELECT seq, hash, mac FROM events ORDER BY seq DESC LIMIT 1").map {
            Chain.Head(
                seq: try $0["seq"].decode(Int64.self), hash: try $0["hash"].decode(Data?.self) ?? Chain.genesis,
                mac: try $0["mac"].decode(Data?.self) ?? Data())
        } ?? .empty
    }

    /// Applies `batch` in one transaction and commits it; see
    /// ``HotlineStore/CallLog/commit(_:policy:alerting:now:yieldFrom:shouldYield:)``.
    /// Writer thread only.
    public func commit(
        _ batch: [WriteSubmission], policy: CallPolicy, alerting: AlertSettings, now: Timestamp, yieldFrom: Int = .max,
        shouldYield: () -> Bool = { false }
    ) -> BatchOutcome {
        var results = [Result<WriteAck, HotlineError>](repeating: .failure(Self.storageFailure), count: batch.count)
        var applied = batch.count
        var alerts: [Alert] = []
        var committing = false
        let processor = EventProcessor(keys: keys)
        do {
            let session = try connect()
            try session.execute("BEGIN")
            do {
                // One writer at a time across daemons, each chaining onto the last row written.
                try session.execute("SELECT pg_advisory_xact_lock(\(Self.writerLock))")
                var head = try Self.lastEvent(session)
                let auditHead = AuditHeadBox(try PostgresAudit.last(session))
                let rows = PostgresEventRows(session: session, keys: keys, auditHead: auditHead)
                for (i, submission) in batch.enumerated() {
                    if i >= max(1, yieldFrom), shouldYield() {
                        applied = i
                        break
                    }
                    let auditBefore = auditHead.head
                    try session.execute("SAVEPOINT event")
                    do {
                        switch try processor.process(
                            submission, rows, policy: policy, alerting: alerting, after: head, seq: head.seq + 1, now: now)
                        {
                        case .stored(let ack, _, let raised, let stored, _):
                            head = stored
                            results[i] = .success(ack)
                            alerts += raised
                        case .duplicate(let ack):
                            results[i] = .success(ack)
                        }
                        try session.execute("RELEASE SAVEPOINT event")
                    } catch let error as HotlineError {
                        results[i] = .failure(error)
                        auditHead.head = auditBefore
                        try session.execute("ROLLBACK TO SAVEPOINT event")
                    } catch let error as PSQLError where error.serverInfo != nil {
                        // The server refused a statement of this event alone: the others go on.
                        logger.error(
                            "storing an event failed: \(PostgresFailure.describe(error))",
                            metadata: [
                                "event_id": "\(submission.event.eventID)", "message_id": "\(MessageID.storageFailure.rawValue)",
                            ])
                        results[i] = .failure(Self.storageFailure)
                        auditHead.head = auditBefore
                        try session.execute("ROLLBACK TO SAVEPOINT event")
                    }
                }
                // The other rooms hear of the alerts once, and only once, this commits.
                try notify(alerts, session)
                committing = true
                try session.execute("COMMIT")
                publish(events: head, audit: auditHead.head)
            } catch {
                if !committing { try? session.execute("ROLLBACK") }
                throw error
            }
        } catch {
            // The session is dropped: the next batch connects again, to whichever host is the
            // primary by then.
            writer?.close()
            writer = nil
            let reason = PostgresFailure.describe(error)
            fault.withLock { $0 = "PostgreSQL: \(reason)" }
            logger.error(
                "committing \(batch.count) events failed (\(reason)); they were answered '\(committing ? "unavailable" : "storage")'",
                metadata: ["message_id": "\(MessageID.storageFailure.rawValue)"])
            return BatchOutcome(
                results: [Result](
                    repeating: .failure(committing ? Self.outcomeUnknown : Self.storageFailure), count: batch.count),
                alerts: [])
        }
        fault.withLock { $0 = nil }
        return BatchOutcome(results: Array(results.prefix(applied)), alerts: alerts)
    }

    /// Runs `body` on a reader session (the primary's, never the writer's), connecting
    /// one when none is free; a session that failed is dropped, and the next read connects
    /// again (to a promoted standby after a failover).
    func reading<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        let session: PostgresSession
        if let free = idleReaders.withLock({ $0.popLast() }), !free.isClosed {
            session = free
        } else {
            let (connector, logger) = (connector, logger)
            let (connection, _) = try PostgresSession.blocking { try await connector.connectToPrimary() }
            session = PostgresSession(connection, logger: logger)
        }
        do {
            let result = try body(session)
            idleReaders.withLock { $0.append(session) }
            return result
        } catch let error as PSQLError where error.serverInfo != nil {
            // The server refused the statement: the session itself is sound.
            try? session.execute("ROLLBACK")
            idleReaders.withLock { $0.append(session) }
            throw error
        } catch {
            session.close()
            throw error
        }
    }

    public func close() {
        writer?.close()
        writer = nil
        for session in idleReaders.withLock({ readers in
            defer { readers = [] }; return readers
        }) { session.close() }
    }
}
