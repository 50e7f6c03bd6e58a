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
    /// The writer's session; nil until connected, and again after it failed. Under `batch`.
    private var writer: PostgresSession?
    /// Held for a batch, and by close(): one at a time, and never a close under a batch.
    private let batch = NSLock()
    private let chainHeads: Mutex<ChainHeads>
    let fault = Mutex<String?>(nil)
    /// Reader sessions not in use.
    private let idleReaders = Mutex<[PostgresSession]>([])
    /// This daemon among those on the log, in its notifications (``alertsFromOtherRooms(retry:includingOwn:_:)``).
    public let origin = UUIDText.random()
    /// What an acknowledgement means on the primary the writer last reached.
    public var durability: PostgresDurability? { lastDurability.withLock { $0 } }
    private let lastDurability = Mutex<PostgresDurability?>(nil)
    /// Whether the schema is migrated and the chain heads read: done once, at start or, when
    /// the database could not be reached then, at the first write or read that reaches it.
    private let prepared = Atomic<Bool>(false)
    /// The writer's work on the server under way (``isInBoundedWait``).
    let writerActivity: StatementActivity
    /// Leadership among the daemons on this log (``mayDoSharedWork()``).
    public let leadership: PostgresLeadership
    /// When this daemon last asked for, or renewed, the lead.
    private let leadAskedAt = Mutex<ContinuousClock.Instant?>(nil)

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

    /// The database could not be reached (no host answered as the primary): nothing of the
    /// request was done.
    public static func unreachable(_ reason: String) -> HotlineError {
        HotlineError(.unavailable, "The call log's database cannot be reached (\(reason)); nothing was done. Retry later.")
    }

    /// Connects to the primary, migrates the schema and reads where both chains end.
    /// - Parameter waitForDatabase: when the database cannot be reached now, start anyway
    ///   (the daemon at boot): every write and read is answered `unavailable`, and
    ///   ``storageFault`` says why, until one reaches it. Otherwise that is thrown.
    public init(connector: PostgresConnector, keys: KeyRing, logger: Logger, waitForDatabase: Bool = false) throws {
        self.connector = connector
        self.keys = keys
        self.logger = logger
        self.leadership = PostgresLeadership(connector: connector, logger: logger)
        writerActivity = StatementActivity(
            connectBound: .milliseconds(Int64(connector.settings.connectTimeoutSeconds * 2000)) * connector.endpoints.count)
        chainHeads = Mutex(ChainHeads(events: .empty, audit: .empty))
        do {
            try batch.withLock { _ = try prepareLocked() }
        } catch {
            guard waitForDatabase else {
                close()
                throw error
            }
            logger.error(
                "the call log's database cannot be reached (\(PostgresFailure.describe(error))): answering 'unavailable' until it can",
                metadata: ["message_id": "\(MessageID.storageFailure.rawValue)"])
        }
    }

    /// The writer's session, on a prepared log (``prepared``). Under `batch`.
    private func prepareLocked() throws -> PostgresSession {
        do {
            let session = try connect()
            if !prepared.load(ordering: .acquiring) {
                let logger = logger
                let connection = session.connection
                // Longer than a statement: a migration may build an index on a long log.
                _ = try PostgresSession.blocking(
                    deadline: .seconds(120), failsWhen: session.closed,
                    onDeadline: { _ = connection.close() as EventLoopFuture<Void> }
                ) { try await PostgresSchema.migrate(connection, logger: logger) }
                let heads = ChainHeads(events: try Self.lastEvent(session), audit: try PostgresAudit.last(session))
                chainHeads.withLock { $0 = heads }
                prepared.store(true, ordering: .releasing)
            }
            return session
        } catch {
            writer?.close()
            writer = nil
            let reason = PostgresFailure.describe(error)
            fault.withLock { $0 = "PostgreSQL unreachable: \(reason)" }
            throw Self.unreachable(reason)
        }
    }

    /// Where the log is kept, for the journal: the primary the writer last reached.
    public var location: String {
        "PostgreSQL \(connector.settings.database) on \(connector.endpoints.map(\.description).joined(separator: ", "))"
    }

    public var heads: ChainHeads { chainHeads.withLock { $0 } }

    /// What is wrong with storage now, if anything.
    public var storageFault: String? { fault.withLock { $0 } }

    /// The writer's session on the primary: the one held, or a new one to whichever host is
    /// the primary now (after a failover, the promoted standby). Under `batch`.
    private func connect() throws -> PostgresSession {
        if let writer, !writer.isClosed { return writer }
        // Finding the primary is bounded (each host at twice the connect timeout), and so is
        // preparing the session: a wait, not a hang, to the watchdog (StatementActivity).
        let (session, endpoint, durability) = try PostgresSession.open(connector, logger: logger, activity: writerActivity)
        if durability.isReplicated {
            logger.notice("connected to the PostgreSQL primary \(endpoint): \(durability)")
        } else {
            logger.warning("connected to the PostgreSQL primary \(endpoint): \(durability)")
        }
        lastDurability.withLock { $0 = durability }
        writer = session
        return session
    }

    /// Whether to ask for the lead now (`isDue` of the last time), noting the time if so.
    func leadAsked(_ isDue: (ContinuousClock.Instant?) -> Bool) -> Bool {
        leadAskedAt.withLock { last in
            guard isDue(last) else { return false }
            last = .now
            return true
        }
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
        // The whole batch is work on the server, to the watchdog: each statement in it is
        // bounded, and the writer moves with each.
        writerActivity.began()
        defer { writerActivity.ended() }
        return self.batch.withLock {
            commitLocked(batch, policy: policy, alerting: alerting, now: now, yieldFrom: yieldFrom, shouldYield: shouldYield)
        }
    }

    private func commitLocked(
        _ batch: [WriteSubmission], policy: CallPolicy, alerting: AlertSettings, now: Timestamp, yieldFrom: Int,
        shouldYield: () -> Bool
    ) -> BatchOutcome {
        var results = [Result<WriteAck, HotlineError>](repeating: .failure(Self.storageFailure), count: batch.count)
        var applied = batch.count
        var alerts: [Alert] = []
        var committing = false
        let processor = EventProcessor(keys: keys)
        let session: PostgresSession
        do {
            session = try prepareLocked()
        } catch {
            // Nothing was sent: answered `unavailable`; the fault (stats, STATUS=) says why.
            let failure = error as? HotlineError ?? Self.unreachable(PostgresFailure.describe(error))
            return BatchOutcome(results: [Result](repeating: .failure(failure), count: batch.count), alerts: [])
        }
        // First without a savepoint per event (two round trips each, and a subtransaction:
        // past 64 in one transaction they slow every snapshot on the primary and standbys);
        // should any event fail, the whole batch is rolled back and run again with them, so
        // that the failure undoes that event alone.
        var withSavepoints = false
        while true {
            results = [Result<WriteAck, HotlineError>](repeating: .failure(Self.storageFailure), count: batch.count)
            applied = batch.count
            alerts = []
            committing = false
            do {
                try session.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                do {
                    // One writer at a time across daemons, each chaining onto the last row written.
                    try session.execute("SELECT pg_advisory_xact_lock(\(Self.writerLock))")
                    // A write, so that the COMMIT waits for the standbys even when the batch
                    // stores nothing new (only resends): a resend is answered with its original
                    // acknowledgement only once everything before it is on the standbys too (an
                    // earlier COMMIT whose wait was cut short may have left it on the primary alone).
                    try Self.markCommit(session)
                    let known = heads
                    var (head, nextSeq) = try chainEnd(known: known.events, tail: try Self.lastEvent(session), chain: "event log") {
                        seq in
                        try session.row("SELECT hash FROM events WHERE seq = \(seq)").map { try $0["hash"].decode(Data?.self) ?? Data() }
                    }
                    let auditHead = AuditHeadBox { try self.auditEnd(session) }
                    let rows = PostgresEventRows(session: session, keys: keys, auditHead: auditHead)
                    for (i, submission) in batch.enumerated() {
                        if i >= max(1, yieldFrom), shouldYield() {
                            applied = i
                            break
                        }
                        let auditBefore = auditHead.head
                        if withSavepoints { try session.execute("SAVEPOINT event") }
                        let outcome: Result<EventProcessor.Processed, any Error>
                        do {
                            outcome = .success(
                                try processor.process(
                                    submission, rows, policy: policy, alerting: alerting, after: head, seq: nextSeq, now: now)
                            )
                            if withSavepoints { try session.execute("RELEASE SAVEPOINT event") }
                        } catch {
                            // Refused (by the policy or the server): run again with savepoints.
                            // The session lost: the batch fails, as it would have.
                            guard withSavepoints else {
                                throw error is HotlineError || Self.isRefusal(error) ? RetryWithSavepoints() : error
                            }
                            // This event alone is undone, whatever failed (a refusal, a statement the
                            // server refused, a value that could not be sealed or read); the others go
                            // on. Only a failure to undo it fails the batch.
                            try session.execute("ROLLBACK TO SAVEPOINT event")
                            try session.execute("RELEASE SAVEPOINT event")
                            auditHead.head = auditBefore
                            results[i] = .failure(error as? HotlineError ?? Self.storageFailure)
                            if !(error is HotlineError) {
                                logger.error(
                                    "storing an event failed: \(PostgresFailure.describe(error))",
                                    metadata: [
                                        "event_id": "\(submission.event.eventID)", "message_id": "\(MessageID.storageFailure.rawValue)",
                                    ])
                            }
                            continue
                        }
                        switch outcome {
                        case .success(.stored(let ack, _, let raised, let stored, _)):
                            head = stored
                            nextSeq = stored.seq + 1
                            results[i] = .success(ack)
                            alerts += raised
                        case .success(.duplicate(let ack)):
                            results[i] = .success(ack)
                        case .failure:
                            break
                        }
                    }
                    // The other rooms hear of the alerts once, and only once, this commits.
                    try notify(alerts, session)
                    committing = true
                    try session.execute("COMMIT")
                    publish(events: head, audit: auditHead.head)
                } catch let retry as RetryWithSavepoints {
                    // Only from a clean slate: a ROLLBACK that fails fails the batch.
                    try session.execute("ROLLBACK")
                    throw retry
                } catch {
                    if !committing { try? session.execute("ROLLBACK") }
                    throw error
                }
            } catch is RetryWithSavepoints {
                withSavepoints = true
                continue
            } catch {
                // A COMMIT the server refused with an error (not a fatal one) was rolled back:
                // nothing was stored. One cut off (the connection lost, the session terminated
                // while it waited for the standbys) may have committed.
                let unknown = committing && !Self.isRefusal(error)
                // The session is dropped: the next batch connects again, to whichever host is the
                // primary by then.
                writer?.close()
                writer = nil
                let reason = PostgresFailure.describe(error)
                fault.withLock { $0 = "PostgreSQL: \(reason)" }
                logger.error(
                    "committing \(batch.count) events failed (\(reason)); they were answered '\(unknown ? "unavailable" : "storage")'",
                    metadata: ["message_id": "\(MessageID.storageFailure.rawValue)"])
                return BatchOutcome(
                    results: [Result](repeating: .failure(unknown ? Self.outcomeUnknown : Self.storageFailure), count: batch.count),
                    alerts: [])
            }
            break
        }
        fault.withLock { $0 = nil }
        return BatchOutcome(results: Array(results.prefix(applied)), alerts: alerts)
    }

    /// An event of a batch run without savepoints failed: run it again with them.
    private struct RetryWithSavepoints: Error {}

    /// Updates the commit marks' row: the transaction then writes WAL, and its COMMIT waits
    /// for the synchronous standbys to have it and everything before it. (PostgreSQL does
    /// not wait for a transaction that wrote nothing, even one given a transaction id.)
    static func markCommit(_ session: PostgresSession) throws {
        try session.execute("UPDATE hotline_commit_marks SET n = n + 1 WHERE id = 1")
    }

    /// Whether `error` is the server refusing a statement, which it then rolled back, as
    /// opposed to the session ending (a fatal error, a lost connection).
    static func isRefusal(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, let severity = error.serverInfo?[.severity] else { return false }
        return severity == "ERROR"
    }

    /// Where to chain the next row: onto the log's last row (`tail`) when it is the end this
    /// process committed (`known`) or another daemon has written past it. A `tail` short of
    /// `known`, or at it with another hash, means rows were deleted or rewritten under the
    /// daemons: journalled as tampering, and the next row follows the known end, so that
    /// `verify` keeps finding the gap (as on SQLite). `known`'s own row changed under rows
    /// written after it (`hashAt`) is journalled too.
    func chainEnd(
        known: Chain.Head, tail: Chain.Head, chain: String, hashAt: (Int64) throws -> Data?
    ) rethrows -> (head: Chain.Head, nextSeq: Int64) {
        if known.seq == 0 || (tail.seq == known.seq && tail.hash == known.hash) { return (tail, tail.seq + 1) }
        if tail.seq > known.seq {
            // Written on by another daemon: fine, unless the row this one wrote has changed
            // since (then the rows after it follow a rewrite; verify finds where).
            if try hashAt(known.seq) != known.hash {
                logger.critical(
                    "the \(chain) was changed under the daemons: its row \(known.seq) is no longer the one this daemon wrote (\(known))",
                    metadata: ["message_id": "\(MessageID.tamperDetected.rawValue)"])
            }
            return (tail, tail.seq + 1)
        }
        logger.critical(
            "the end of the \(chain) is not what this daemon wrote: expected \(known), found \(tail); the database was changed under it",
            metadata: ["message_id": "\(MessageID.tamperDetected.rawValue)"])
        return (known, known.seq + 1)
    }

    /// Where the audit chain goes on (``chainEnd(known:tail:chain:hashAt:)``), in `session`,
    /// under the writers' lock.
    func auditEnd(_ session: PostgresSession) throws -> Chain.Head {
        try chainEnd(known: heads.audit, tail: try PostgresAudit.last(session), chain: "audit log") { seq in
            try session.row("SELECT hash FROM audit WHERE seq = \(seq)").map { try $0["hash"].decode(Data.self) }
        }.head
    }

    /// Runs `body` on a reader session (the primary's, never the writer's), connecting
    /// one when none is free; a session that failed is dropped, and the next read connects
    /// again (to a promoted standby after a failover).
    func reading<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        if !prepared.load(ordering: .acquiring) {
            // Not before the schema is there and the heads are known (the database was
            // unreachable at start).
            _ = try batch.withLock { try prepareLocked() }
        }
        let session: PostgresSession
        if let free = idleReaders.withLock({ $0.popLast() }), !free.isClosed {
            session = free
        } else {
            do {
                session = try PostgresSession.open(connector, logger: logger).session
            } catch {
                throw Self.unreachable(PostgresFailure.describe(error))
            }
        }
        do {
            let result = try body(session)
            idleReaders.withLock { $0.append(session) }
            // Reached: a fault that said it could not be is over.
            fault.withLock { if $0?.hasPrefix("PostgreSQL unreachable") == true { $0 = nil } }
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
        batch.withLock {
            writer?.close()
            writer = nil
        }
        for session in idleReaders.withLock({ readers in
            defer { readers = [] }; return readers
        }) { session.close() }
    }
}
