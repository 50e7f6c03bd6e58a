import Foundation
import GRDB
import HotlineCore

/// What issue 16 asks of the log: the handover lists, legal holds, and each call's grade
/// and marking history (read from its chained events, so it is as tamper-evident as they).
extension CallStore {

    /// The calls open at `asOf` (received before it, not ended by it), and those that had
    /// ended by then without an outcome and have none yet; counts exact, lists capped at
    /// `limit`, oldest first. Each set is a union of index ranges (``HandoverSQL``).
    public func handover(from: Timestamp, to: Timestamp, asOf: Timestamp, limit: Int) throws -> Handover {
        try pool.read { db in
            let at = asOf.microseconds
            func calls(_ sql: String) throws -> [HandoverCall] {
                try Self.decodeRows(db, sql: sql, arguments: [at, limit]) {
                    HandoverCall(try self.callState($0, withSecrets: false), asOf: asOf)
                }
            }
            return try HandoverSQL.handover(
                asOf: asOf,
                tally: { sql in
                    let row = try Row.fetchOne(db, sql: sql, arguments: [at])
                    return (row?[0] ?? 0, row?[1] ?? 0)
                }, calls: calls)
        }
    }

    /// Each call's initial grade and grade changes (from its events' acknowledgements), and
    /// whether it is held: the export's extra columns for a page of calls. Only the events
    /// that can change a grade are read: its start, and updates that set a grade or the
    /// threat-to-life flag (CallPolicy changes it for nothing else), found by a plain
    /// substring of the canonical body. A body that merely contains the word elsewhere (a
    /// handler named "grade") adds an event whose grade did not change: never a change
    /// counted that was not one, and no change can be missed.
    func exportExtras(_ ids: [String], _ db: Database) throws -> [String: (initial: String?, changes: Int, held: Bool)] {
        guard !ids.isEmpty else { return [:] }
        let list = JSONWriter.string(.array(ids.map(JSONValue.string)))
        var grades: [String: [String]] = [:]
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT call_id, json_extract(ack, '$.grade') AS grade FROM events
                WHERE call_id IN (SELECT value FROM json_each(?)) AND purged_by IS NULL
                  AND (op = 'call.start'
                       OR (op = 'call.update' AND (instr(body, '"grade"') > 0 OR instr(body, '"threat_to_life"') > 0)))
                ORDER BY seq
                """, arguments: [list])
        while let row = try rows.next() {
            if let g = row["grade"] as String? { grades[row["call_id"], default: []].append(g) }
        }
        let held = Set(
            try String.fetchAll(db, sql: "SELECT call_id FROM holds WHERE call_id IN (SELECT value FROM json_each(?))", arguments: [list]))
        var out: [String: (initial: String?, changes: Int, held: Bool)] = [:]
        for id in ids {
            let g = ClassificationHistory.grades(grades[id] ?? [])
            out[id] = (g.initial, g.changes, held.contains(id))
        }
        return out
    }

    /// Call `id`'s grade and marking history, from its events in order; the reasons opened.
    func history(of id: String, _ db: Database) throws -> [ClassificationChange] {
        var history = ClassificationHistory()
        let rows = try Row.fetchCursor(
            db,
            sql:
                "SELECT seq, op, body, ack, secret, recorded_at, peer_uid FROM events WHERE call_id = ? AND purged_by IS NULL ORDER BY seq",
            arguments: [id])
        while let row = try rows.next() {
            guard let body = try? JSONParser.parse(Array((row["body"] as String).utf8)),
                let ack = try? JSONParser.parse(Array((row["ack"] as String).utf8))
            else { continue }
            let seq: Int64 = row["seq"]
            let secret: Data? = row["secret"]
            history.add(
                .init(
                    seq: seq, op: row["op"], body: body, ack: ack, recordedAt: Timestamp(microseconds: row["recorded_at"]),
                    uid: UInt32(truncatingIfNeeded: row["peer_uid"] as Int64))
            ) {
                secret.flatMap { try? self.keys.openJSON($0, context: "\(id)/event/\(seq)")["reason"]?.stringValue }
            }
        }
        return history.changes
    }

    // MARK: - Legal hold

    /// Puts call `callID` on legal hold for `peer`, audited in the same transaction.
    public func placeHold(callID: String, by peer: Peer, reason: String, at now: Timestamp) throws -> LegalHold {
        let hold = try writeRestoringHeads { db -> (LegalHold, Chain.Head) in
            guard let row = try Row.fetchOne(db, sql: "SELECT route, received_at FROM calls WHERE call_id = ?", arguments: [callID]) else {
                throw Self.noSuchCall(callID, purged: try self.wasPurged(callID, db))
            }
            if let since = try Int64.fetchOne(db, sql: "SELECT held_at FROM holds WHERE call_id = ?", arguments: [callID]) {
                throw HotlineError(
                    .conflict, "Call \(callID) has been on legal hold since \(Timestamp(microseconds: since).rfc3339).", field: "call_id")
            }
            let head = try self.appendAudit(
                AuditEntry(peer: peer, op: AuditOp.hold, at: now, detail: ["call_ids": [.string(callID)], "result": "ok"], reason: reason),
                db)
            let sealed = try self.keys.sealJSON(.string(reason), context: Self.holdContext(callID, auditSeq: head.seq))
            try db.execute(
                sql: "INSERT INTO holds (call_id, held_at, held_by, role, reason, audit_seq) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [callID, now.microseconds, Int64(peer.uid), peer.primaryRole?.rawValue, sealed, head.seq])
            return (
                LegalHold(
                    callID: callID, heldAt: now, heldBy: peer.uid, role: peer.primaryRole, reason: reason, auditSeq: head.seq,
                    route: row["route"], receivedAt: Timestamp(microseconds: row["received_at"])), head
            )
        }
        try syncLog()
        publish(events: nil, audit: hold.1)
        return hold.0
    }

    /// Releases call `callID` from legal hold, audited; returns the hold it had.
    public func releaseHold(callID: String, by peer: Peer, reason: String, at now: Timestamp) throws -> LegalHold {
        let released = try writeRestoringHeads { db -> (LegalHold, Chain.Head) in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM holds WHERE call_id = ?", arguments: [callID]) else {
                if try Int.fetchOne(db, sql: "SELECT 1 FROM calls WHERE call_id = ?", arguments: [callID]) == nil {
                    throw Self.noSuchCall(callID, purged: try self.wasPurged(callID, db))
                }
                throw HotlineError(.conflict, "Call \(callID) is not on legal hold.", field: "call_id")
            }
            let call = try Row.fetchOne(db, sql: "SELECT route, received_at FROM calls WHERE call_id = ?", arguments: [callID])
            let hold = self.hold(
                row, route: call?["route"], receivedAt: (call?["received_at"] as Int64?).map(Timestamp.init(microseconds:)))
            let head = try self.appendAudit(
                AuditEntry(
                    peer: peer, op: AuditOp.release, at: now,
                    detail: [
                        "call_ids": [.string(callID)], "held_since": .string(hold.heldAt.rfc3339), "hold_seq": .int(hold.auditSeq),
                        "result": "ok",
                    ],
                    reason: reason), db)
            try db.execute(sql: "DELETE FROM holds WHERE call_id = ?", arguments: [callID])
            return (hold, head)
        }
        try syncLog()
        publish(events: nil, audit: released.1)
        return released.0
    }

    /// Every call on legal hold, longest held first.
    public func holds() throws -> [LegalHold] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT h.*, c.route, c.received_at FROM holds h LEFT JOIN calls c ON c.call_id = h.call_id ORDER BY h.held_at, h.call_id"
            ).map { self.hold($0, route: $0["route"], receivedAt: ($0["received_at"] as Int64?).map(Timestamp.init(microseconds:))) }
        }
    }

    func hold(_ row: Row, route: String?, receivedAt: Timestamp?) -> LegalHold {
        let callID: String = row["call_id"]
        let auditSeq: Int64 = row["audit_seq"]
        let sealed: Data? = row["reason"]
        return LegalHold(
            callID: callID, heldAt: Timestamp(microseconds: row["held_at"]), heldBy: UInt32(truncatingIfNeeded: row["held_by"] as Int64),
            role: (row["role"] as String?).flatMap(Role.init(rawValue:)),
            reason: sealed.flatMap { try? keys.openJSON($0, context: Self.holdContext(callID, auditSeq: auditSeq)).stringValue },
            auditSeq: auditSeq, route: route, receivedAt: receivedAt)
    }

    /// What a hold's reason is sealed for: that hold alone.
    package static func holdContext(_ callID: String, auditSeq: Int64) -> String { "\(callID)/hold/\(auditSeq)" }

    package static func noSuchCall(_ callID: String, purged: Bool) -> HotlineError {
        HotlineError(
            .notFound, purged ? "Call \(callID) was purged by retention: there is nothing left to hold." : "There is no call \(callID).",
            field: "call_id")
    }

    /// Whether retention purged a call of this id (its events kept as tombstones): for the
    /// writer (a purged id is spent) and for a hold (nothing left to hold).
    func wasPurged(_ callID: String, _ db: Database) throws -> Bool {
        try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM events WHERE call_id = ? AND purged_by IS NOT NULL)"),
            arguments: [callID]) == true
    }
}
