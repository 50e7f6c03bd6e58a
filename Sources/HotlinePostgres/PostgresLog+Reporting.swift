import Foundation
import HotlineCore
import HotlineStore
import PostgresNIO

/// Issue 16 on PostgreSQL, as on SQLite (``HotlineStore/CallStore/handover(from:to:asOf:limit:)``
/// and the legal holds): the handover lists, and holds written with their audit entries.
extension PostgresLog {
    public func handover(from: Timestamp, to: Timestamp, asOf: Timestamp, limit: Int) throws -> Handover {
        try reading { session in
            try session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { try? session.execute("COMMIT") }
            func binds(_ values: [Int64]) -> PostgresBindings {
                var b = PostgresBindings()
                for v in values { b.append(v) }
                return b
            }
            func calls(_ sql: String) throws -> [HandoverCall] {
                try session.rows(PostgresQuery(unsafeSQL: HandoverSQL.postgres(sql), binds: binds([asOf.microseconds, Int64(limit)]))).map {
                    HandoverCall(try PostgresCallRow.decode($0.makeRandomAccess()).state, asOf: asOf)
                }
            }
            return try HandoverSQL.handover(
                asOf: asOf,
                tally: { sql in
                    let rows = try session.rows(PostgresQuery(unsafeSQL: HandoverSQL.postgres(sql), binds: binds([asOf.microseconds])))
                    guard let r = rows.first?.makeRandomAccess() else { return (0, 1) }
                    return (Int(try r[0].decode(Int64.self)), Int(try r[1].decode(Int32.self)))
                }, calls: calls)
        }
    }

    public func placeHold(callID: String, by peer: Peer, reason: String, at now: Timestamp) throws -> LegalHold {
        let keys = keys
        let (hold, head) = try writing { session -> (LegalHold, Chain.Head) in
            try session.execute("SELECT pg_advisory_xact_lock(\(Self.writerLock))")
            guard let row = try session.row("SELECT route, received_at FROM calls WHERE call_id = \(callID)") else {
                throw CallStore.noSuchCall(callID, purged: try Self.wasPurged(callID, session))
            }
            if let since = try session.row("SELECT held_at FROM holds WHERE call_id = \(callID)") {
                let at = Timestamp(microseconds: try since["held_at"].decode(Int64.self))
                throw HotlineError(.conflict, "Call \(callID) has been on legal hold since \(at.rfc3339).", field: "call_id")
            }
            let head = try PostgresAudit.append(
                AuditEntry(peer: peer, op: AuditOp.hold, at: now, detail: ["call_ids": [.string(callID)], "result": "ok"], reason: reason),
                after: try auditEnd(session), keys: keys, session)
            let sealed = try keys.sealJSON(.string(reason), context: CallStore.holdContext(callID, auditSeq: head.seq))
            let role = peer.primaryRole?.rawValue
            try session.execute(
                """
                INSERT INTO holds (call_id, held_at, held_by, role, reason, audit_seq)
                VALUES (\(callID), \(now.microseconds), \(Int64(peer.uid)), \(role), \(sealed), \(head.seq))
                """)
            let r = row
            return (
                LegalHold(
                    callID: callID, heldAt: now, heldBy: peer.uid, role: peer.primaryRole, reason: reason, auditSeq: head.seq,
                    route: try r["route"].decode(String.self), receivedAt: Timestamp(microseconds: try r["received_at"].decode(Int64.self))),
                head
            )
        }
        publish(audit: head)
        return hold
    }

    public func releaseHold(callID: String, by peer: Peer, reason: String, at now: Timestamp) throws -> LegalHold {
        let keys = keys
        let (hold, head) = try writing { session -> (LegalHold, Chain.Head) in
            try session.execute("SELECT pg_advisory_xact_lock(\(Self.writerLock))")
            guard let row = try session.row("SELECT * FROM holds WHERE call_id = \(callID) FOR UPDATE") else {
                if try session.row("SELECT 1 AS one FROM calls WHERE call_id = \(callID)") == nil {
                    throw CallStore.noSuchCall(callID, purged: try Self.wasPurged(callID, session))
                }
                throw HotlineError(.conflict, "Call \(callID) is not on legal hold.", field: "call_id")
            }
            let call = try session.row("SELECT route, received_at FROM calls WHERE call_id = \(callID)")
            let hold = try self.hold(
                row, route: try call?["route"].decode(String.self),
                receivedAt: try call.map { Timestamp(microseconds: try $0["received_at"].decode(Int64.self)) })
            let head = try PostgresAudit.append(
                AuditEntry(
                    peer: peer, op: AuditOp.release, at: now,
                    detail: [
                        "call_ids": [.string(callID)], "held_since": .string(hold.heldAt.rfc3339), "hold_seq": .int(hold.auditSeq),
                        "result": "ok",
                    ], reason: reason), after: try auditEnd(session), keys: keys, session)
            try session.execute("DELETE FROM holds WHERE call_id = \(callID)")
            return (hold, head)
        }
        publish(audit: head)
        return hold
    }

    public func holds() throws -> [LegalHold] {
        try reading { session in
            try session.rows(
                "SELECT h.*, c.route, c.received_at FROM holds h LEFT JOIN calls c ON c.call_id = h.call_id ORDER BY h.held_at, h.call_id"
            ).map { row in
                let r = row.makeRandomAccess()
                return try self.hold(
                    r, route: try r["route"].decode(String?.self),
                    receivedAt: try r["received_at"].decode(Int64?.self).map(Timestamp.init(microseconds:)))
            }
        }
    }

    func hold(_ r: PostgresRandomAccessRow, route: String?, receivedAt: Timestamp?) throws -> LegalHold {
        let callID = try r["call_id"].decode(String.self)
        let auditSeq = try r["audit_seq"].decode(Int64.self)
        let sealed = try r["reason"].decode(Data?.self)
        return LegalHold(
            callID: callID, heldAt: Timestamp(microseconds: try r["held_at"].decode(Int64.self)),
            heldBy: UInt32(truncatingIfNeeded: try r["held_by"].decode(Int64.self)),
            role: try r["role"].decode(String?.self).flatMap(Role.init(rawValue:)),
            reason: sealed.flatMap { try? keys.openJSON($0, context: CallStore.holdContext(callID, auditSeq: auditSeq)).stringValue },
            auditSeq: auditSeq, route: route, receivedAt: receivedAt)
    }

    /// Whether retention purged a call of this id: for the writer and for a hold.
    static func wasPurged(_ callID: String, _ session: PostgresSession) throws -> Bool {
        try session.row("SELECT EXISTS (SELECT 1 FROM events WHERE call_id = \(callID) AND purged_by IS NOT NULL) AS purged")
            .map { try $0["purged"].decode(Bool.self) } ?? false
    }
}
