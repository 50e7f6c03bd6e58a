import Foundation
import HotlineCore
import HotlineStore
import PostgresNIO

/// The rows of one event in PostgreSQL, inside the batch's transaction on the writer's
/// session: what ``HotlineStore/EventProcessor`` reads and writes, in the same tables and
/// columns as on SQLite (``PostgresSchema``).
struct PostgresEventRows: EventRows {
    let session: PostgresSession
    let keys: KeyRing
    /// Where the audit chain ends, as this transaction has it (an event may append to it).
    let auditHead: AuditHeadBox

    func storedEvent(eventID: String) throws -> StoredEvent? {
        try session.row("SELECT seq, call_id, body, secret, ack FROM events WHERE event_id = \(eventID)").map {
            StoredEvent(
                seq: try $0["seq"].decode(Int64.self), callID: try $0["call_id"].decode(String.self),
                body: try $0["body"].decode(String.self), secret: try $0["secret"].decode(Data?.self),
                ack: try $0["ack"].decode(String.self))
        }
    }

    func storedIdentity(seq: Int64) throws -> Data? {
        try session.row("SELECT secret FROM event_identity WHERE seq = \(seq)").map { try $0["secret"].decode(Data.self) }
    }

    func callRow(callID: String) throws -> CallRow? {
        try session.row("SELECT * FROM calls WHERE call_id = \(callID)").map(PostgresCallRow.decode)
    }

    func wasPurged(callID: String) throws -> Bool { try PostgresLog.wasPurged(callID, session) }

    func insertEvent(_ c: Chain.EventContent, digest: Data, hash: Data, mac: Data) throws {
        try session.execute(
            """
            INSERT INTO events (
                seq, event_id, call_id, op, body, secret, ack, recorded_at, peer_uid, peer_pid,
                identity_commitment, digest, hash, mac)
            VALUES (\(c.seq), \(c.eventID), \(c.callID), \(c.op), \(c.body), \(c.secret), \(c.ack), \(c.recordedAt),
                \(c.peerUID), \(c.peerPID), \(c.identityCommitment), \(digest), \(hash), \(mac))
            """)
    }

    func eraseIdentities(callID: String) throws {
        try session.execute("DELETE FROM event_identity WHERE call_id = \(callID)")
    }

    func insertIdentity(seq: Int64, callID: String, sealed: Data) throws {
        try session.execute("INSERT INTO event_identity (seq, call_id, secret) VALUES (\(seq), \(callID), \(sealed))")
    }

    func insertAlert(_ a: Alert, sinks: [AlertSink], now: Timestamp) throws {
        try session.execute(
            """
            INSERT INTO alerts (alert_id, call_id, seq, route, grade, reason, level, raised_at, channel)
            VALUES (\(a.id), \(a.callID), \(a.seq), \(a.route), \(a.grade.rawValue), \(a.reason.rawValue), \(a.level),
                \(a.raisedAt.microseconds), \(a.channel.rawValue))
            """)
        try Self.enqueue(a, sinks: sinks, now: now, session)
    }

    /// Queues `alert` for each of `sinks` at its current level (inside the caller's transaction).
    static func enqueue(_ alert: Alert, sinks: [AlertSink], now: Timestamp, _ session: PostgresSession) throws {
        let payload = JSONWriter.string(alert.json)
        for sink in sinks {
            try session.execute(
                """
                INSERT INTO alert_outbox (alert_id, level, sink, payload, next_attempt_at)
                VALUES (\(alert.id), \(alert.level), \(sink.name), \(payload), \(now.microseconds))
                ON CONFLICT (alert_id, level, sink) DO NOTHING
                """)
        }
    }

    func saveProjection(_ row: CallRow, isNew: Bool) throws {
        try session.execute(isNew ? try PostgresCallRow.insert(row) : try PostgresCallRow.update(row))
    }

    func appendAudit(_ entry: AuditEntry) throws -> Chain.Head {
        let previous = try auditHead.head ?? auditHead.start()
        let head = try PostgresAudit.append(entry, after: previous, keys: keys, session)
        auditHead.head = head
        return head
    }
}

/// The audit chain's end as the writer's transaction has it; put back if an event rolls back.
final class AuditHeadBox {
    /// Nil until the batch first appends to the audit log (few do): then `start` finds
    /// where the chain goes on.
    var head: Chain.Head?
    let start: () throws -> Chain.Head
    init(start: @escaping () throws -> Chain.Head) { self.start = start }
}

/// `calls` rows in PostgreSQL: the same columns as ``HotlineStore/CallRow``'s, in
/// PostgreSQL's types (booleans are booleans).
enum PostgresCallRow {
    static func decode(_ r: PostgresRandomAccessRow) throws -> CallRow {
        var state = CallState(
            id: try r["call_id"].decode(String.self), dialled: try r["dialled"].decode(String.self),
            route: try r["route"].decode(String.self),
            routeAnonymity: Anonymity(rawValue: try r["route_anonymity"].decode(String.self)) ?? .allowed,
            routeGrade: Grade(rawValue: try r["route_grade"].decode(String.self)) ?? .scheduled,
            grade: Grade(rawValue: try r["grade"].decode(String.self)) ?? .scheduled,
            marking: Marking(rawValue: try r["marking"].decode(String.self)) ?? .secret,
            anonymous: try r["anonymous"].decode(Bool.self), anonymousRequested: try r["anonymous_requested"].decode(Bool.self),
            escalated: try r["escalated"].decode(Bool.self), threatAlertRaised: try r["threat_alert_raised"].decode(Bool.self),
            category: try r["category"].decode(String?.self), flags: [:], outcome: try r["outcome"].decode(String?.self),
            receivedAt: Timestamp(microseconds: try r["received_at"].decode(Int64.self)),
            answeredAt: try r["answered_at"].decode(Int64?.self).map(Timestamp.init(microseconds:)),
            endedAt: try r["ended_at"].decode(Int64?.self).map(Timestamp.init(microseconds:)),
            workstation: try r["workstation"].decode(String?.self), handler: try r["handler"].decode(String?.self),
            ownerUID: UInt32(truncatingIfNeeded: try r["owner_uid"].decode(Int64.self)),
            firstSeq: try r["first_seq"].decode(Int64.self), lastSeq: try r["last_seq"].decode(Int64.self))
        state.flags = CallRow.flags(fromColumn: try r["flags"].decode(String.self))
        state.channel = CallChannel(rawValue: try r["channel"].decode(String.self)) ?? .voice
        state.relay = CallRow.relay(
            kind: try r["relay_kind"].decode(String?.self), reference: try r["relay_reference"].decode(String?.self))
        state.formReference = try r["form_reference"].decode(String?.self)
        return CallRow(
            state: state, sealedLocation: try r["location"].decode(Data?.self), sealedIdentity: try r["identity"].decode(Data?.self))
    }

    static func insert(_ row: CallRow) throws -> PostgresQuery {
        let s = row.state
        return try """
        INSERT INTO calls (
            call_id, dialled, route, route_anonymity, route_grade, grade, marking, anonymous, anonymous_requested,
            escalated, threat_alert_raised, category, location, flags, outcome, received_at, answered_at, ended_at,
            workstation, handler, owner_uid, identity, first_seq, last_seq, channel, relay_kind, relay_reference,
            form_reference)
        VALUES (\(s.id), \(s.dialled), \(s.route), \(s.routeAnonymity.rawValue), \(s.routeGrade.rawValue),
            \(s.grade.rawValue), \(s.marking.rawValue), \(s.anonymous), \(s.anonymousRequested), \(s.escalated),
            \(s.threatAlertRaised), \(s.category), \(row.sealedLocation), \(CallRow.flagsColumn(s)), \(s.outcome),
            \(s.receivedAt.microseconds), \(s.answeredAt?.microseconds), \(s.endedAt?.microseconds), \(s.workstation),
            \(s.handler), \(Int64(s.ownerUID)), \(row.sealedIdentity), \(s.firstSeq), \(s.lastSeq),
            \(s.channel.rawValue), \(s.relay?.kind.rawValue), \(s.relay?.reference), \(s.formReference))
        """
    }

    /// The columns a call's later events may change (``HotlineStore/CallRow/changing``).
    static func update(_ row: CallRow) throws -> PostgresQuery {
        let s = row.state
        return try """
        UPDATE calls SET grade = \(s.grade.rawValue), marking = \(s.marking.rawValue), anonymous = \(s.anonymous),
            anonymous_requested = \(s.anonymousRequested), escalated = \(s.escalated),
            threat_alert_raised = \(s.threatAlertRaised), category = \(s.category), location = \(row.sealedLocation),
            flags = \(CallRow.flagsColumn(s)), outcome = \(s.outcome), ended_at = \(s.endedAt?.microseconds),
            answered_at = \(s.answeredAt?.microseconds),
            identity = \(row.sealedIdentity), last_seq = \(s.lastSeq),
            relay_kind = \(s.relay?.kind.rawValue), relay_reference = \(s.relay?.reference)
        WHERE call_id = \(s.id)
        """
    }
}

/// The audit log in PostgreSQL: entries chained as on SQLite (``HotlineStore/Chain``).
enum PostgresAudit {
    /// The audit chain's last entry, or ``Chain/Head/empty``.
    static func last(_ session: PostgresSession) throws -> Chain.Head {
        try session.row("SELECT seq, hash, mac FROM audit ORDER BY seq DESC LIMIT 1").map {
            Chain.Head(
                seq: try $0["seq"].decode(Int64.self), hash: try $0["hash"].decode(Data.self),
                mac: try $0["mac"].decode(Data?.self) ?? Data())
        } ?? .empty
    }

    /// Appends `entry` after `previous` (its reason sealed for this entry alone); the new head.
    static func append(_ entry: AuditEntry, after previous: Chain.Head, keys: KeyRing, _ session: PostgresSession) throws
        -> Chain.Head
    {
        let seq = previous.seq + 1
        var detail = entry.detail
        if let reason = entry.reason {
            let sealed = try keys.seal(Array(reason.utf8), context: AuditEntry.reasonContext(seq: seq))
            detail[AuditEntry.sealedReasonKey] = .string(sealed.base64EncodedString())
        }
        let c = Chain.AuditContent(
            seq: seq, at: entry.at.microseconds, uid: Int64(entry.uid), pid: Int64(entry.pid), role: entry.role?.rawValue,
            op: entry.op, detail: JSONWriter.string(.object(detail)))
        let digest = c.digest
        let hash = Chain.link(previous.hash, digest)
        let mac = keys.chainMAC(after: previous.mac, digest: digest)
        try session.execute(
            """
            INSERT INTO audit (seq, at, uid, pid, role, op, detail, digest, hash, mac)
            VALUES (\(c.seq), \(c.at), \(c.uid), \(c.pid), \(c.role), \(c.op), \(c.detail), \(digest), \(hash), \(mac))
            """)
        return Chain.Head(seq: seq, hash: hash, mac: mac)
    }
}
