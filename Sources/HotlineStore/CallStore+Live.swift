import GRDB
import HotlineCore

/// What the wallboard and the metrics endpoint read (``LiveRows``): the unacknowledged
/// alerts the highest level first (the oldest first within a level): four short queries,
/// each on an index (`alerts_unacked`, `calls_open`, `calls_by_received`), in one read
/// transaction. Shared by both engines: the statements are plain SQL.
public enum LiveSQL {
    public static let alerts = """
        SELECT alert_id, call_id, seq, route, grade, reason, level, raised_at, acked_at, acked_by, channel
        FROM alerts WHERE acked_at IS NULL ORDER BY level DESC, raised_at, alert_id LIMIT
        """
    public static let unackedByLevel =
        "SELECT level, COUNT(*) AS n, MIN(raised_at) AS oldest FROM alerts WHERE acked_at IS NULL GROUP BY level"
    public static let openByRoute = "SELECT route, COUNT(*) AS n FROM calls WHERE ended_at IS NULL GROUP BY route"
    /// Bound to the window's start and end, with the engine's placeholders.
    public static func calls(_ from: String, _ to: String) -> String {
        "SELECT route, received_at, answered_at, ended_at FROM calls WHERE received_at >= \(from) AND received_at < \(to)"
    }
}

extension CallStore {
    public func liveRows(callsFrom from: Timestamp, to: Timestamp, alertLimit: Int) throws -> LiveRows {
        try pool.read { db in
            var rows = LiveRows()
            rows.alerts = try Self.decodeRows(db, sql: LiveSQL.alerts + " ?", arguments: [alertLimit], Self.alert)
            for row in try Row.fetchAll(db, sql: LiveSQL.unackedByLevel) {
                rows.unackedByLevel[row["level"]] = row["n"]
                let oldest = Timestamp(microseconds: row["oldest"])
                if rows.oldestUnacked.map({ oldest < $0 }) ?? true { rows.oldestUnacked = oldest }
            }
            for row in try Row.fetchAll(db, sql: LiveSQL.openByRoute) {
                rows.openByRoute[row["route"]] = row["n"]
            }
            let cursor = try Row.fetchCursor(db, sql: LiveSQL.calls("?", "?"), arguments: [from.microseconds, to.microseconds])
            while let row = try cursor.next() {
                rows.calls.append(
                    LiveCall(
                        route: row["route"], receivedAt: Timestamp(microseconds: row["received_at"]),
                        answeredAt: (row["answered_at"] as Int64?).map(Timestamp.init(microseconds:)),
                        endedAt: (row["ended_at"] as Int64?).map(Timestamp.init(microseconds:))))
            }
            return rows
        }
    }
}
