import Foundation
import HotlineCore
import HotlineStore
import PostgresNIO

/// Reading the audit log, and the shift-end export, on PostgreSQL.
extension PostgresLog {
    /// Entries made in `[from, to)`, oldest first, paged as on SQLite (``HotlineStore/Chain/AuditContent/page(next:to:limit:maxBytes:keys:at:firstAfter:)``).
    public func auditEntries(from: Timestamp, to: Timestamp, limit: Int, maxBytes: Int) throws -> AuditPage {
        try reading { session in
            try session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { try? session.execute("COMMIT") }
            // A page is at most `limit` + 1 rows: the bytes can only end it sooner.
            var rows = try session.rows(
                """
                SELECT * FROM audit WHERE at >= \(from.microseconds) AND at < \(to.microseconds)
                ORDER BY at, seq LIMIT \(Int64(limit) + 1)
                """
            ).makeIterator()
            return try Chain.AuditContent.page(
                next: { try rows.next().map(Self.auditRow) }, to: to, limit: limit, maxBytes: maxBytes, keys: keys,
                at: { cut in try session.rows("SELECT * FROM audit WHERE at = \(cut) ORDER BY seq").map(Self.auditRow) },
                firstAfter: { cut in
                    try session.row("SELECT MIN(at) AS at FROM audit WHERE at > \(cut) AND at < \(to.microseconds)")
                        .flatMap { try $0["at"].decode(Int64?.self) }
                })
        }
    }

    package static func auditRow(_ row: PostgresRow) throws -> Chain.AuditContent {
        let r = row.makeRandomAccess()
        return Chain.AuditContent(
            seq: try r["seq"].decode(Int64.self), at: try r["at"].decode(Int64.self), uid: try r["uid"].decode(Int64.self),
            pid: try r["pid"].decode(Int64.self), role: try r["role"].decode(String?.self), op: try r["op"].decode(String.self),
            detail: try r["detail"].decode(String.self))
    }

    /// A page of the shift-end export: summaries of the calls received in `[from, to)`, in
    /// the order they started, each with its alerts.
    public func exportPage(from: Timestamp, to: Timestamp, afterSeq: Int64?, limit: Int) throws -> ExportPage {
        let page = try listCalls(CallsQuery(from: from, to: to, limit: limit, afterSeq: afterSeq), ownerUID: nil)
        guard let first = page.calls.first, let last = page.calls.last else { return ExportPage(calls: [], nextAfterSeq: nil) }
        let ids = page.calls.map(\.id)
        let (alerts, extras) = try reading { session in
            // The page's calls are consecutive in first_seq: one range finds their alerts.
            let alerts = try session.rows(
                """
                SELECT a.* FROM alerts a JOIN calls c ON c.call_id = a.call_id
                WHERE c.first_seq BETWEEN \(first.firstSeq) AND \(last.firstSeq) ORDER BY a.raised_at, a.seq
                """
            ).map { try Self.alert($0.makeRandomAccess()) }
            var grades: [String: [String]] = [:]
            for row in try session.rows(
                """
                SELECT call_id, (ack::jsonb) ->> 'grade' AS grade FROM events
                WHERE call_id = ANY(\(ids)) AND purged_by IS NULL
                  AND (op = 'call.start'
                       OR (op = 'call.update' AND (strpos(body, '"grade"') > 0 OR strpos(body, '"threat_to_life"') > 0)))
                ORDER BY seq
                """)
            {
                let r = row.makeRandomAccess()
                if let g = try r["grade"].decode(String?.self) { grades[try r["call_id"].decode(String.self), default: []].append(g) }
            }
            let held = Set(
                try session.rows("SELECT call_id FROM holds WHERE call_id = ANY(\(ids))").map {
                    try $0.makeRandomAccess()["call_id"].decode(String.self)
                })
            var extras: [String: (initial: String?, changes: Int, held: Bool)] = [:]
            for id in ids {
                let g = ClassificationHistory.grades(grades[id] ?? [])
                extras[id] = (g.initial, g.changes, held.contains(id))
            }
            return (alerts, extras)
        }
        return ExportPage(page: page, alerts: alerts, extras: extras)
    }
}
