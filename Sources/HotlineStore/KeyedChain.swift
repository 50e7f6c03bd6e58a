import Foundation
import GRDB
import HotlineCore

/// The keyed chain laid over a log an older hotlined wrote (issue 13, `v7-keyed-chain`).
///
/// Each row of both logs gets its `mac`, linked from the first row in order over the digest
/// it has, under the current key (``KeyRing/chainMAC(after:digest:)``). The plain chain is
/// left as it is: anchors taken before the upgrade still hold, and whatever it already
/// showed wrong it still shows. The keyed chain cannot vouch for rows from before the
/// upgrade, only that they have not changed since; the audit entry `chain.keyed` says where
/// each log stood then, and the journal says so too (``MessageID/chainKeyed``).
enum KeyedChain {
    /// What the migration did, for the journal.
    struct Outcome: Sendable {
        var events: Int64 = 0
        var auditEntries: Int64 = 0
        var eventHead = Chain.Head.empty
        var auditHead = Chain.Head.empty
    }

    /// Rows linked per statement: the links of a whole log are never held at once.
    static let page = 10_000

    static func migrate(_ db: Database, keys: KeyRing, at now: Timestamp) throws -> Outcome {
        try db.execute(sql: "ALTER TABLE events ADD COLUMN mac BLOB; ALTER TABLE audit ADD COLUMN mac BLOB")
        var outcome = Outcome()
        outcome.events = try link("events", keys: keys, db)
        outcome.auditEntries = try link("audit", keys: keys, db)
        // A new database has nothing to vouch for.
        guard outcome.events + outcome.auditEntries > 0 else { return outcome }
        outcome.eventHead = try CallStore.lastEvent(db)
        let tail = try CallStore.lastAudit(db)
        outcome.auditHead = tail
        let detail: [String: JSONValue] = [
            "events": .int(outcome.events), "audit_entries": .int(outcome.auditEntries),
            "head": .string(outcome.eventHead.description), "audit_head": .string(outcome.auditHead.description),
            "key_id": .string(String(keys.currentID, radix: 16)), "result": "ok",
        ]
        let content = Chain.AuditContent(
            seq: tail.seq + 1, at: now.microseconds, uid: Int64(getuid()), pid: Int64(getpid()), role: nil,
            op: AuditOp.chainKeyed, detail: JSONWriter.string(.object(detail)))
        _ = try CallStore.insertAudit(content, after: tail, keys: keys, db)
        return outcome
    }

    /// Links every row of `table` in order; returns how many there were.
    private static func link(_ table: String, keys: KeyRing, _ db: Database) throws -> Int64 {
        var previous = Chain.macGenesis
        var after: Int64 = 0
        var count: Int64 = 0
        let update = try db.makeStatement(sql: "UPDATE \(table) SET mac = ? WHERE seq = ?")
        while true {
            let rows = try Row.fetchAll(
                db, sql: "SELECT seq, digest FROM \(table) WHERE seq > ? ORDER BY seq LIMIT \(page)", arguments: [after])
            guard let last = rows.last else { return count }
            for row in rows {
                previous = keys.chainMAC(after: previous, digest: row["digest"] ?? Data())
                try update.execute(arguments: [previous, row["seq"]])
            }
            count += Int64(rows.count)
            after = last["seq"]
        }
    }
}
