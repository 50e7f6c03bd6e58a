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
    let chainHeads = Mutex(Heads(events: .empty, audit: .empty))
    /// What is wrong with storage right now (the last failed commit's reason), cleared by
    /// the next commit that succeeds: `stats` and `STATUS=` show it.
    let storageFaultState = Mutex<String?>(nil)
    let syncFailed = SyncFailure()
    /// The WAL, open since the store was: fdatasync on a descriptor opened before any
    /// write sees every write-back error since, even one another descriptor was told of.
    /// -1 while there is no WAL (the database file is synced instead).
    let walDescriptor = Mutex<CInt>(-1)
    /// The database file's device and inode when it was opened.
    private let fileIdentity: (dev: UInt64, ino: UInt64)?
    /// Each chain's end as this process wrote it, moved inside the writer's transaction
    /// (GRDB runs one at a time) and put back when one rolls back. New rows are chained to
    /// it, not to whatever the file's last row now is, so rows deleted from or forged onto
    /// the end while the daemon runs stay visible to `verify` instead of being absorbed.
    let writerHeads = Mutex(Heads(events: .empty, audit: .empty))
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
        self.fileIdentity = Self.identity(of: path)
        self.checkpointer = try Checkpointer(
            path: path, logger: logger, syncFailure: syncFailed, restartAbove: walTruncatePages)
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
        walDescriptor.withLock { $0 = open(path + "-wal", O_RDONLY | O_CLOEXEC) }
        let heads = try pool.read { db in Heads(events: try Self.lastEvent(db), audit: try Self.lastAudit(db)) }
        chainHeads.withLock { $0 = heads }
        writerHeads.withLock { $0 = heads }
    }

    /// Makes every commit so far durable: fdatasync of the WAL (of the database itself when
    /// there is no WAL). Nothing may be acknowledged before this returns.
    ///
    /// A failed fdatasync is not retried: Linux reports a write-back error once and may mark
    /// the pages it could not write clean, so a later fdatasync can succeed while WAL frames
    /// are missing from the disk, and SQLite's recovery would then drop every frame after
    /// them, acknowledged ones included. So the store stops writing for good (``syncFailure``)
    /// and the daemon restarts, letting SQLite recover the log from what is on disk; the
    /// events not acknowledged are resent by their workstations (docs/RELIABILITY.md).
    public func syncLog() throws {
        // One at a time, and the failure recorded before the lock is let go: no other
        // caller may sync successfully in between and acknowledge.
        try walDescriptor.withLock { wal throws(StorageFault) in
            if let failure = syncFailure { throw StorageFault(description: failure) }
            if wal < 0 { wal = open(path + "-wal", O_RDONLY | O_CLOEXEC) }
            var file = path + "-wal", fd = wal
            if fd < 0 {
                file = path
                fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else {
                    throw StorageFault(description: "cannot open \(file) to sync it: \(String(cString: strerror(errno)))")
                }
            }
            defer { if fd != wal { Glibc.close(fd) } }
            guard fdatasync(fd) == 0 else {
                let reason = syncFailed.record("fdatasync of \(file) failed (\(String(cString: strerror(errno))))")
                noteStorageFault(explain(reason))
                throw StorageFault(description: reason)
            }
        }
    }

    /// Why writes stopped for the life of this process (a failed fdatasync), if they did.
    public var syncFailure: String? { syncFailed.reason }

    /// Throws when nothing may be written: after a failed fdatasync, or when the database
    /// file is not the one this store opened.
    func checkWritable() throws {
        if let failure = syncFailure { throw StorageFault(description: failure) }
        try checkDatabaseFile()
    }

    /// Device and inode of `path`, or nil when it cannot be seen.
    static func identity(of path: String) -> (dev: UInt64, ino: UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    public struct StorageFault: Error, CustomStringConvertible {
        public var description: String
    }

    /// Throws when the database file is no longer the one this store opened (removed,
    /// renamed or replaced underneath it): writes stop until the same file is back.
    func checkDatabaseFile() throws {
        guard let opened = fileIdentity else { return }
        guard let now = Self.identity(of: path) else {
            throw StorageFault(description: "the database file \(path) was removed while open; writes stop until it is back")
        }
        guard now == opened else {
            throw StorageFault(description: "the database file \(path) was replaced while open; writes stop until the original is back")
        }
    }

    /// What is wrong with storage now, if anything.
    /// A failed fsync is explained when asked: whoever met it (a checkpoint, say) may not
    /// have known why.
    public var storageFault: String? { syncFailure.map(explain) ?? storageFaultState.withLock { $0 } }

    /// `reason`, with what the file system holding the database says of itself when that
    /// explains it better than SQLite's "disk I/O error": read-only, or no space left.
    func explain(_ reason: String) -> String {
        if !directoryWritable { return "the file system holding \(directory) is read-only (\(reason))" }
        var fs = statvfs()
        if statvfs(directory, &fs) == 0, fs.f_bavail == 0 {
            return "the file system holding \(directory) is full (\(reason))"
        }
        return reason
    }

    /// The directory holding the database.
    public var directory: String {
        let directory = (path as NSString).deletingLastPathComponent
        return directory.isEmpty ? "." : directory
    }

    /// False when a file cannot be created in ``directory`` because its file system is
    /// read-only. (An ext4 that remounted itself read-only after an error still shows `rw`
    /// to statvfs and access; only writing tells.)
    public var directoryWritable: Bool {
        let probe = directory + "/.hotlined-write-probe"
        let fd = open(probe, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        // EIO too: an ext4 shut down after an error answers that, and is no more writable.
        guard fd >= 0 else { return errno != EROFS && errno != EIO }
        Glibc.close(fd)
        unlink(probe)
        return true
    }

    func noteStorageFault(_ reason: String) {
        let first = storageFaultState.withLock { state -> Bool in
            defer { state = reason }
            return state == nil
        }
        if first {
            logger.critical(
                "storage fault: \(reason); writes are answered 'storage' until it clears",
                metadata: ["message_id": "\(MessageID.storageFailure.rawValue)"])
        }
    }

    func clearStorageFault() {
        let was = storageFaultState.withLock { state -> String? in
            defer { state = nil }
            return state
        }
        if let was { logger.notice("storage fault cleared; writes succeed again (it was: \(was))") }
    }

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
        walDescriptor.withLock { wal in
            if wal >= 0 { Glibc.close(wal) }
            wal = -1
        }
    }

    // MARK: - Reading

    /// A call with everything `call.get` answers: its state, its alerts and one page of its
    /// notes.
    public struct CallDetail: Sendable {
        public var state: CallState
        /// The notes of this page, oldest first.
        public var notes: [Note]
        public var alerts: [Alert]
        /// Where the next page of notes starts (pass it back as `notesAfter`); nil when no
        /// note follows this page's.
        public var notesNext: Int64?
        /// When the daemon received the call's `call.start` (its `received_at` is the
        /// workstation's word).
        public var recordedAt: Timestamp?
    }

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
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM calls WHERE call_id = ?", arguments: [id]) else {
                return nil
            }
            let state = try self.callState(row)
            // One row more than the page: whether it exists says whether another page follows.
            let rows = try Row.fetchAll(
                db, sql: Self.notesPageSQL, arguments: [id, notesAfter ?? 0, Int64(maxNotes) + 1])
            var notes: [Note] = []
            notes.reserveCapacity(min(rows.count, maxNotes))
            var bytes = 0
            var next: Int64? = nil
            for (i, r) in rows.enumerated() {
                // The page ends at `maxNotes` notes, or once its notes' text reaches
                // `maxNoteBytes` (a page always carries at least one note).
                if i == maxNotes || (i > 0 && bytes >= maxNoteBytes) {
                    next = rows[i - 1]["seq"]
                    break
                }
                let secret = try self.keys.openJSON(r["secret"], context: "\(id)/event/\(r["seq"] as Int64)")
                guard let text = secret["note"]?.stringValue else { continue }
                let body = try JSONParser.parse(Array((r["body"] as String).utf8))
                let at = (try? Timestamp(rfc3339: body["at"]?.stringValue ?? "")) ?? state.receivedAt
                let by = Note.author(
                    handler: body["handler"]?.stringValue, workstation: body["workstation"]?.stringValue,
                    uid: UInt32(truncatingIfNeeded: r["peer_uid"] as Int64))
                notes.append(
                    Note(
                        at: at, by: by, text: text, uid: UInt32(truncatingIfNeeded: r["peer_uid"] as Int64),
                        recordedAt: Timestamp(microseconds: r["recorded_at"])))
                bytes += text.utf8.count
            }
            let alerts = try Row.fetchAll(db, sql: "SELECT * FROM alerts WHERE call_id = ? ORDER BY seq", arguments: [id])
                .map(Self.alert)
            let recordedAt = try Int64.fetchOne(
                db, sql: "SELECT recorded_at FROM events WHERE seq = ?", arguments: [state.firstSeq]
            ).map(Timestamp.init(microseconds:))
            return CallDetail(state: state, notes: notes, alerts: alerts, notesNext: next, recordedAt: recordedAt)
        }
    }

    /// A page of `calls.list`: calls received in `[from, to)`, in the order they started.
    public struct CallPage: Sendable {
        public var calls: [CallState]
        /// Where the next page starts, when there may be one.
        public var nextAfterSeq: Int64?
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
            var rows = try Row.fetchAll(db, sql: sql, arguments: arguments)
            let more = rows.count > query.limit
            if more { rows.removeLast() }
            let calls = try rows.map { try self.callState($0, withSecrets: false) }
            return CallPage(calls: calls, nextAfterSeq: more ? calls.last?.firstSeq : nil)
        }
    }

    public struct Counts: Sendable {
        public var events: Int64
        public var calls: Int64
        public var callsOpen: Int64
        public var alertsUnacked: Int64
    }

    public func counts() throws -> Counts {
        try pool.read { db in
            Counts(
                events: try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM events") ?? 0,
                calls: try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM calls") ?? 0,
                callsOpen: try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM calls WHERE ended_at IS NULL") ?? 0,
                alertsUnacked: try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM alerts WHERE acked_at IS NULL") ?? 0
            )
        }
    }

    // MARK: - Row mapping

    static func alert(_ row: Row) throws -> Alert {
        Alert(
            id: row["alert_id"], callID: row["call_id"], seq: row["seq"],
            route: row["route"], grade: Grade(rawValue: row["grade"]) ?? .emergency,
            reason: AlertReason(rawValue: row["reason"]) ?? .emergencyLine, level: row["level"],
            raisedAt: Timestamp(microseconds: row["raised_at"]),
            ackedAt: (row["acked_at"] as Int64?).map(Timestamp.init(microseconds:)),
            ackedBy: (row["acked_by"] as Int64?).map { UInt32(truncatingIfNeeded: $0) }
        )
    }

    func callState(_ row: Row, withSecrets: Bool = true) throws -> CallState {
        try callState(row, withLocation: withSecrets, withIdentity: withSecrets)
    }

    func callState(_ row: Row, withLocation: Bool, withIdentity: Bool) throws -> CallState {
        let id: String = row["call_id"]
        var state = CallState(
            id: id, dialled: row["dialled"], route: row["route"],
            routeAnonymity: Anonymity(rawValue: row["route_anonymity"]) ?? .allowed,
            routeGrade: Grade(rawValue: row["route_grade"]) ?? .scheduled,
            grade: Grade(rawValue: row["grade"]) ?? .scheduled,
            marking: Marking(rawValue: row["marking"]) ?? .secret,
            anonymous: row["anonymous"], anonymousRequested: row["anonymous_requested"], escalated: row["escalated"],
            threatAlertRaised: row["threat_alert_raised"], category: row["category"],
            flags: [:], outcome: row["outcome"],
            receivedAt: Timestamp(microseconds: row["received_at"]),
            answeredAt: (row["answered_at"] as Int64?).map(Timestamp.init(microseconds:)),
            endedAt: (row["ended_at"] as Int64?).map(Timestamp.init(microseconds:)),
            workstation: row["workstation"], handler: row["handler"],
            ownerUID: UInt32(truncatingIfNeeded: row["owner_uid"] as Int64),
            firstSeq: row["first_seq"], lastSeq: row["last_seq"]
        )
        if let flags = try? JSONParser.parse(Array((row["flags"] as String).utf8)).objectValue {
            state.flags = flags.compactMapValues(\.boolValue)
        }
        if withLocation, let sealed: Data = row["location"] {
            state.location = Location(json: try keys.openJSON(sealed, context: "\(id)/location"))
        }
        if withIdentity, let sealed: Data = row["identity"] {
            state.identity = CallerIdentity(json: try keys.openJSON(sealed, context: "\(id)/identity"))
        }
        return state
    }
}
