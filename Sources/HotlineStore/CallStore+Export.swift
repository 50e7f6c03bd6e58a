import GRDB
import HotlineCore

extension CallStore {

    public func exportPage(from: Timestamp, to: Timestamp, afterSeq: Int64?, limit: Int) throws -> ExportPage {
        let page = try listCalls(CallsQuery(from: from, to: to, limit: limit, afterSeq: afterSeq))
        guard !page.calls.isEmpty else { return ExportPage(calls: [], nextAfterSeq: nil) }
        let (alerts, extras) = try pool.read { db in
            // The page's calls are consecutive in first_seq: one range scan finds their alerts.
            (
                try Self.decodeRows(
                    db,
                    sql: """
                        SELECT a.* FROM alerts a JOIN calls c ON c.call_id = a.call_id
                        WHERE c.first_seq BETWEEN ? AND ? ORDER BY a.raised_at, a.seq
                        """,
                    arguments: [page.calls.first!.firstSeq, page.calls.last!.firstSeq], Self.alert
                ), try self.exportExtras(page.calls.map(\.id), db)
            )
        }
        return ExportPage(page: page, alerts: alerts, extras: extras)
    }
}
