import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import GRDB
import HotlineCore
import Logging
import Synchronization

/// The durable call log in SQLite: the event log, each call's projection, and alerts.
///
/// Writes go through ``EventWriter``, which group-commits; reads run on GRDB's pool of
/// reader connections and never wait for the writer (WAL).
public final class CallStore: Sendable {
    let pool: DatabasePool
    let keys: KeyRing
    let logger: Logger
    public let path: String
    /// Set when an erasure's WAL truncation could not finish (readers held it back).
    let scrubPending = Atomic<Bool>(false)
    /// Since when an erasure has waited for its WAL truncation (``scrubPending``).
    let scrubPendingSince = Mutex<ContinuousClock.Instant?>(nil)
    /// The pool's reader connections, which an erasure held up too long interrupts.
    let readers: ReaderConnections
    /// What the journal was told of an erasure held up: 0 nothing, 1 that reads were
    /// interrupted, 2 that something outside still holds it.
    let erasureWarned = Mutex(0)
    /// When a held-up erasure last interrupted the daemon's reads.
    let lastInterrupt = Mutex<ContinuousClock.Instant?>(nil)
    let checkpointer: Checkpointer
    /// When the writer last tried to start the WAL over (``restartWALIfAsked()``).
    let lastWALRestart = Mutex<ContinuousClock.Instant?>(nil)
    /// When a batch last retried a held-up erasure truncation (``retryScrub()``).
    let lastScrubRetry = Mutex<ContinuousClock.Instant?>(nil)
    /// The last committed row of each chain (see ``heads``).
    let chainHeads = Mutex(ChainHeads(events: .empty, audit: .empty))
    /// Syncs, the fault state and the file checks: what makes an acknowledgement true.
    let durability: FileDurability
    var syncFailed: SyncFailure { durability.syncFailed }
    /// Each chain's end as this process wrote it, moved inside the writer's transaction
    /// (GRDB runs one at a time) and put back when one rolls back. New rows are chained to
    /// it, not to whatever the file's last row now is, so rows deleted from or forged onto
    /// the end while the daemon runs stay visible to `verify` instead of being absorbed.
    let writerHeads = Mutex(ChainHeads(events: .empty, audit: .empty))
    private let closed = Atomic<Bool>(false)
    /// The latest `acked_at` committed (`Int64.min` for none; nil until first needed), held
    /// while an acknowledgement commits or a subscriber's backlog is counted (CallStore+Alerts).
    let lastAcknowledgement = Mutex<Int64?>(nil)

    /// Opens (creating if needed) and migrates the database at `path`.
    /// - Parameter walTruncatePages: WAL pages past which the writer starts the WAL over
    ///   between two batches (64 MiB at 4 KiB pages), and the size it keeps the file to.
    public init(path: String, keys: KeyRing, logger: Logger, maxBytes: Int? = nil, walTruncatePages: Int = 16_384) throws {
        var config = GRDB.Configuration()
        config.busyMode = .timeout(10)
        config.maximumReaderCount = 4
        let readers = ReaderConnections()
        self.readers = readers
        config.prepareDatabase { db in
            if db.configuration.readonly { readers.add(db) }
            // An acknowledged event is on disk: fsync on every commit, WAL included.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Deleted content is overwritten with zeros, so erased identities leave no bytes.
            try db.execute(sql: "PRAGMA secure_delete = ON")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            if let maxBytes {
                let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(max(16, maxBytes / pageSize))")
            }
        }
        self.pool = try DatabasePool(path: path, configuration: config)
        let durability = FileDurability(path: path, logger: logger)
        self.durability = durability
        self.checkpointer = try Checkpointer(
            path: path, logger: logger, syncFailure: durability.syncFailed, restartAbove: walTruncatePages)
        self.keys = keys
        self.logger = logger
        self.path = path
        do {
            try prepare(walTruncatePages: walTruncatePages)
        } catch {
            // Nothing of a store that failed to open may live on: its checkpointer's thread
            // and connections would go on holding the file, and SQLite takes a deleted
            // file's locks for those of a new file that reuses its inode number.
            try? close()
            throw error
        }
        // An erasure whose WAL truncation had not finished before a crash is finished now.
        scrubWAL()
    }

    /// The writer's settings, the migrations, and the chain heads the writer starts from.
    private func prepare(walTruncatePages: Int) throws {
        // The writer commits with synchronous=NORMAL: in WAL mode a commit then writes the
        // WAL without fsyncing it (checkpoints still sync). Durability comes from syncLog(),
        // which EventWriter calls on its own thread before answering a batch, so the next
        // batch's work overlaps the previous one's fsync.
        try pool.writeWithoutTransaction { db in
            // Checkpoints are the checkpointer's job, not the committing writer's: an
            // automatic one would stall whichever batch of acknowledgements triggered it.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            // A WAL started over is written from its beginning again; the file keeps its size
            // (no blocks to free while writers wait) unless it had grown past the bound.
            let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            let limit = walTruncatePages > Int.max / pageSize ? -1 : walTruncatePages * pageSize
            _ = try Int.fetchOne(db, sql: "PRAGMA journal_size_limit = \(limit)")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            guard try Int.fetchOne(db, sql: "PRAGMA synchronous") == 1 else {
                throw KeyRing.Failure(description: "SQLite refused synchronous=NORMAL on the writer")
            }
        }
        let sealed = Mutex(SealedCoordinates.Outcome())
        let keyed = Mutex(KeyedChain.Outcome())
        try Schema.migrator(
            keys: keys, sealed: { outcome in sealed.withLock { $0 = outcome } },
            keyed: { outcome in keyed.withLock { $0 = outcome } }
        ).migrate(pool)
        let resealed = sealed.withLock { $0 }
        if let bad = resealed.firstBadSeq {
            logger.critical(
                "before sealing coordinates, the event log did not hold from event \(bad) on: it had been changed before this upgrade; the audit entry chain.reseal records it (intact_before false)",
                metadata: ["message_id": "\(MessageID.tamperDetected.rawValue)"])
        }
        if resealed.events > 0 {
            logger.notice(
                "sealed the coordinates of \(resealed.events) events an older version had written in the clear, and chained the event log again from there: head before \(resealed.headBefore), head after \(resealed.headAfter); anchors taken before this upgrade end at the head before (audit op chain.reseal)",
                metadata: [
                    "message_id": "\(MessageID.coordinatesSealed.rawValue)", "head_before": "\(resealed.headBefore)",
                    "head_after": "\(resealed.headAfter)",
                ])
        }
        let linked = keyed.withLock { $0 }
        if linked.events + linked.auditEntries > 0 {
            logger.notice(
                "laid the keyed chain over \(linked.events) events and \(linked.auditEntries) audit entries an older version had written: it vouches that they do not change from here on (heads events \(linked.eventHead), audit \(linked.auditHead); audit op chain.keyed)",
                metadata: [
                    "message_id": "\(MessageID.chainKeyed.rawValue)", "events_head": "\(linked.eventHead)",
                    "audit_head": "\(linked.auditHead)",
                ])
        }
        durability.openWAL()
        let heads = try pool.read { db in ChainHeads(events: try Self.lastEvent(db), audit: try Self.lastAudit(db)) }
        chainHeads.withLock { $0 = heads }
        writerHeads.withLock { $0 = heads }
    }

    // MARK: - Durability (FileDurability)

    /// Makes every commit so far durable: fdatasync of the WAL (of the database itself when
    /// there is no WAL). Nothing may be acknowledged before this returns
    /// (``FileDurability/syncLog()``).
    public func syncLog() throws { try durability.syncLog() }

    /// Why writes stopped for the life of this process (a failed fdatasync), if they did.
    public var syncFailure: String? { durability.syncFailure }

    /// What is wrong with storage now, if anything.
    public var storageFault: String? { durability.storageFault }

    public func noteStorageFault(_ reason: String) { durability.noteStorageFault(reason) }

    /// False when the file system holding the database is read-only.
    public var directoryWritable: Bool { durability.directoryWritable }

    public typealias StorageFault = FileDurability.StorageFault

    /// Throws when nothing may be written: after a failed fdatasync, or when the database
    /// file is not the one this store opened.
    func checkWritable() throws { try durability.checkWritable() }

    /// The writer connection's `PRAGMA synchronous` (1 = NORMAL: ``syncLog()`` does the fsync).
    public func writerSynchronous() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Closes every connection; the WAL is checkpointed and removed by SQLite.
    public func close() throws {
        // Once: a second close would wait for the checkpointer to stop again, for ever, and
        // close descriptors that may by then be someone else's.
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        checkpointer.stop()
        scrubWAL()
        readers.forget()
        try pool.close()
        checkpointer.closeDatabaseDescriptor()
        durability.closeWAL()
    }

    // MARK: - Reading

    /// The notes one `call.get` answers unless told otherwise (`limits.max_notes_per_answer`).
    public static let defaultNotesPerPage = 1000

    /// The notes of a call, by their event's `seq`: only events that carry a note (`has_note`
    /// is in the clear part of the event), after the cursor, oldest first. It is a range of
    /// `events_by_call` (`call_id = ? AND seq > ?`), so a page costs its own rows, however
    /// many notes the call has.
    static let notesPageSQL = """
        SELECT seq, body, secret, peer_uid, recorded_at FROM events
        WHERE call_id = ? AND seq > ? AND op = 'call.update' AND secret IS NOT NULL
          AND json_extract(body, '$.has_note') = 1
        ORDER BY seq LIMIT ?
        """

    /// The call `id` with at most `maxNotes` of its notes (and about `maxNoteBytes` of their
    /// text), those after `notesAfter` (the
    /// `notesNext` of an earlier page), oldest first. Only the page's notes are read and
    /// decrypted. Nil when there is no such call.
    public func call(
        id: String, notesAfter: Int64? = nil, maxNotes: Int = defaultNotesPerPage,
        maxNoteBytes: Int = Configuration.Limits().maxPageBytes
    ) throws -> CallDetail? {
        let maxNotes = max(1, maxNotes)  // a page that could hold no note would never end
        return try pool.read { db in
            guard
                let state = try Self.decodeRows(
                    db, sql: "SELECT * FROM calls WHERE call_id = ?", arguments: [id], { try self.callState($0) }
                ).first
            else {
                return nil
            }
            // One row more than the page: whether it exists says whether another page follows.
            let rows = try Row.fetchAll(
                db, sql: Self.notesPageSQL, arguments: [id, notesAfter ?? 0, Int64(maxNotes) + 1]
            ).map {
                NoteRow(seq: $0["seq"], body: $0["body"], secret: $0["secret"], peerUID: $0["peer_uid"], recordedAt: $0["recorded_at"])
            }
            let (notes, next) = try NoteRow.page(
                rows, of: state, keys: self.keys, maxNotes: maxNotes, maxNoteBytes: maxNoteBytes)
            let alerts = try Row.fetchAll(db, sql: "SELECT * FROM alerts WHERE call_id = ? ORDER BY seq", arguments: [id])
                .map(Self.alert)
            let recordedAt = try Int64.fetchOne(
                db, sql: "SELECT recorded_at FROM events WHERE seq = ?", arguments: [state.firstSeq]
            ).map(Timestamp.init(microseconds:))
            let hold = try Row.fetchOne(db, sql: "SELECT * FROM holds WHERE call_id = ?", arguments: [id]).map {
                self.hold($0, route: state.route, receivedAt: state.receivedAt)
            }
            return CallDetail(
                state: state, notes: notes, alerts: alerts, notesNext: next, recordedAt: recordedAt,
                history: notesAfter == nil ? try self.history(of: id, db) : [], hold: hold)
        }
    }

    /// The statement `listCalls` runs (one row more than the page, to tell whether another
    /// follows). Limited to an owner it is served by `calls_by_owner`, otherwise by
    /// `calls_by_received`.
    static func listCallsStatement(_ query: CallsQuery, ownerUID: UInt32?) -> (sql: String, arguments: StatementArguments) {
        var sql = "SELECT * FROM calls WHERE received_at >= ? AND received_at < ?"
        var arguments: StatementArguments = [query.from.microseconds, query.to.microseconds]
        if let route = query.route {
            sql += " AND route = ?"
            _ = arguments.append(contentsOf: [route])
        }
        if let channel = query.channel {
            sql += " AND channel = ?"
            _ = arguments.append(contentsOf: [channel.rawValue])
        }
        if let ownerUID {
            sql += " AND owner_uid = ?"
            _ = arguments.append(contentsOf: [Int64(ownerUID)])
        }
        if let after = query.afterSeq {
            sql += " AND first_seq > ?"
            _ = arguments.append(contentsOf: [after])
        }
        sql += " ORDER BY first_seq LIMIT ?"
        _ = arguments.append(contentsOf: [query.limit + 1])
        return (sql, arguments)
    }

    public func listCalls(_ query: CallsQuery, ownerUID: UInt32? = nil) throws -> CallPage {
        try pool.read { db in
            let (sql, arguments) = Self.listCallsStatement(query, ownerUID: ownerUID)
            var calls = try Self.decodeRows(db, sql: sql, arguments: arguments) { try self.callState($0, withSecrets: false) }
            let more = calls.count > query.limit
            if more { calls.removeLast() }
            return CallPage(calls: calls, nextAfterSeq: more ? calls.last?.firstSeq : nil)
        }
    }

    public func counts() throws -> LogCounts {
        try pool.read { db in
            LogCounts(
                events: try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM events") ?? 0,
                calls: try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM calls") ?? 0,
                callsOpen: try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM calls WHERE ended_at IS NULL") ?? 0,
                alertsUnacked: try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM alerts WHERE acked_at IS NULL") ?? 0
            )
        }
    }

    // MARK: - Row mapping

    /// Each row of `sql` decoded by `body` as the cursor reaches it. A row read by column name
    /// is found in O(1) on a cursor (its statement's index of names), but by a scan that
    /// lowercases every name before it on a copied row (`fetchAll`, `fetchOne`): with the
    /// four columns issue 18 added last to `calls`, that scan cost the export a third more
    /// of the daemon's CPU (docs/PERFORMANCE.md).
    static func decodeRows<T>(
        _ db: Database, sql: String, arguments: StatementArguments = [], _ body: (Row) throws -> T
    ) throws -> [T] {
        try decodeRows(db.cachedStatement(sql: sql), arguments: arguments, body)
    }

    static func decodeRows<T>(_ statement: Statement, arguments: StatementArguments = [], _ body: (Row) throws -> T) throws -> [T] {
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        var decoded: [T] = []
        while let row = try rows.next() { decoded.append(try body(row)) }
        return decoded
    }

    static func alert(_ row: Row) throws -> Alert {
        Alert(
            id: row["alert_id"], callID: row["call_id"], seq: row["seq"],
            route: row["route"], grade: Grade(rawValue: row["grade"]) ?? .emergency,
            reason: AlertReason(rawValue: row["reason"]) ?? .emergencyLine, level: row["level"],
            raisedAt: Timestamp(microseconds: row["raised_at"]),
            ackedAt: (row["acked_at"] as Int64?).map(Timestamp.init(microseconds:)),
            ackedBy: (row["acked_by"] as Int64?).map { UInt32(truncatingIfNeeded: $0) },
            channel: CallChannel(rawValue: row["channel"] ?? "voice") ?? .voice
        )
    }

    func callState(_ row: Row, withSecrets: Bool = true) throws -> CallState {
        try callState(row, withLocation: withSecrets, withIdentity: withSecrets)
    }

    /// The call a row holds, with its location and identity opened as asked; only the
    /// sealed columns asked for are copied out of the row (a list's calls need neither).
    func callState(_ row: Row, withLocation: Bool, withIdentity: Bool) throws -> CallState {
        let stored = CallRow(
            state: CallRow.state(of: row), sealedLocation: withLocation ? row[CallRow.Columns.location] : nil,
            sealedIdentity: withIdentity ? row[CallRow.Columns.identity] : nil)
        return try EventProcessor(keys: keys).opened(stored, withLocation: withLocation, withIdentity: withIdentity)
    }
}
