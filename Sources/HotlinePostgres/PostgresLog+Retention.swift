import Foundation
import HotlineCore
import HotlineStore
import PostgresNIO

/// Retention on PostgreSQL, as on SQLite (``HotlineStore/CallStore/purge(rules:now:uid:pid:)``):
/// a purged call's projection, identity, alerts and deliveries are deleted, and its events
/// stay as tombstones vouched for by the purge's audit entry, so the chain still verifies.
extension PostgresLog {
    /// Calls purged per transaction.
    static let purgeChunk = 256

    /// Purges every ended call `rules` say is due at `now`, audited as the daemon's own work.
    @discardableResult
    public func purge(rules: [RetentionRule], now: Timestamp, uid: UInt32, pid: Int32) throws -> PurgeReport {
        var report = PurgeReport()
        guard let horizon = Retention.horizon(now: now, rules: rules) else { return report }
        func due(_ session: PostgresSession, _ filter: PostgresQuery) throws -> [String] {
            try session.rows(filter).compactMap { row in
                let r = row.makeRandomAccess()
                let isDue = Retention.isDue(
                    route: try r["route"].decode(String.self),
                    marking: Marking(rawValue: try r["marking"].decode(String.self)) ?? .secret,
                    endedAt: try r["ended_at"].decode(Int64?.self), recordedEnd: try r["recorded_end"].decode(Int64?.self), now: now,
                    rules: rules)
                return isDue ? try r["call_id"].decode(String.self) : nil
            }
        }
        let candidates = try reading { session in
            try due(
                session,
                """
                SELECT c.call_id, c.route, c.marking, c.ended_at,
                       (SELECT MAX(recorded_at) FROM events e WHERE e.call_id = c.call_id AND e.op = 'call.end') AS recorded_end
                FROM calls c WHERE c.ended_at IS NOT NULL AND c.ended_at <= \(horizon.microseconds)
                  AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.call_id = c.call_id)
                """)
        }
        let keys = keys
        var start = 0
        while start < candidates.count {
            let chunk = Array(candidates[start..<min(start + Self.purgeChunk, candidates.count)])
            start += chunk.count
            let (events, head) = try writing { session -> (Int, Chain.Head?) in
                // The audit chain is extended: one writer at a time, as for a batch.
                try session.execute("SELECT pg_advisory_xact_lock(\(Self.writerLock))")
                // Decided again on the calls as they are now (a wrap-up may have raised a
                // marking to one kept longer), and locked until this commits.
                let ids = try due(
                    session,
                    """
                    SELECT c.call_id, c.route, c.marking, c.ended_at,
                           (SELECT MAX(recorded_at) FROM events e WHERE e.call_id = c.call_id AND e.op = 'call.end') AS recorded_end
                    FROM calls c WHERE c.ended_at IS NOT NULL AND c.call_id = ANY(\(chunk))
                      AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.call_id = c.call_id)
                    ORDER BY c.call_id FOR UPDATE
                    """)
                guard !ids.isEmpty else { return (0, nil) }
                var tombstones = Chain.Tombstones()
                var events = 0
                for row in try session.rows(
                    """
                    SELECT seq, event_id, call_id, op, recorded_at, peer_uid, peer_pid, identity_commitment, digest FROM events
                    WHERE call_id = ANY(\(ids)) AND purged_by IS NULL ORDER BY seq
                    """)
                {
                    tombstones.add(try Self.tombstoneValues(row.makeRandomAccess()))
                    events += 1
                }
                let head = try PostgresAudit.append(
                    AuditEntry(
                        at: now, uid: uid, pid: pid, role: nil, op: AuditOp.retentionPurge,
                        detail: [
                            "call_ids": .array(ids.map(JSONValue.string)), "events": .int(Int64(events)),
                            "rules": .array(rules.map(\.json)), "tombstones": .string(tombstones.digest.hex),
                        ]), after: try auditEnd(session), keys: keys, session)
                try session.execute(
                    "UPDATE events SET body = '', ack = '', secret = NULL, purged_by = \(head.seq) WHERE call_id = ANY(\(ids)) AND purged_by IS NULL"
                )
                try session.execute("DELETE FROM event_identity WHERE call_id = ANY(\(ids))")
                try session.execute(
                    "DELETE FROM alert_outbox WHERE alert_id IN (SELECT alert_id FROM alerts WHERE call_id = ANY(\(ids)))")
                try session.execute("DELETE FROM alerts WHERE call_id = ANY(\(ids))")
                try session.execute("DELETE FROM calls WHERE call_id = ANY(\(ids))")
                report.calls += ids.count
                return (events, head)
            }
            report.events += events
            if let head {
                report.auditSeqs.append(head.seq)
                publish(audit: head)
            }
        }
        return report
    }
}
