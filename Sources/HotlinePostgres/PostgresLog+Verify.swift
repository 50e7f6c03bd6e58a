import Foundation
import HotlineCore
import HotlineStore
import PostgresNIO

extension PostgresLog {
    /// Walks both chains, the projection and the identity rows of the whole log (every
    /// room's), as on SQLite (``HotlineStore/ChainVerifier``), in one snapshot of the primary;
    /// the ends this daemon committed are anchors.
    public func verify() throws -> VerifyReport {
        let heads = self.heads
        return try reading { session in
            try session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { try? session.execute("COMMIT") }
            return try ChainVerifier.verify(
                PostgresVerifySource(session: session), keys: keys, eventAnchors: heads.events.seq > 0 ? [heads.events] : [],
                auditAnchors: heads.audit.seq > 0 ? [heads.audit] : [])
        }
    }

    /// A tombstone's kept columns (``HotlineStore/Chain/Tombstones/columns``) from a row
    /// that has them, as SQLite's values would be hashed.
    static func tombstoneValues(_ r: PostgresRandomAccessRow) throws -> [Chain.Tombstones.Value] {
        [
            .integer(try r["seq"].decode(Int64.self)), .text(try r["event_id"].decode(String.self)),
            .text(try r["call_id"].decode(String.self)), .text(try r["op"].decode(String.self)),
            .integer(try r["recorded_at"].decode(Int64.self)), .integer(try r["peer_uid"].decode(Int64.self)),
            .integer(try r["peer_pid"].decode(Int64.self)),
            try r["identity_commitment"].decode(Data?.self).map { .blob($0) } ?? .null,
            try r["digest"].decode(Data?.self).map { .blob($0) } ?? .null,
        ]
    }
}

/// The log on PostgreSQL read for `verify`, on a session inside the caller's snapshot
/// (REPEATABLE READ). Each walk is read in pages by its key, so that neither the server nor
/// this process holds the whole log at once; every page sees the same snapshot.
struct PostgresVerifySource: VerifySource {
    let session: PostgresSession
    static let pageSize: Int64 = 2000

    /// Columns are typed: no value of another type can be there.
    func preflight() throws -> [String] { [] }

    func hasKeyedLinks() throws -> Bool {
        let row = try session.row(
            """
            SELECT count(DISTINCT table_name) AS n FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name IN ('events', 'audit') AND lower(column_name) = 'mac'
            """)
        return try row?["n"].decode(Int64.self) == 2
    }

    /// The `mac` column's name as it is now (a renamed column is still the one the daemon
    /// wrote, as on SQLite), quoted for a select list.
    private func macColumn(_ table: String) throws -> String {
        let row = try session.row(
            """
            SELECT column_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = \(table) AND lower(column_name) = 'mac' LIMIT 1
            """)
        let name = try row?["column_name"].decode(String.self) ?? "mac"
        return "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Runs `sql` (which must take the last key as `$1` and end `ORDER BY key LIMIT $2`)
    /// page after page, giving each row to `body` and the key to read after it to `key`.
    /// `also` are bound as `$3` on.
    private func paged<Key: PostgresEncodable & Sendable>(
        _ sql: String, from first: Key, also: [String] = [], key: (PostgresRandomAccessRow) throws -> Key,
        _ body: (PostgresRandomAccessRow) throws -> Void
    ) throws {
        var after = first
        while true {
            var binds = PostgresBindings()
            try binds.append(after, context: .default)
            binds.append(Self.pageSize)
            for value in also { binds.append(value) }
            let rows = try session.rows(PostgresQuery(unsafeSQL: sql, binds: binds))
            for row in rows {
                let r = row.makeRandomAccess()
                try body(r)
                after = try key(r)
            }
            if rows.count < Self.pageSize { return }
        }
    }

    func forEachAudit(withMACs: Bool, _ body: (VerifyRecords.Audit) throws -> Void) throws {
        let mac = withMACs ? try macColumn("audit") : "NULL::bytea"
        try paged(
            "SELECT seq, at, uid, pid, role, op, detail, digest, hash, \(mac) AS mac FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
            from: Int64.min, key: { try $0["seq"].decode(Int64.self) }
        ) { r in
            try body(
                VerifyRecords.Audit(
                    content: Chain.AuditContent(
                        seq: try r["seq"].decode(Int64.self), at: try r["at"].decode(Int64.self), uid: try r["uid"].decode(Int64.self),
                        pid: try r["pid"].decode(Int64.self), role: try r["role"].decode(String?.self), op: try r["op"].decode(String.self),
                        detail: try r["detail"].decode(String.self)),
                    digest: try r["digest"].decode(Data?.self), hash: try r["hash"].decode(Data.self), mac: try r["mac"].decode(Data?.self))
            )
        }
    }

    func forEachEvent(withMACs: Bool, _ body: (VerifyRecords.Event) throws -> Void) throws {
        let mac = withMACs ? try macColumn("events") : "NULL::bytea"
        try paged(
            """
            SELECT seq, event_id, call_id, op, body, secret, ack, recorded_at, peer_uid, peer_pid, identity_commitment,
                   digest, hash, purged_by, \(mac) AS mac
            FROM events WHERE seq > $1 ORDER BY seq LIMIT $2
            """,
            from: Int64.min, key: { try $0["seq"].decode(Int64.self) }
        ) { r in
            let purgedBy = try r["purged_by"].decode(Int64?.self)
            let content = Chain.EventContent(
                seq: try r["seq"].decode(Int64.self), eventID: try r["event_id"].decode(String.self),
                callID: try r["call_id"].decode(String.self), op: try r["op"].decode(String.self), body: try r["body"].decode(String.self),
                secret: try r["secret"].decode(Data?.self), ack: try r["ack"].decode(String.self),
                recordedAt: try r["recorded_at"].decode(Int64.self), peerUID: try r["peer_uid"].decode(Int64.self),
                peerPID: try r["peer_pid"].decode(Int64.self), identityCommitment: try r["identity_commitment"].decode(Data?.self))
            try body(
                VerifyRecords.Event(
                    content: content, digest: try r["digest"].decode(Data?.self), hash: try r["hash"].decode(Data?.self),
                    mac: try r["mac"].decode(Data?.self), purgedBy: purgedBy,
                    tombstone: purgedBy == nil ? nil : try PostgresLog.tombstoneValues(r)))
        }
    }

    func forEachCall(_ body: (VerifyRecords.Projection) throws -> Void) throws {
        try paged(
            "SELECT * FROM (\(VerifySQL.projection())) p WHERE call_id > $1 ORDER BY call_id LIMIT $2", from: "",
            key: { try $0["call_id"].decode(String.self) }
        ) { r in
            var p = VerifyRecords.Projection(
                callID: try r["call_id"].decode(String.self), hasIdentityRows: try r["has_identity_rows"].decode(Bool.self))
            p.route = try r["route"].decode(String?.self)
            p.grade = try r["grade"].decode(String?.self)
            p.marking = try r["marking"].decode(String?.self)
            p.anonymous = try r["anonymous"].decode(Bool?.self)
            p.escalated = try r["escalated"].decode(Bool?.self)
            p.outcome = try r["outcome"].decode(String?.self)
            p.endedAt = try r["ended_at"].decode(Int64?.self)
            p.lastSeq = try r["last_seq"].decode(Int64?.self)
            p.lastCall = try r["last_call"].decode(String?.self)
            p.lastAck = try r["last_ack"].decode(String?.self)
            p.ownerUID = try r["owner_uid"].decode(Int64?.self)
            p.receivedAt = try r["received_at"].decode(Int64?.self)
            p.answeredAt = try r["answered_at"].decode(Int64?.self)
            p.identity = try r["identity_sealed"].decode(Data?.self)
            p.dialled = try r["dialled"].decode(String?.self)
            p.routeAnonymity = try r["route_anonymity"].decode(String?.self)
            p.routeGrade = try r["route_grade"].decode(String?.self)
            p.anonymousRequested = try r["anonymous_requested"].decode(Bool?.self)
            p.threatAlertRaised = try r["threat_alert_raised"].decode(Bool?.self)
            p.category = try r["category"].decode(String?.self)
            p.flags = try r["flags"].decode(String?.self)
            p.workstation = try r["workstation"].decode(String?.self)
            p.handler = try r["handler"].decode(String?.self)
            p.channel = try r["channel"].decode(String?.self)
            p.relayKind = try r["relay_kind"].decode(String?.self)
            p.relayReference = try r["relay_reference"].decode(String?.self)
            p.formReference = try r["form_reference"].decode(String?.self)
            p.location = try r["location"].decode(Data?.self)
            p.startCall = try r["start_call"].decode(String?.self)
            p.startOp = try r["start_op"].decode(String?.self)
            p.startBody = try r["start_body"].decode(String?.self)
            p.startAck = try r["start_ack"].decode(String?.self)
            p.startUID = try r["start_uid"].decode(Int64?.self)
            p.maxSeq = try r["max_seq"].decode(Int64?.self)
            p.endBody = try r["end_body"].decode(String?.self)
            try body(p)
        }
    }

    func forEachEvent(ofCall id: String, _ body: (VerifyRecords.CallEvent) throws -> Void) throws {
        try paged(
            "SELECT seq, op, body, ack, secret FROM events WHERE call_id = $3 AND purged_by IS NULL AND seq > $1 ORDER BY seq LIMIT $2",
            from: Int64.min, also: [id], key: { try $0["seq"].decode(Int64.self) }
        ) { r in
            try body(
                VerifyRecords.CallEvent(
                    seq: try r["seq"].decode(Int64.self), op: try r["op"].decode(String.self), body: try r["body"].decode(String.self),
                    ack: try r["ack"].decode(String.self), secret: try r["secret"].decode(Data?.self)))
        }
    }

    func forEachIdentity(ofCall id: String, _ body: (Int64, Data) throws -> Void) throws {
        for row in try session.rows("SELECT seq, secret FROM event_identity WHERE call_id = \(id) ORDER BY seq") {
            let r = row.makeRandomAccess()
            try body(try r["seq"].decode(Int64.self), try r["secret"].decode(Data.self))
        }
    }

    func forEachIdentityCheck(_ body: (VerifyRecords.IdentityCheck) throws -> Void) throws {
        // VerifySQL.identityCheck's two halves, each paged by its own key.
        try paged(
            """
            SELECT i.seq AS identity_seq, i.call_id AS identity_call, i.secret,
                   e.seq, e.call_id, e.identity_commitment, e.purged_by
            FROM event_identity i LEFT JOIN events e ON e.seq = i.seq WHERE i.seq > $1 ORDER BY i.seq LIMIT $2
            """,
            from: Int64.min, key: { try $0["identity_seq"].decode(Int64.self) }
        ) { r in
            try body(
                VerifyRecords.IdentityCheck(
                    identitySeq: try r["identity_seq"].decode(Int64.self), identityCall: try r["identity_call"].decode(String.self),
                    secret: try r["secret"].decode(Data.self), seq: try r["seq"].decode(Int64?.self),
                    callID: try r["call_id"].decode(String?.self), identityCommitment: try r["identity_commitment"].decode(Data?.self),
                    purgedBy: try r["purged_by"].decode(Int64?.self)))
        }
        try paged(
            """
            SELECT e.seq, e.call_id, e.identity_commitment, e.purged_by FROM events e
            WHERE e.identity_commitment IS NOT NULL AND NOT EXISTS (SELECT 1 FROM event_identity i WHERE i.seq = e.seq)
              AND e.seq > $1 ORDER BY e.seq LIMIT $2
            """,
            from: Int64.min, key: { try $0["seq"].decode(Int64.self) }
        ) { r in
            try body(
                VerifyRecords.IdentityCheck(
                    identitySeq: nil, identityCall: nil, secret: nil, seq: try r["seq"].decode(Int64.self),
                    callID: try r["call_id"].decode(String.self), identityCommitment: try r["identity_commitment"].decode(Data?.self),
                    purgedBy: try r["purged_by"].decode(Int64?.self)))
        }
    }

    func anonymousCalls() throws -> Set<String> {
        Set(
            try session.rows(PostgresQuery(unsafeSQL: VerifySQL.anonymousCalls)).map {
                try $0.makeRandomAccess()["call_id"].decode(String.self)
            })
    }

    func callsMissingFromProjection() throws -> [String] {
        try session.rows(PostgresQuery(unsafeSQL: VerifySQL.callsMissingFromProjection)).map {
            try $0.makeRandomAccess()["call_id"].decode(String.self)
        }
    }

    func alertsOffTheirCallsChannel() throws -> [(alertID: String, callID: String)] {
        try session.rows(PostgresQuery(unsafeSQL: VerifySQL.alertsOffTheirCallsChannel)).map {
            let r = $0.makeRandomAccess()
            return (try r["alert_id"].decode(String.self), try r["call_id"].decode(String.self))
        }
    }

    func forEachHold(_ body: (VerifyRecords.Hold) throws -> Void) throws {
        for row in try session.rows("SELECT call_id, audit_seq, held_at, held_by FROM holds ORDER BY call_id") {
            let r = row.makeRandomAccess()
            try body(
                VerifyRecords.Hold(
                    callID: try r["call_id"].decode(String?.self), auditSeq: try r["audit_seq"].decode(Int64?.self),
                    heldAt: try r["held_at"].decode(Int64?.self), heldBy: try r["held_by"].decode(Int64?.self)))
        }
    }
}
