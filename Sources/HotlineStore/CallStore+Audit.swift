import Foundation
import GRDB
import HotlineCore
import Logging
import Synchronization

/// The audit log (who read what, PROTOCOL.md section 8) and the heads of both chains.
extension CallStore {

    public var heads: ChainHeads { chainHeads.withLock { $0 } }

    /// Records chain heads after their commit; never moves one backwards.
    func publish(events: Chain.Head?, audit: Chain.Head?) {
        chainHeads.withLock { heads in
            if let events, events.seq > heads.events.seq { heads.events = events }
            if let audit, audit.seq > heads.audit.seq { heads.audit = audit }
        }
    }

    /// The last event's head. `keyed` false: without its keyed link, for the migrations that
    /// run before there was one (`v7-keyed-chain`).
    static func lastEvent(_ db: Database, keyed: Bool = true) throws -> Chain.Head {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT seq, hash\(keyed ? ", mac" : "") FROM events ORDER BY seq DESC LIMIT 1")
        ).map { Chain.Head(seq: $0["seq"], hash: $0["hash"] ?? Chain.genesis, mac: keyed ? $0["mac"] ?? Data() : Chain.macGenesis) }
            ?? .empty
    }

    static func lastAudit(_ db: Database, keyed: Bool = true) throws -> Chain.Head {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT seq, hash\(keyed ? ", mac" : "") FROM audit ORDER BY seq DESC LIMIT 1")
        ).map { Chain.Head(seq: $0["seq"], hash: $0["hash"], mac: keyed ? $0["mac"] ?? Data() : Chain.macGenesis) }
            ?? .empty
    }

    /// An event row's chained content (the columns of `events`; identity as its commitment):
    /// what its digest is over (docs/SECURITY.md, "The canonical content").
    public static func eventContent(_ row: Row, identityCommitment: Data?) -> Chain.EventContent {
        Chain.EventContent(
            seq: row["seq"], eventID: row["event_id"], callID: row["call_id"], op: row["op"], body: row["body"],
            secret: row["secret"], ack: row["ack"], recordedAt: row["recorded_at"], peerUID: row["peer_uid"],
            peerPID: row["peer_pid"], identityCommitment: identityCommitment)
    }

    static func auditContent(_ row: Row) -> Chain.AuditContent {
        Chain.AuditContent(
            seq: row["seq"], at: row["at"], uid: row["uid"], pid: row["pid"], role: row["role"], op: row["op"],
            detail: row["detail"])
    }

    /// Appends `entry` to the audit log inside the caller's transaction (one that
    /// ``writeRestoringHeads(_:)`` or ``commit(_:policy:alerting:now:)`` runs); returns the
    /// new head.
    func appendAudit(_ entry: AuditEntry, _ db: Database) throws -> Chain.Head {
        let known = writerHeads.withLock { $0.audit }
        let previous = try chainEnd(known: known, tail: Self.lastAudit(db), chain: "audit log")
        var detail = entry.detail
        if let reason = entry.reason {
            // Sealed for this entry alone: a reason often names the people a read was about.
            let sealed = try keys.seal(Array(reason.utf8), context: AuditEntry.reasonContext(seq: previous.nextSeq))
            detail[AuditEntry.sealedReasonKey] = .string(sealed.base64EncodedString())
        }
        let content = Chain.AuditContent(
            seq: previous.nextSeq, at: entry.at.microseconds, uid: Int64(entry.uid), pid: Int64(entry.pid),
            role: entry.role?.rawValue, op: entry.op, detail: JSONWriter.string(.object(detail)))
        let head = try Self.insertAudit(content, after: previous.head, keys: keys, db)
        writerHeads.withLock { $0.audit = head }
        return head
    }

    /// Inserts the audit row holding `content`, chained after `previous`; returns its head.
    /// The one place an audit row is written (``appendAudit(_:_:)`` and the migrations that
    /// record a rewrite). `keys` nil: without a keyed link, as a migration from before there
    /// was one (`v6-sealed-coordinates`) writes it; `v7-keyed-chain` then links it.
    static func insertAudit(
        _ content: Chain.AuditContent, after previous: Chain.Head, keys: KeyRing?, _ db: Database
    ) throws -> Chain.Head {
        let digest = content.digest
        let hash = Chain.link(previous.hash, digest)
        guard let keys else {
            try db.cachedStatement(
                sql: "INSERT INTO audit (seq, at, uid, pid, role, op, detail, digest, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ).execute(arguments: [
                content.seq, content.at, content.uid, content.pid, content.role, content.op, content.detail, digest, hash,
            ])
            return Chain.Head(seq: content.seq, hash: hash)
        }
        let mac = keys.chainMAC(after: previous.mac, digest: digest)
        try db.cachedStatement(
            sql: "INSERT INTO audit (seq, at, uid, pid, role, op, detail, digest, hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ).execute(arguments: [
            content.seq, content.at, content.uid, content.pid, content.role, content.op, content.detail, digest, hash, mac,
        ])
        return Chain.Head(seq: content.seq, hash: hash, mac: mac)
    }

    /// Where to chain the next row: onto the end this process wrote (`known`), whatever
    /// the file's last row (`tail`) now says, numbered after both. A difference means the
    /// file was changed under the daemon: it is journalled as tampering, and the new row
    /// will not follow the changed end, so `verify` keeps finding it.
    func chainEnd(known: Chain.Head, tail: Chain.Head, chain: String) -> (head: Chain.Head, nextSeq: Int64) {
        guard known.seq > 0 || tail.seq > 0 else { return (.empty, 1) }
        if known.seq > 0, tail != known {
            logger.critical(
                "the end of the \(chain) is not what this daemon wrote: expected \(known), found \(tail); the database was changed under it",
                metadata: ["message_id": "\(MessageID.tamperDetected.rawValue)"])
        }
        let head = known.seq > 0 ? known : tail
        return (head, max(head.seq, tail.seq) + 1)
    }

    /// `pool.write`, putting the writer's chain heads back if the transaction fails.
    func writeRestoringHeads<T>(_ body: (Database) throws -> T) throws -> T {
        try checkWritable()
        return try pool.writeWithoutTransaction { db in
            try self.restoringHeads(db) {
                var result: T?
                try db.inTransaction {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        }
    }

    /// Runs `body`, a transaction on the writer's connection `db`, and puts the writer's chain
    /// heads back as they were if it fails. The heads are taken and put back while this
    /// thread holds the writer: taken before it waited, they could be older than an audit
    /// entry another thread committed meanwhile, and a failed batch would then put back a
    /// head the audit chain had already passed, so that the next entry chained onto it and
    /// `verify` reported tampering that never happened.
    func restoringHeads<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        let saved = writerHeads.withLock { $0 }
        do {
            return try body()
        } catch {
            writerHeads.withLock { $0 = saved }
            throw error
        }
    }

    /// Appends `entry` and makes it durable before returning: a read is answered only once
    /// its audit entry is on disk. Returns the entry with its `seq`.
    @discardableResult
    ///
    /// With `sync` false the entry is committed but not yet durable: the caller must make it
    /// so before it discloses anything (``EventWriter/whenDurable(_:)``).
    public func audit(_ entry: AuditEntry, sync: Bool = true) throws -> AuditEntry {
        let head = try writeRestoringHeads { db in try appendAudit(entry, db) }
        if sync { try syncLog() }
        publish(events: nil, audit: head)
        var stored = entry
        stored.seq = head.seq
        return stored
    }

    /// Entries made in `[from, to)`, oldest first, at most about `limit` of them. A page
    /// never splits the entries of one microsecond, so `nextFrom` loses and repeats nothing.
    public func auditEntries(
        from: Timestamp, to: Timestamp, limit: Int = 5000, maxBytes: Int = Configuration.Limits().maxPageBytes
    ) throws -> AuditPage {
        try pool.read { db in
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT * FROM audit WHERE at >= ? AND at < ? ORDER BY at, seq",
                arguments: [from.microseconds, to.microseconds])
            return try Chain.AuditContent.page(
                next: { try cursor.next().map(Self.auditContent) }, to: to, limit: limit, maxBytes: maxBytes, keys: keys,
                at: { cut in
                    try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE at = ? ORDER BY seq", arguments: [cut]).map(Self.auditContent)
                },
                firstAfter: { cut in
                    try Int64.fetchOne(db, sql: "SELECT MIN(at) FROM audit WHERE at > ? AND at < ?", arguments: [cut, to.microseconds])
                })
        }
    }
}
