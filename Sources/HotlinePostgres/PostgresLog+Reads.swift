import Foundation
import HotlineCore
import HotlineStore
import PostgresNIO

/// Reading the log on PostgreSQL: on the primary, so that a read after an acknowledgement
/// sees it, on sessions of their own (never the writer's, which may be inside a batch).
extension PostgresLog {
    /// The call `id` with one page of its notes; see ``HotlineStore/CallStore/call(id:notesAfter:maxNotes:maxNoteBytes:)``.
    public func call(id: String, notesAfter: Int64?, maxNotes: Int, maxNoteBytes: Int) throws -> CallDetail? {
        let maxNotes = max(1, maxNotes)  // a page that could hold no note would never end
        return try reading { session in
            // One snapshot for the call, its notes and its alerts.
            try session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { try? session.execute("COMMIT") }
            guard let row = try session.row("SELECT * FROM calls WHERE call_id = \(id)") else { return nil }
            let state = try EventProcessor(keys: keys).opened(
                try PostgresCallRow.decode(row), withLocation: true, withIdentity: true)
            // The events of the call that carry a note (`has_note` is in the clear part of
            // the event), after the cursor: a range of events_by_call.
            let rows = try session.rows(
                """
                SELECT seq, body, secret, peer_uid, recorded_at FROM events
                WHERE call_id = \(id) AND seq > \(notesAfter ?? 0) AND op = 'call.update' AND secret IS NOT NULL
                  AND (body::jsonb -> 'has_note') = 'true'::jsonb
                ORDER BY seq LIMIT \(Int64(maxNotes) + 1)
                """
            ).map { row in
                let r = row.makeRandomAccess()
                return NoteRow(
                    seq: try r["seq"].decode(Int64.self), body: try r["body"].decode(String.self),
                    secret: try r["secret"].decode(Data.self), peerUID: try r["peer_uid"].decode(Int64.self),
                    recordedAt: try r["recorded_at"].decode(Int64.self))
            }
            let (notes, next) = try NoteRow.page(rows, of: state, keys: keys, maxNotes: maxNotes, maxNoteBytes: maxNoteBytes)
            let alerts = try session.rows("SELECT * FROM alerts WHERE call_id = \(id) ORDER BY seq").map {
                try Self.alert($0.makeRandomAccess())
            }
            let recordedAt = try session.row("SELECT recorded_at FROM events WHERE seq = \(state.firstSeq)")
                .map { Timestamp(microseconds: try $0["recorded_at"].decode(Int64.self)) }
            var history = ClassificationHistory()
            // The history goes with the first page of notes (the later pages' readers have it).
            for row in try notesAfter != nil
                ? []
                : session.rows(
                    "SELECT seq, op, body, ack, secret, recorded_at, peer_uid FROM events WHERE call_id = \(id) AND purged_by IS NULL ORDER BY seq"
                )
            {
                let r = row.makeRandomAccess()
                let seq = try r["seq"].decode(Int64.self)
                guard let body = try? JSONParser.parse(Array(try r["body"].decode(String.self).utf8)),
                    let ack = try? JSONParser.parse(Array(try r["ack"].decode(String.self).utf8))
                else { continue }
                let secret = try r["secret"].decode(Data?.self)
                history.add(
                    .init(
                        seq: seq, op: try r["op"].decode(String.self), body: body, ack: ack,
                        recordedAt: Timestamp(microseconds: try r["recorded_at"].decode(Int64.self)),
                        uid: UInt32(truncatingIfNeeded: try r["peer_uid"].decode(Int64.self)))
                ) {
                    secret.flatMap { try? self.keys.openJSON($0, context: "\(id)/event/\(seq)")["reason"]?.stringValue }
                }
            }
            let hold = try session.row("SELECT * FROM holds WHERE call_id = \(id)").map {
                try self.hold($0, route: state.route, receivedAt: state.receivedAt)
            }
            return CallDetail(
                state: state, notes: notes, alerts: alerts, notesNext: next, recordedAt: recordedAt, history: history.changes,
                hold: hold)
        }
    }

    /// Calls received in the query's window, in the order they started; limited to
    /// `ownerUID`'s calls when given (a handler's list).
    public func listCalls(_ query: CallsQuery, ownerUID: UInt32?) throws -> CallPage {
        var sql = "SELECT * FROM calls WHERE received_at >= $1 AND received_at < $2"
        var binds = PostgresBindings()
        binds.append(query.from.microseconds)
        binds.append(query.to.microseconds)
        if let route = query.route {
            binds.append(route)
            sql += " AND route = $\(binds.count)"
        }
        if let channel = query.channel {
            binds.append(channel.rawValue)
            sql += " AND channel = $\(binds.count)"
        }
        if let ownerUID {
            binds.append(Int64(ownerUID))
            sql += " AND owner_uid = $\(binds.count)"
        }
        if let after = query.afterSeq {
            binds.append(after)
            sql += " AND first_seq > $\(binds.count)"
        }
        binds.append(Int64(query.limit) + 1)
        sql += " ORDER BY first_seq LIMIT $\(binds.count)"
        let statement = PostgresQuery(unsafeSQL: sql, binds: binds)
        let rows = try reading { session in try session.rows(statement) }
        let more = rows.count > query.limit
        let calls = try rows.prefix(query.limit).map { try PostgresCallRow.decode($0.makeRandomAccess()).state }
        return CallPage(calls: calls, nextAfterSeq: more ? calls.last?.firstSeq : nil)
    }

    /// The log's counters, as `stats` gives them: every room's.
    public func counts() throws -> LogCounts {
        try reading { session in
            guard
                let r = try session.row(
                    """
                    SELECT (SELECT COALESCE(MAX(seq), 0) FROM events) AS events, (SELECT count(*) FROM calls) AS calls,
                        (SELECT count(*) FROM calls WHERE ended_at IS NULL) AS open,
                        (SELECT count(*) FROM alerts WHERE acked_at IS NULL) AS unacked
                    """)
            else { return LogCounts(events: 0, calls: 0, callsOpen: 0, alertsUnacked: 0) }
            return LogCounts(
                events: try r["events"].decode(Int64.self), calls: try r["calls"].decode(Int64.self),
                callsOpen: try r["open"].decode(Int64.self), alertsUnacked: try r["unacked"].decode(Int64.self))
        }
    }

    /// An alert row.
    static func alert(_ r: PostgresRandomAccessRow) throws -> Alert {
        Alert(
            id: try r["alert_id"].decode(String.self), callID: try r["call_id"].decode(String.self),
            seq: try r["seq"].decode(Int64.self), route: try r["route"].decode(String.self),
            grade: Grade(rawValue: try r["grade"].decode(String.self)) ?? .emergency,
            reason: AlertReason(rawValue: try r["reason"].decode(String.self)) ?? .emergencyLine,
            level: try r["level"].decode(Int.self), raisedAt: Timestamp(microseconds: try r["raised_at"].decode(Int64.self)),
            ackedAt: try r["acked_at"].decode(Int64?.self).map(Timestamp.init(microseconds:)),
            ackedBy: try r["acked_by"].decode(Int64?.self).map { UInt32(truncatingIfNeeded: $0) },
            channel: CallChannel(rawValue: try r["channel"].decode(String.self)) ?? .voice)
    }
}
