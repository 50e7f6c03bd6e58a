import HotlineCore
import HotlineStore
import PostgresNIO

extension PostgresLog {
    /// The wallboard's and the metrics endpoint's rows (``LiveSQL``), every room's, in one
    /// read-only transaction so that the counts and the lists agree.
    public func liveRows(callsFrom from: Timestamp, to: Timestamp, alertLimit: Int) throws -> LiveRows {
        try reading { session in
            try session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { try? session.execute("COMMIT") }
            var rows = LiveRows()
            var limit = PostgresBindings()
            limit.append(Int64(alertLimit))
            rows.alerts = try session.rows(PostgresQuery(unsafeSQL: LiveSQL.alerts + " $1", binds: limit)).map {
                try Self.alert($0.makeRandomAccess())
            }
            for row in try session.rows(PostgresQuery(unsafeSQL: LiveSQL.unackedByLevel)) {
                let r = row.makeRandomAccess()
                rows.unackedByLevel[try r["level"].decode(Int.self)] = Int(try r["n"].decode(Int64.self))
                let oldest = Timestamp(microseconds: try r["oldest"].decode(Int64.self))
                if rows.oldestUnacked.map({ oldest < $0 }) ?? true { rows.oldestUnacked = oldest }
            }
            for row in try session.rows(PostgresQuery(unsafeSQL: LiveSQL.openByRoute)) {
                let r = row.makeRandomAccess()
                rows.openByRoute[try r["route"].decode(String.self)] = Int(try r["n"].decode(Int64.self))
            }
            var window = PostgresBindings()
            window.append(from.microseconds)
            window.append(to.microseconds)
            for row in try session.rows(PostgresQuery(unsafeSQL: LiveSQL.calls("$1", "$2"), binds: window)) {
                let (route, received, answered, ended) = try row.decode((String, Int64, Int64?, Int64?).self)
                rows.calls.append(
                    LiveCall(
                        route: route, receivedAt: Timestamp(microseconds: received),
                        answeredAt: answered.map(Timestamp.init(microseconds:)), endedAt: ended.map(Timestamp.init(microseconds:))))
            }
            return rows
        }
    }
}
