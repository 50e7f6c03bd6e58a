import Foundation
import GRDB
import HotlineCore

/// Retention: removing ended calls once the configuration says they have been kept long
/// enough, without breaking the tamper-evidence chain.
///
/// A purged call's projection, caller identity, alerts and deliveries are deleted; its
/// events stay in the log as tombstones (seq, ids, op, time, peer, digest and hash) with
/// their content (body, free text, acknowledgement) removed and `purged_by` naming the
/// audit entry of the purge. The chain still verifies: a tombstone's stored digest stands
/// for the content it had, and `verify` checks that an audited purge covers it.
extension CallStore {

    /// Calls purged per transaction, so a large first purge never holds the writer long.
    static let purgeChunk = 256

    /// Purges every ended call `rules` say is due at `now`, audited as the daemon's own work
    /// (`uid`, `pid`), then removes the freed pages from the WAL as erasure does.
    @discardableResult
    public func purge(rules: [RetentionRule], now: Timestamp, uid: UInt32, pid: Int32) throws -> PurgeReport {
        var report = PurgeReport()
        guard let horizon = Retention.horizon(now: now, rules: rules) else { return report }
        // The end as the daemon recorded it (server time), not only as the workstation
        // said: a back-dated ended_at must not get a call purged early.
        let dueSQL = """
            SELECT c.call_id, c.route, c.marking, c.ended_at,
                   (SELECT MAX(recorded_at) FROM events e WHERE e.call_id = c.call_id AND e.op = 'call.end') AS recorded_end
            FROM calls c WHERE c.ended_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.call_id = c.call_id)
            """
        func isDue(_ row: Row) -> Bool {
            Retention.isDue(
                route: row["route"], marking: Marking(rawValue: row["marking"]) ?? .secret, endedAt: row["ended_at"],
                recordedEnd: row["recorded_end"], now: now, rules: rules)
        }
        let due = try pool.read { db in
            try Row.fetchAll(db, sql: dueSQL + " AND c.ended_at <= ?", arguments: [horizon.microseconds])
                .filter(isDue).map { $0["call_id"] as String }
        }
        var start = 0
        while start < due.count {
            let chunk = Array(due[start..<min(start + Self.purgeChunk, due.count)])
            start += chunk.count
            let (events, head) = try writeRestoringHeads { db -> (Int, Chain.Head?) in
                // Decided again on the call as it is now: a wrap-up since may have raised its
                // marking to one kept longer.
                let ids = try chunk.filter { id in
                    try Row.fetchOne(db, sql: dueSQL + " AND c.call_id = ?", arguments: [id]).map(isDue) == true
                }
                guard !ids.isEmpty else { return (0, nil) }
                // What stays of each event, vouched for by the purge's entry: without it a
                // tombstone's uid, time or op could be changed unseen (its digest stands for
                // the content, which is gone).
                var tombstones = Chain.Tombstones()
                var events = 0
                let rows = try Row.fetchCursor(
                    db,
                    sql: "SELECT * FROM events WHERE call_id IN (SELECT value FROM json_each(?)) AND purged_by IS NULL ORDER BY seq",
                    arguments: [JSONWriter.string(.array(ids.map(JSONValue.string)))])
                while let row = try rows.next() {
                    tombstones.add(row)
                    events += 1
                }
                let head = try appendAudit(
                    AuditEntry(
                        at: now, uid: uid, pid: pid, role: nil, op: AuditOp.retentionPurge,
                        detail: [
                            "call_ids": .array(ids.map(JSONValue.string)), "events": .int(Int64(events)),
                            "rules": .array(rules.map(\.json)), "tombstones": .string(tombstones.digest.hex),
                        ]), db)
                for id in ids {
                    try db.execute(
                        sql: "UPDATE events SET body = '', ack = '', secret = NULL, purged_by = ? WHERE call_id = ? AND purged_by IS NULL",
                        arguments: [head.seq, id])
                    try db.execute(sql: "DELETE FROM event_identity WHERE call_id = ?", arguments: [id])
                    try db.execute(
                        sql: "DELETE FROM alert_outbox WHERE alert_id IN (SELECT alert_id FROM alerts WHERE call_id = ?)",
                        arguments: [id])
                    try db.execute(sql: "DELETE FROM alerts WHERE call_id = ?", arguments: [id])
                    try db.execute(sql: "DELETE FROM calls WHERE call_id = ?", arguments: [id])
                }
                report.calls += ids.count
                return (events, head)
            }
            report.events += events
            if let head {
                report.auditSeqs.append(head.seq)
                try syncLog()
                publish(events: nil, audit: head)
            }
        }
        if report.calls > 0 { scrubWAL() }
        return report
    }

    /// Walks both chains, holding them to the heads this process committed.
    public func verify() throws -> VerifyReport {
        let heads = self.heads
        return try pool.read { db in
            try ChainVerifier.verify(
                db, keys: keys, eventAnchors: heads.events.seq > 0 ? [heads.events] : [],
                auditAnchors: heads.audit.seq > 0 ? [heads.audit] : [])
        }
    }
}
