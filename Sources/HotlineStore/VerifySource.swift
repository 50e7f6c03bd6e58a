import Foundation
import GRDB

/// What `verify` reads of a log, whatever the engine keeps it in (``ChainVerifier``): both
/// chains in order, the projection beside what its events say, and the identity rows. Each
/// walk hands its rows to `body` one at a time, so that a log of any length is checked in
/// bounded memory. A source reads one snapshot for the whole of a `verify`.
package protocol VerifySource {
    /// Problems that stop the walk before it starts: SQLite's values of a type hotlined
    /// never writes (its columns take any type); none on an engine whose columns are typed.
    func preflight() throws -> [String]
    /// Whether both chains have their keyed-link column (`mac`, named without regard to case).
    func hasKeyedLinks() throws -> Bool
    /// The audit chain in `seq` order; `mac` read when `withMACs`.
    func forEachAudit(withMACs: Bool, _ body: (VerifyRecords.Audit) throws -> Void) throws
    /// The event chain in `seq` order; `mac` read when `withMACs`.
    func forEachEvent(withMACs: Bool, _ body: (VerifyRecords.Event) throws -> Void) throws
    /// Every call of the projection, with the events it names.
    func forEachCall(_ body: (VerifyRecords.Projection) throws -> Void) throws
    /// Call `id`'s events that retention has not purged, in `seq` order.
    func forEachEvent(ofCall id: String, _ body: (VerifyRecords.CallEvent) throws -> Void) throws
    /// Call `id`'s identity rows, in `seq` order.
    func forEachIdentity(ofCall id: String, _ body: (_ seq: Int64, _ secret: Data) throws -> Void) throws
    /// Every identity row with its event, then every event committed to an identity that has
    /// no row.
    func forEachIdentityCheck(_ body: (VerifyRecords.IdentityCheck) throws -> Void) throws
    /// The calls some acknowledgement records as anonymous.
    func anonymousCalls() throws -> Set<String>
    /// Calls with unpurged events in the log and no row in the projection.
    func callsMissingFromProjection() throws -> [String]
    /// Every legal hold in the holds table (none in a log from before issue 16).
    func forEachHold(_ body: (VerifyRecords.Hold) throws -> Void) throws
    /// Alerts whose channel is not their call's (none in a log from before issue 18), as
    /// (alert id, call id).
    func alertsOffTheirCallsChannel() throws -> [(alertID: String, callID: String)]
}

/// The rows a ``VerifySource`` gives, as plain values.
package enum VerifyRecords {
    /// A row of the holds table, as stored (any column may be missing in a file edited by hand).
    package struct Hold {
        package var callID: String?
        package var auditSeq, heldAt, heldBy: Int64?

        package init(callID: String?, auditSeq: Int64?, heldAt: Int64?, heldBy: Int64?) {
            (self.callID, self.auditSeq, self.heldAt, self.heldBy) = (callID, auditSeq, heldAt, heldBy)
        }
    }

    package struct Audit {
        package var content: Chain.AuditContent
        package var digest: Data?
        package var hash: Data
        package var mac: Data?

        package init(content: Chain.AuditContent, digest: Data?, hash: Data, mac: Data?) {
            (self.content, self.digest, self.hash, self.mac) = (content, digest, hash, mac)
        }
    }

    package struct Event {
        /// The row's chained columns (a tombstone's body and ack are empty, its secret nil).
        package var content: Chain.EventContent
        package var digest: Data?
        package var hash: Data?
        package var mac: Data?
        package var purgedBy: Int64?
        /// A tombstone's kept columns (``Chain/Tombstones/columns``) as stored; nil otherwise.
        package var tombstone: [Chain.Tombstones.Value]?

        package init(
            content: Chain.EventContent, digest: Data?, hash: Data?, mac: Data?, purgedBy: Int64?, tombstone: [Chain.Tombstones.Value]?
        ) {
            (self.content, self.digest, self.hash, self.mac, self.purgedBy, self.tombstone) =
                (content, digest, hash, mac, purgedBy, tombstone)
        }
    }

    /// A call's row in the projection, with its first and last events' columns and its
    /// `call.end`'s body.
    package struct Projection {
        package var callID: String
        package var route, grade, marking: String?
        package var anonymous, escalated: Bool?
        package var outcome: String?
        package var endedAt: Int64?
        package var lastSeq: Int64?
        package var ownerUID, receivedAt, answeredAt: Int64?
        /// The sealed identity the projection holds, if any.
        package var identity: Data?
        package var dialled, routeAnonymity, routeGrade: String?
        package var anonymousRequested, threatAlertRaised: Bool?
        package var category, flags, workstation, handler: String?
        package var location: Data?
        /// Issue 18's columns.
        package var channel, relayKind, relayReference, formReference: String?
        package var hasIdentityRows: Bool
        /// The event at `last_seq`.
        package var lastCall, lastAck: String?
        /// The event at `first_seq`.
        package var startCall, startOp, startBody, startAck: String?
        package var startUID: Int64?
        /// The call's highest `seq` in the log.
        package var maxSeq: Int64?
        package var endBody: String?

        package init(callID: String, hasIdentityRows: Bool) {
            self.callID = callID
            self.hasIdentityRows = hasIdentityRows
        }
    }

    package struct CallEvent {
        package var seq: Int64
        package var op: String
        package var body: String
        package var ack: String
        package var secret: Data?

        package init(seq: Int64, op: String, body: String, ack: String, secret: Data?) {
            (self.seq, self.op, self.body, self.ack, self.secret) = (seq, op, body, ack, secret)
        }
    }

    /// An identity row (`secret` set) with the event of its `seq`, if any; or (`secret`
    /// nil) an event committed to an identity that has no row.
    package struct IdentityCheck {
        package var identitySeq: Int64?
        package var identityCall: String?
        package var secret: Data?
        package var seq: Int64?
        package var callID: String?
        package var identityCommitment: Data?
        package var purgedBy: Int64?

        package init(
            identitySeq: Int64?, identityCall: String?, secret: Data?, seq: Int64?, callID: String?, identityCommitment: Data?,
            purgedBy: Int64?
        ) {
            (self.identitySeq, self.identityCall, self.secret, self.seq, self.callID, self.identityCommitment, self.purgedBy) =
                (identitySeq, identityCall, secret, seq, callID, identityCommitment, purgedBy)
        }
    }
}

/// The SQL both engines' sources share: the projection joined to its events, and the
/// identity check (standard SQL, the same text on SQLite and PostgreSQL).
package enum VerifySQL {
    /// The projection; `hasChannels` false for a log from before issue 18 (offline, a file
    /// the daemon has not opened since): every call a voice call, as the daemon would
    /// migrate it.
    package static func projection(hasChannels: Bool = true) -> String {
        let channels =
            hasChannels
            ? "c.channel, c.relay_kind, c.relay_reference, c.form_reference"
            : "'voice' AS channel, NULL AS relay_kind, NULL AS relay_reference, NULL AS form_reference"
        return """
                SELECT c.call_id, c.route, c.grade, c.marking, c.anonymous, c.escalated, c.outcome, c.ended_at,
                   c.last_seq, e.call_id AS last_call, e.ack AS last_ack,
                   c.owner_uid, c.received_at, c.answered_at, c.identity AS identity_sealed,
                   c.dialled, c.route_anonymity, c.route_grade, c.anonymous_requested, c.threat_alert_raised,
                   c.category, c.flags, c.workstation, c.handler, c.location, c.first_seq,
                   \(channels),
                   s.ack AS start_ack,
                   EXISTS (SELECT 1 FROM event_identity i WHERE i.call_id = c.call_id) AS has_identity_rows,
                   s.call_id AS start_call, s.op AS start_op, s.peer_uid AS start_uid, s.body AS start_body,
                   (SELECT MAX(seq) FROM events WHERE call_id = c.call_id) AS max_seq,
                   (SELECT body FROM events WHERE call_id = c.call_id AND op = 'call.end' ORDER BY seq LIMIT 1) AS end_body
            FROM calls c LEFT JOIN events e ON e.seq = c.last_seq LEFT JOIN events s ON s.seq = c.first_seq
            """
    }

    /// Alerts whose channel is not their call's (issue 18).
    package static let alertsOffTheirCallsChannel = """
        SELECT a.alert_id, a.call_id FROM alerts a JOIN calls c ON c.call_id = a.call_id
        WHERE a.channel IS DISTINCT FROM c.channel ORDER BY a.seq
        """

    package static let identityCheck = """
        SELECT i.seq AS identity_seq, i.call_id AS identity_call, i.secret,
               e.seq, e.call_id, e.identity_commitment, e.purged_by
        FROM event_identity i LEFT JOIN events e ON e.seq = i.seq
        UNION ALL
        SELECT NULL, NULL, NULL, e.seq, e.call_id, e.identity_commitment, e.purged_by
        FROM events e
        WHERE e.identity_commitment IS NOT NULL AND NOT EXISTS (SELECT 1 FROM event_identity i WHERE i.seq = e.seq)
        """

    package static let anonymousCalls = "SELECT DISTINCT call_id FROM events WHERE ack LIKE '%\"anonymous\":true%'"

    package static let callsMissingFromProjection = """
        SELECT DISTINCT call_id FROM events
        WHERE purged_by IS NULL AND call_id NOT IN (SELECT call_id FROM calls) ORDER BY call_id
        """
}

/// A SQLite database read for `verify`, inside the caller's read transaction.
struct SQLiteVerifySource: VerifySource {
    let db: Database

    func preflight() throws -> [String] { try ColumnTypes.problems(db) }

    func hasKeyedLinks() throws -> Bool {
        // Column names are compared as SQLite does, without case: a column renamed MAC is
        // still the one the daemon writes.
        try ["events", "audit"].allSatisfy { table in
            try db.columns(in: table).contains { $0.name.lowercased() == "mac" }
        }
    }

    func forEachAudit(withMACs: Bool, _ body: (VerifyRecords.Audit) throws -> Void) throws {
        let rows = try Row.fetchCursor(db, sql: "SELECT * FROM audit ORDER BY seq")
        while let row = try rows.next() {
            try body(
                VerifyRecords.Audit(
                    content: CallStore.auditContent(row), digest: row["digest"], hash: row["hash"], mac: withMACs ? row["mac"] : nil))
        }
    }

    func forEachEvent(withMACs: Bool, _ body: (VerifyRecords.Event) throws -> Void) throws {
        let rows = try Row.fetchCursor(db, sql: "SELECT * FROM events ORDER BY seq")
        while let row = try rows.next() {
            let purgedBy: Int64? = row["purged_by"]
            // As stored, never decoded to a Swift type (Chain.Tombstones).
            let tombstone = purgedBy == nil ? nil : Chain.Tombstones.values(of: row)
            try body(
                VerifyRecords.Event(
                    content: CallStore.eventContent(row, identityCommitment: row["identity_commitment"]), digest: row["digest"],
                    hash: row["hash"], mac: withMACs ? row["mac"] : nil, purgedBy: purgedBy, tombstone: tombstone))
        }
    }

    func forEachCall(_ body: (VerifyRecords.Projection) throws -> Void) throws {
        let hasChannels = try db.columns(in: "calls").contains { $0.name.lowercased() == "channel" }
        let rows = try Row.fetchCursor(db, sql: VerifySQL.projection(hasChannels: hasChannels))
        while let row = try rows.next() {
            var p = VerifyRecords.Projection(callID: row["call_id"], hasIdentityRows: row["has_identity_rows"])
            (p.route, p.grade, p.marking) = (row["route"], row["grade"], row["marking"])
            (p.anonymous, p.escalated, p.outcome, p.endedAt) = (row["anonymous"], row["escalated"], row["outcome"], row["ended_at"])
            (p.lastSeq, p.lastCall, p.lastAck) = (row["last_seq"], row["last_call"], row["last_ack"])
            (p.ownerUID, p.receivedAt, p.answeredAt) = (row["owner_uid"], row["received_at"], row["answered_at"])
            p.identity = row["identity_sealed"]
            (p.dialled, p.routeAnonymity, p.routeGrade) = (row["dialled"], row["route_anonymity"], row["route_grade"])
            (p.anonymousRequested, p.threatAlertRaised) = (row["anonymous_requested"], row["threat_alert_raised"])
            (p.category, p.flags, p.workstation, p.handler) = (row["category"], row["flags"], row["workstation"], row["handler"])
            p.location = row["location"]
            (p.channel, p.relayKind) = (row["channel"], row["relay_kind"])
            (p.relayReference, p.formReference) = (row["relay_reference"], row["form_reference"])
            (p.startCall, p.startOp, p.startBody, p.startAck) = (row["start_call"], row["start_op"], row["start_body"], row["start_ack"])
            p.startUID = row["start_uid"]
            (p.maxSeq, p.endBody) = (row["max_seq"], row["end_body"])
            try body(p)
        }
    }

    func forEachEvent(ofCall id: String, _ body: (VerifyRecords.CallEvent) throws -> Void) throws {
        let events = try Row.fetchCursor(
            db.cachedStatement(
                sql: "SELECT seq, op, body, ack, secret FROM events WHERE call_id = ? AND purged_by IS NULL ORDER BY seq"),
            arguments: [id])
        while let event = try events.next() {
            try body(
                VerifyRecords.CallEvent(seq: event["seq"], op: event["op"], body: event["body"], ack: event["ack"], secret: event["secret"])
            )
        }
    }

    func forEachIdentity(ofCall id: String, _ body: (Int64, Data) throws -> Void) throws {
        let rows = try Row.fetchCursor(
            db.cachedStatement(sql: "SELECT seq, secret FROM event_identity WHERE call_id = ? ORDER BY seq"), arguments: [id])
        while let row = try rows.next() { try body(row["seq"], row["secret"]) }
    }

    func forEachIdentityCheck(_ body: (VerifyRecords.IdentityCheck) throws -> Void) throws {
        // A cursor: every caller identity of the log at once would cost memory in
        // proportion to the log (the soak saw `verify` add 56 MiB on 354,170 events).
        let rows = try Row.fetchCursor(db, sql: VerifySQL.identityCheck)
        while let row = try rows.next() {
            try body(
                VerifyRecords.IdentityCheck(
                    identitySeq: row["identity_seq"], identityCall: row["identity_call"], secret: row["secret"], seq: row["seq"],
                    callID: row["call_id"], identityCommitment: row["identity_commitment"], purgedBy: row["purged_by"]))
        }
    }

    func anonymousCalls() throws -> Set<String> { Set(try String.fetchAll(db, sql: VerifySQL.anonymousCalls)) }

    func callsMissingFromProjection() throws -> [String] { try String.fetchAll(db, sql: VerifySQL.callsMissingFromProjection) }

    func alertsOffTheirCallsChannel() throws -> [(alertID: String, callID: String)] {
        guard try db.columns(in: "alerts").contains(where: { $0.name.lowercased() == "channel" }) else { return [] }
        return try Row.fetchAll(db, sql: VerifySQL.alertsOffTheirCallsChannel).map {
            (String.fromDatabaseValue($0[0]) ?? "?", String.fromDatabaseValue($0[1]) ?? "?")
        }
    }

    func forEachHold(_ body: (VerifyRecords.Hold) throws -> Void) throws {
        // A file verified offline may be from before the table (v8) existed.
        guard try db.tableExists("holds") else { return }
        // Read as values of any type: a hand-edited row is reported, never a crash.
        let rows = try Row.fetchCursor(db, sql: "SELECT call_id, audit_seq, held_at, held_by FROM holds ORDER BY call_id")
        while let row = try rows.next() {
            try body(
                VerifyRecords.Hold(
                    callID: String.fromDatabaseValue(row[0]), auditSeq: Int64.fromDatabaseValue(row[1]),
                    heldAt: Int64.fromDatabaseValue(row[2]), heldBy: Int64.fromDatabaseValue(row[3])))
        }
    }
}
