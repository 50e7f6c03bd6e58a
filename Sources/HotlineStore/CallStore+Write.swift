import Foundation
import GRDB
import HotlineCore
import Logging
import Synchronization

/// One write waiting for the writer, with the callback that answers it.
public struct WriteSubmission: Sendable {
    public var event: WriteEvent
    public var peer: Peer
    public var completion: @Sendable (Result<WriteAck, HotlineError>) -> Void

    public init(
        event: WriteEvent, peer: Peer, completion: @escaping @Sendable (Result<WriteAck, HotlineError>) -> Void
    ) {
        self.event = event
        self.peer = peer
        self.completion = completion
    }
}

extension CallStore {
    public static let storageFailure = HotlineError(
        .storage, "The event could not be made durable; nothing of it was stored. Send it again later."
    )

    /// Applies `batch` in one transaction: every event that can be stored is, each in its own
    /// savepoint so one bad event never takes the others with it, and the transaction is
    /// committed (and fsynced) before any answer is given.
    ///
    /// From the write at index `yieldFrom` on (never before the first), `shouldYield` is
    /// asked before each write; when it says yes the batch ends there and is committed, and
    /// the outcome answers only the writes applied (the caller keeps the rest for later).
    public func commit(
        _ batch: [WriteSubmission], policy: CallPolicy, alerting: AlertSettings = AlertSettings(), now: Timestamp,
        yieldFrom: Int = .max, shouldYield: () -> Bool = { false }
    ) -> BatchOutcome {
        var results = [Result<WriteAck, HotlineError>](repeating: .failure(Self.storageFailure), count: batch.count)
        var applied = batch.count
        var alerts: [Alert] = []
        var needsCheckpoint = false
        var head = Chain.Head.empty
        var auditHead: Chain.Head? = nil
        let processor = EventProcessor(keys: keys)
        do {
            // Writing to a database file that was removed or replaced would write to a file
            // nobody will open again: everything "acknowledged" would be lost at restart.
            try checkWritable()
            try pool.writeWithoutTransaction { db in
                try self.restoringHeads(db) {
                    try db.inTransaction(.immediate) {
                        let end = try self.chainEnd(
                            known: self.writerHeads.withLock { $0.events }, tail: Self.lastEvent(db), chain: "event log")
                        head = end.head
                        var nextSeq = end.nextSeq
                        for (i, submission) in batch.enumerated() {
                            if i >= max(1, yieldFrom), shouldYield() {
                                applied = i
                                break
                            }
                            let auditBefore = self.writerHeads.withLock { $0.audit }
                            try db.inSavepoint {
                                do {
                                    switch try processor.process(
                                        submission, SQLiteEventRows(store: self, db: db), policy: policy, alerting: alerting,
                                        after: head, seq: nextSeq, now: now)
                                    {
                                    case .stored(let ack, let erased, let raised, let stored, let audited):
                                        head = stored
                                        nextSeq += 1
                                        auditHead = audited ?? auditHead
                                        results[i] = .success(ack)
                                        needsCheckpoint = needsCheckpoint || erased
                                        alerts += raised
                                    case .duplicate(let ack):
                                        results[i] = .success(ack)
                                    }
                                    return .commit
                                } catch let error as HotlineError {
                                    results[i] = .failure(error)
                                    self.writerHeads.withLock { $0.audit = auditBefore }
                                    return .rollback
                                } catch {
                                    self.writerHeads.withLock { $0.audit = auditBefore }
                                    self.logger.error(
                                        "storing an event failed",
                                        metadata: [
                                            "error": "\(error)", "event_id": "\(submission.event.eventID)",
                                            "message_id": "\(MessageID.storageFailure.rawValue)",
                                        ])
                                    results[i] = .failure(Self.storageFailure)
                                    return .rollback
                                }
                            }
                        }
                        self.writerHeads.withLock { $0.events = head }
                        return .commit
                    }
                }
            }
        } catch {
            // A commit syncs too, now and then (the WAL's header when it starts over).
            syncFailed.record(ifFsyncError: error, during: "a commit")
            noteStorageFault(durability.explain("\(error)"))
            logger.error(
                "committing \(batch.count) events failed; they were answered 'storage'",
                metadata: ["error": "\(error)", "message_id": "\(MessageID.storageFailure.rawValue)"])
            return BatchOutcome(
                results: [Result](repeating: .failure(Self.storageFailure), count: batch.count), alerts: [])
        }
        durability.clearStorageFault()
        publish(events: head, audit: auditHead)
        if needsCheckpoint { scrubWAL() } else if isScrubPending { retryScrub() } else { restartWALIfAsked() }
        return BatchOutcome(results: Array(results.prefix(applied)), alerts: alerts)
    }

    /// Copies the WAL into the database and truncates it, so that pages holding erased
    /// identities (the WAL keeps old page images) are gone from disk, not just unreferenced.
    /// When readers keep it from finishing, it is tried again at the next commit or idle tick
    /// (``retryScrub()``, at most every 100 ms), and once it has waited ``erasureGrace`` the
    /// daemon's own reads are interrupted (``holdUpExpired()``).
    public func scrubWAL() {
        if truncateWAL(tries: 50) { return }
        if !scrubPending.exchange(true, ordering: .relaxed) {
            scrubPendingSince.withLock { $0 = .now }
            logger.warning("the WAL could not be truncated after erasing an identity yet; retrying")
        }
        holdUpExpired()
    }

    /// How long an erasure waits for reads that hold the WAL before it interrupts them: a
    /// read holding a snapshot from before the erasure keeps the identity's ciphertext on
    /// disk for as long as it runs (a `verify` of a large log, minutes). Erasure is the law's;
    /// the read is answered `storage` and can be asked again.
    public static let erasureGrace: Duration = .seconds(1)

    /// Interrupts the daemon's reads if an erasure has waited ``erasureGrace`` for them, and
    /// again every ``erasureReinterrupt`` while it still waits: once interrupted, the daemon's
    /// own reads let go at once, and reads begun after the WAL was copied read the database
    /// file alone; what still holds it is outside the daemon (an administrator's sqlite3, a
    /// backup), which no interrupt reaches, and interrupting every read of the daemon's
    /// again and again would only fail them. The journal says so at ten times the grace.
    private func holdUpExpired() {
        guard let since = scrubPendingSince.withLock({ $0 }), ContinuousClock.now - since >= Self.erasureGrace,
            Self.isDue(lastInterrupt, every: Self.erasureReinterrupt)
        else { return }
        let interrupted = readers.interruptAll()
        // At once, while the interrupted reads let go.
        if truncateWAL(tries: 25) { return }
        let waited = ContinuousClock.now - since
        let (first, outside) = erasureWarned.withLock { warned -> (Bool, Bool) in
            let first = warned == 0
            let outside = warned < 2 && waited >= Self.erasureGrace * 10
            warned = outside ? 2 : max(warned, 1)
            return (first, outside)
        }
        if first {
            logger.warning(
                "interrupted the reads of \(interrupted) reader connections: they held the WAL, and an erased identity's ciphertext in it, for \(Self.erasureGrace)"
            )
        }
        if outside {
            logger.error(
                "an erased identity's ciphertext has stayed in the WAL for \(waited): something outside hotlined holds the database open for reading (sqlite3, a backup?); it goes once that lets go",
                metadata: ["message_id": "\(MessageID.storageFailure.rawValue)"])
        }
    }

    /// How often a held-up erasure interrupts the daemon's reads again (``holdUpExpired()``).
    static let erasureReinterrupt: Duration = .seconds(5)

    /// Up to `tries` tries at an erasure's WAL truncation, 2 ms apart; true once no more is
    /// to be done (truncated, or no try may be made), false while a reader holds it.
    private func truncateWAL(tries: Int) -> Bool {
        for attempt in 1...tries {
            if truncateWALOnce() != false { return true }
            if attempt < tries { usleep(2_000) }
        }
        return false
    }

    /// One try at an erasure's WAL truncation: true when the WAL is empty after it (the
    /// erasure is finished), false when a reader held it up, nil when no try may be made (a
    /// failed fsync, now or before: see the checkpointer).
    private func truncateWALOnce() -> Bool? {
        if syncFailure != nil { return nil }
        // Without waiting on readers: a truncating checkpoint that waited (the busy
        // timeout) would hold the writer, and every 999 acknowledgement, behind a long
        // read such as `verify`. Busy now means try again shortly, or later.
        do {
            let result = try checkpointWithoutWaiting(.truncate)
            guard result.walFrameCount == 0 || result.walFrameCount == result.checkpointedFrameCount else { return false }
            scrubPending.store(false, ordering: .relaxed)
            scrubPendingSince.withLock { $0 = nil }
            erasureWarned.withLock { $0 = 0 }
            lastInterrupt.withLock { $0 = nil }
            return true
        } catch {
            if let reason = syncFailed.record(ifFsyncError: error, during: "a WAL truncation") {
                noteStorageFault(durability.explain(reason))
                return nil
            }
            return false
        }
    }

    /// A checkpoint on the writer's connection that waits for nobody (busy means: try again
    /// later). Writer thread only.
    private func checkpointWithoutWaiting(
        _ mode: Database.CheckpointMode
    ) throws -> (walFrameCount: Int, checkpointedFrameCount: Int) {
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA busy_timeout = 0")
            defer { try? db.execute(sql: "PRAGMA busy_timeout = 10000") }
            return try db.checkpoint(mode)
        }
    }

    /// Finishes the checkpoint and starts the WAL over, when the checkpointer has found it
    /// past its bound (``Checkpointer``). Writer thread only, between two batches: the copy
    /// is of what the checkpointer has not copied yet (its last 20 ms of commits, while the
    /// WAL grows fast), and no reader is waited on: if one still reads from the WAL, a batch
    /// 100 ms later tries again.
    func restartWALIfAsked() {
        guard checkpointer.restartWanted.load(ordering: .relaxed), syncFailure == nil,
            Self.isDue(lastWALRestart, every: .milliseconds(100))
        else { return }
        do {
            let result = try checkpointWithoutWaiting(.restart)
            if result.walFrameCount == result.checkpointedFrameCount {
                checkpointer.restartWanted.store(false, ordering: .relaxed)
            }
        } catch {
            if let reason = syncFailed.record(ifFsyncError: error, during: "a WAL restart") {
                noteStorageFault(durability.explain(reason))
            }
        }
    }

    /// One more try at an erasure's WAL truncation that a reader held up, after a batch:
    /// under writes that never pause, waiting for the writer to fall idle (the idle tick)
    /// could wait for ever. At most every 100 ms, and without waiting on readers.
    func retryScrub() {
        guard syncFailure == nil, Self.isDue(lastScrubRetry, every: .milliseconds(100)) else { return }
        if truncateWALOnce() == false { holdUpExpired() }
    }

    /// Whether `interval` has passed since `last` (or it never happened); if so, `last` is
    /// now: one attempt per interval, however many batches come.
    static func isDue(_ last: borrowing Mutex<ContinuousClock.Instant?>, every interval: Duration) -> Bool {
        let now = ContinuousClock.now
        return last.withLock { last in
            guard last.map({ now - $0 >= interval }) ?? true else { return false }
            last = now
            return true
        }
    }

    /// True while an erasure still waits for its WAL truncation.
    public var isScrubPending: Bool { scrubPending.load(ordering: .relaxed) }
}

/// The rows of one event in SQLite, on the writer's connection inside the batch's
/// transaction (``EventProcessor`` decides what they hold). Cached statements: the writer
/// runs these for every event.
struct SQLiteEventRows: EventRows {
    let store: CallStore
    let db: Database

    func storedEvent(eventID: String) throws -> StoredEvent? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT seq, call_id, body, secret, ack FROM events WHERE event_id = ?"),
            arguments: [eventID]
        ).map { StoredEvent(seq: $0["seq"], callID: $0["call_id"], body: $0["body"], secret: $0["secret"], ack: $0["ack"]) }
    }

    func storedIdentity(seq: Int64) throws -> Data? {
        try Data.fetchOne(db.cachedStatement(sql: "SELECT secret FROM event_identity WHERE seq = ?"), arguments: [seq])
    }

    func callRow(callID: String) throws -> CallRow? {
        try CallStore.decodeRows(db.cachedStatement(sql: "SELECT * FROM calls WHERE call_id = ?"), arguments: [callID]) {
            try CallRow(row: $0)
        }.first
    }

    func wasPurged(callID: String) throws -> Bool { try store.wasPurged(callID, db) }

    func insertEvent(_ content: Chain.EventContent, digest: Data, hash: Data, mac: Data) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO events (
                    seq, event_id, call_id, op, body, secret, ack, recorded_at, peer_uid, peer_pid,
                    identity_commitment, digest, hash, mac)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            content.seq, content.eventID, content.callID, content.op, content.body, content.secret, content.ack,
            content.recordedAt, content.peerUID, content.peerPID, content.identityCommitment, digest, hash, mac,
        ])
    }

    func eraseIdentities(callID: String) throws {
        try db.cachedStatement(sql: "DELETE FROM event_identity WHERE call_id = ?").execute(arguments: [callID])
    }

    func insertIdentity(seq: Int64, callID: String, sealed: Data) throws {
        try db.cachedStatement(sql: "INSERT INTO event_identity (seq, call_id, secret) VALUES (?, ?, ?)")
            .execute(arguments: [seq, callID, sealed])
    }

    func insertAlert(_ alert: Alert, sinks: [AlertSink], now: Timestamp) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO alerts (alert_id, call_id, seq, route, grade, reason, level, raised_at, channel)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            alert.id, alert.callID, alert.seq, alert.route, alert.grade.rawValue, alert.reason.rawValue, alert.level,
            alert.raisedAt.microseconds, alert.channel.rawValue,
        ])
        try store.enqueueDeliveries(of: alert, sinks: sinks, now: now, db)
    }

    func saveProjection(_ row: CallRow, isNew: Bool) throws {
        if isNew { try row.insertRow(db) } else { try row.updateChanging(db) }
    }

    func appendAudit(_ entry: AuditEntry) throws -> Chain.Head { try store.appendAudit(entry, db) }
}
