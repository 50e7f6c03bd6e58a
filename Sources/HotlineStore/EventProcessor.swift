import Foundation
import HotlineCore

/// The rows an engine reads and writes for one event, inside the transaction of the batch
/// that carries it: all the engine knows of a write. What the rows hold, the policy, the
/// sealing, the chain links and the acknowledgement are ``EventProcessor``'s, the same for
/// every engine.
package protocol EventRows {
    /// The event already stored under `eventID`, if any.
    func storedEvent(eventID: String) throws -> StoredEvent?
    /// The sealed identity stored with the event at `seq`, if any.
    func storedIdentity(seq: Int64) throws -> Data?
    /// The call's projection as stored, its location and identity still sealed.
    func callRow(callID: String) throws -> CallRow?
    /// Whether retention purged a call of this id (its events kept as tombstones).
    func wasPurged(callID: String) throws -> Bool
    /// Appends the event, with its chain links.
    func insertEvent(_ content: Chain.EventContent, digest: Data, hash: Data, mac: Data) throws
    /// Removes every identity stored with the call's events (an anonymity request).
    func eraseIdentities(callID: String) throws
    func insertIdentity(seq: Int64, callID: String, sealed: Data) throws
    /// Writes the alert and queues it for `sinks` at its level.
    func insertAlert(_ alert: Alert, sinks: [AlertSink], now: Timestamp) throws
    /// Writes the call's projection: the whole row when `isNew`, else the columns its
    /// later events may change (``CallRow/changing``).
    func saveProjection(_ row: CallRow, isNew: Bool) throws
    /// Appends `entry` to the audit log; returns the audit chain's new head.
    func appendAudit(_ entry: AuditEntry) throws -> Chain.Head
}

/// An event as stored, as much as a resend of it is checked against.
package struct StoredEvent: Sendable {
    package var seq: Int64
    package var callID: String
    package var body: String
    package var secret: Data?
    package var ack: String

    package init(seq: Int64, callID: String, body: String, secret: Data?, ack: String) {
        self.seq = seq
        self.callID = callID
        self.body = body
        self.secret = secret
        self.ack = ack
    }
}

/// Turns one write into its rows: the call's new state by the policy, the acknowledgement,
/// the sealed free text and identity, the event chained after `previous`, its alerts, the
/// projection, and an audit entry when a marking is lowered. A resend of a stored event
/// gets its original acknowledgement back; a different event under a used `event_id` is a
/// conflict. Every engine writes through this, so the log means the same on each.
package struct EventProcessor {
    package let keys: KeyRing

    package init(keys: KeyRing) { self.keys = keys }

    package enum Processed {
        case stored(ack: WriteAck, erasedIdentity: Bool, alerts: [Alert], head: Chain.Head, audit: Chain.Head?)
        case duplicate(ack: WriteAck)
    }

    package func process(
        _ submission: WriteSubmission, _ rows: some EventRows, policy: CallPolicy, alerting: AlertSettings,
        after previous: Chain.Head, seq: Int64, now: Timestamp
    ) throws -> Processed {
        let event = submission.event
        let body = JSONWriter.string(event.publicContent)
        if let existing = try rows.storedEvent(eventID: event.eventID) {
            return try duplicate(of: existing, event: event, body: body, rows)
        }
        let row = try rows.callRow(callID: event.callID)
        // A call retention purged keeps its events as tombstones: its id is spent, or a new
        // call under it would read to verify as the purged one put back.
        if row == nil, try rows.wasPurged(callID: event.callID) {
            throw HotlineError(
                .conflict,
                "Call \(event.callID) was purged by retention; its id cannot be used again. Start a new call with a new id.",
                field: event.op == "call.start" ? "call.id" : "call_id")
        }
        // The call's state, decrypting only what this event can change: most events touch
        // neither the caller's identity nor the location, and their sealed blobs are kept.
        var touchesIdentity = !event.identity.isEmpty
        var setsLocation = false
        if case .update(let u) = event {
            touchesIdentity = touchesIdentity || u.changes.anonymousRequested == true
            setsLocation = u.changes.location != nil
        }
        let current = try row.map { try opened($0, withLocation: false, withIdentity: touchesIdentity) }
        let decision = try policy.apply(event, to: current, by: submission.peer, seq: seq, now: now)
        let state = decision.state

        let raised = decision.alerts.map { reason in
            Alert(
                id: UUIDText.random(), callID: state.id, seq: seq, route: state.route, grade: state.grade,
                reason: reason, raisedAt: now, channel: state.channel)
        }
        // The route's rules as the call started under them are in a start's ack, chained, so
        // that verify can hold the projection's copy to them (a later configuration does not
        // change them).
        let ack = WriteAck(
            callID: state.id, seq: seq, route: state.route, grade: state.grade.rawValue, marking: state.marking.rawValue,
            anonymous: state.anonymous, escalated: state.escalated, alertID: raised.first?.id, stripped: decision.stripped,
            notice: decision.notices.isEmpty ? nil : decision.notices.joined(separator: " "),
            routeAnonymity: row == nil ? state.routeAnonymity.rawValue : nil, routeGrade: row == nil ? state.routeGrade.rawValue : nil)

        let secret = try event.freeText.map { try keys.sealJSON($0, context: "\(state.id)/event/\(seq)") }
        let sealedIdentity =
            try decision.storedIdentity.isEmpty
            ? nil : keys.sealJSON(decision.storedIdentity.json, context: "\(state.id)/identity/\(seq)")
        let content = Chain.EventContent(
            seq: seq, eventID: event.eventID, callID: state.id, op: event.op, body: body, secret: secret,
            ack: JSONWriter.string(ack.json), recordedAt: now.microseconds, peerUID: Int64(submission.peer.uid),
            peerPID: Int64(submission.peer.pid), identityCommitment: sealedIdentity.map(Chain.commitment(to:)))
        let digest = content.digest
        let hash = Chain.link(previous.hash, digest)
        let mac = keys.chainMAC(after: previous.mac, digest: digest)
        try rows.insertEvent(content, digest: digest, hash: hash, mac: mac)
        if decision.eraseEarlierIdentity { try rows.eraseIdentities(callID: state.id) }
        if let sealedIdentity { try rows.insertIdentity(seq: seq, callID: state.id, sealed: sealedIdentity) }
        // Every change of grade or marking after the start is audited as well as logged
        // (issue 16), its reason sealed in the entry; lowering a marking (a supervisor's
        // decision: CallPolicy refuses anyone else) keeps its own op.
        var audited: Chain.Head? = nil
        if let before = current, state.grade != before.grade || state.marking != before.marking {
            var detail: [String: JSONValue] = ["call_ids": [.string(state.id)], "seq": .int(seq), "result": "ok"]
            if state.marking != before.marking {
                detail["from"] = .string(before.marking.rawValue)
                detail["to"] = .string(state.marking.rawValue)
            }
            if state.grade != before.grade {
                detail["grade_from"] = .string(before.grade.rawValue)
                detail["grade_to"] = .string(state.grade.rawValue)
            }
            var reason: String? = nil
            if case .update(let u) = event {
                // Who the workstation says changed it, beside the uid the entry records.
                detail["handler"] = .optional(u.handler)
                detail["workstation"] = .optional(u.workstation)
                reason = u.reason
                if u.changes.grade == nil, u.changes.flags["threat_to_life"] == true, state.grade != before.grade {
                    detail["cause"] = "threat-to-life"
                }
            }
            audited = try rows.appendAudit(
                AuditEntry(
                    peer: submission.peer, op: state.marking < before.marking ? AuditOp.markingLowered : AuditOp.reclassified,
                    at: now, detail: detail.filter { $0.value != .null }, reason: reason))
        }
        for alert in raised {
            try rows.insertAlert(alert, sinks: alerting.sinks(forLevel: alert.level), now: now)
        }
        let location: Data? =
            setsLocation
            ? try state.location.map { try keys.sealJSON($0.json, context: "\(state.id)/location") } : row?.sealedLocation
        let identity: Data? =
            (touchesIdentity || row == nil)
            ? (state.identity.isEmpty ? nil : try keys.sealJSON(state.identity.json, context: "\(state.id)/identity"))
            : row?.sealedIdentity
        try rows.saveProjection(CallRow(state: state, sealedLocation: location, sealedIdentity: identity), isNew: row == nil)
        return .stored(
            ack: ack, erasedIdentity: decision.eraseEarlierIdentity, alerts: raised, head: Chain.Head(seq: seq, hash: hash, mac: mac),
            audit: audited)
    }

    private func duplicate(of existing: StoredEvent, event: WriteEvent, body: String, _ rows: some EventRows) throws -> Processed {
        let (seq, callID) = (existing.seq, existing.callID)
        var same = existing.body == body
        if same {
            let stored = try existing.secret.map { try keys.openJSON($0, context: "\(callID)/event/\(seq)") }
            same = stored == event.freeText
        }
        if same, let sealed = try rows.storedIdentity(seq: seq) {
            same = CallerIdentity(json: try keys.openJSON(sealed, context: "\(callID)/identity/\(seq)")) == event.identity
        }
        guard same else {
            throw HotlineError(
                .conflict,
                "event_id \(event.eventID) was already used for a different event (seq \(seq)); a new event needs a new event_id.",
                field: "event_id")
        }
        // The original acknowledgement, as it was stored and chained.
        guard var ack = try? WriteAck(json: try JSONParser.parse(Array(existing.ack.utf8))) else {
            throw HotlineError(.storage, "The stored acknowledgement of event \(seq) is unreadable.")
        }
        ack.duplicate = true
        return .duplicate(ack: ack)
    }

    /// The call a stored row holds, with its location and identity opened as asked.
    package func opened(_ row: CallRow, withLocation: Bool, withIdentity: Bool) throws -> CallState {
        var state = row.state
        let id = state.id
        if withLocation, let sealed = row.sealedLocation {
            state.location = Location(json: try keys.openJSON(sealed, context: "\(id)/location"))
        }
        if withIdentity, let sealed = row.sealedIdentity {
            state.identity = CallerIdentity(json: try keys.openJSON(sealed, context: "\(id)/identity"))
        }
        return state
    }
}
