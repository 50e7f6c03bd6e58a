// The answers and pushes of the workstation protocol (PROTOCOL.md, PROTOCOL-NOTES.md),
// each a type encoded (`json`, by the daemon) and decoded (`init(json:)`, by clients) here
// and nowhere else. Grades, markings and alert reasons are carried as their text: a client
// shows what a newer daemon sends rather than refusing it.

/// The acknowledgement of a durable write (PROTOCOL.md section 4). It is also stored with
/// the event and chained, so a repeated `event_id` is answered with the original.
public struct WriteAck: WireValue {
    public var callID: String
    public var seq: Int64
    public var route: String
    public var grade: String
    public var marking: String
    public var anonymous: Bool
    public var escalated: Bool
    /// The alert this write raised, if any.
    public var alertID: String?
    /// The identifying fields removed before storing (`cli`, `caller.name`, …).
    public var stripped: [String]
    public var notice: String?
    /// The route's rules as the call started under them: on a `call.start`'s ack only.
    public var routeAnonymity: String?
    public var routeGrade: String?
    /// The answer to a repeated `event_id`: nothing new was stored.
    public var duplicate: Bool

    public init(
        callID: String, seq: Int64, route: String, grade: String, marking: String, anonymous: Bool, escalated: Bool,
        alertID: String? = nil, stripped: [String] = [], notice: String? = nil, routeAnonymity: String? = nil,
        routeGrade: String? = nil, duplicate: Bool = false
    ) {
        self.callID = callID
        self.seq = seq
        self.route = route
        self.grade = grade
        self.marking = marking
        self.anonymous = anonymous
        self.escalated = escalated
        self.alertID = alertID
        self.stripped = stripped
        self.notice = notice
        self.routeAnonymity = routeAnonymity
        self.routeGrade = routeGrade
        self.duplicate = duplicate
    }

    public var json: JSONValue {
        var m: [String: JSONValue] = [
            "call_id": .string(callID), "seq": .int(seq), "route": .string(route), "grade": .string(grade),
            "marking": .string(marking), "anonymous": .bool(anonymous), "escalated": .bool(escalated),
            "alert_id": .optional(alertID), "stripped": .array(stripped.map(JSONValue.string)),
        ]
        if let notice { m["notice"] = .string(notice) }
        if let routeAnonymity { m["route_anonymity"] = .string(routeAnonymity) }
        if let routeGrade { m["route_grade"] = .string(routeGrade) }
        if duplicate { m["duplicate"] = true }
        return .object(m)
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(
            callID: try r.string("call_id"), seq: try r.int("seq"), route: try r.string("route"), grade: try r.string("grade"),
            marking: try r.string("marking"), anonymous: try r.bool("anonymous"), escalated: try r.bool("escalated"),
            alertID: try r.optionalString("alert_id"), stripped: try r.strings("stripped", required: false),
            notice: try r.optionalString("notice"), routeAnonymity: try r.optionalString("route_anonymity"),
            routeGrade: try r.optionalString("route_grade"), duplicate: try r.optionalBool("duplicate") ?? false)
    }
}

/// An alert as it is pushed, listed with a call and exported: no identifying field, no note.
public struct AlertView: WireValue {
    public var id: String
    public var callID: String
    public var route: String
    public var grade: String
    public var reason: String
    public var level: Int
    public var raisedAt: Timestamp
    public var ackedAt: Timestamp?
    /// The call's channel (issue 18); `voice` from a daemon older than that.
    public var channel: CallChannel

    public init(
        id: String, callID: String, route: String, grade: String, reason: String, level: Int, raisedAt: Timestamp,
        ackedAt: Timestamp?, channel: CallChannel = .voice
    ) {
        self.channel = channel
        self.id = id
        self.callID = callID
        self.route = route
        self.grade = grade
        self.reason = reason
        self.level = level
        self.raisedAt = raisedAt
        self.ackedAt = ackedAt
    }

    public init(_ alert: Alert) {
        self.init(
            id: alert.id, callID: alert.callID, route: alert.route, grade: alert.grade.rawValue, reason: alert.reason.rawValue,
            level: alert.level, raisedAt: alert.raisedAt, ackedAt: alert.ackedAt, channel: alert.channel)
    }

    public var json: JSONValue {
        [
            "id": .string(id), "call_id": .string(callID), "route": .string(route), "grade": .string(grade),
            "reason": .string(reason), "level": .int(Int64(level)), "raised_at": .string(raisedAt.rfc3339),
            "acked_at": .optional(ackedAt?.rfc3339), "channel": .string(channel.rawValue),
        ]
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(
            id: try r.string("id"), callID: try r.string("call_id"), route: try r.string("route"), grade: try r.string("grade"),
            reason: try r.string("reason"), level: Int(try r.optionalInt("level") ?? 1), raisedAt: try r.time("raised_at"),
            ackedAt: try r.optionalTime("acked_at"),
            channel: try r.optionalString("channel").flatMap(CallChannel.init(rawValue:)) ?? .voice)
    }

    /// Seconds from raised to acknowledged; nil while unacknowledged.
    public var ackSeconds: Double? { ackedAt.map { $0.seconds(since: raisedAt) } }
}

/// What the daemon pushes to an alert subscriber (PROTOCOL.md section 7).
public enum Push: WireValue {
    case alert(AlertView)
    /// The daemon is closing the subscription (a reload, a slow reader); `reason` says why.
    case disconnect(reason: String)

    public var json: JSONValue {
        switch self {
        case .alert(let alert): ["push": "alert", "alert": alert.json]
        case .disconnect(let reason): ["push": "disconnect", "reason": .string(reason)]
        }
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        switch try r.string("push") {
        case "alert": self = .alert(try r.value("alert"))
        case "disconnect": self = .disconnect(reason: try r.optionalString("reason") ?? "disconnected by the daemon")
        case let other: throw AnswerError("push", "as \"\(other)\", not a push this client knows")
        }
    }
}

/// A call as `calls.list` lists it: no notes, no identifying field, no free text.
public struct CallSummary: WireValue {
    public var callID: String
    public var dialled: String
    public var route: String
    public var grade: String
    public var marking: String
    public var anonymous: Bool
    public var escalated: Bool
    public var category: String?
    public var outcome: String?
    public var receivedAt: Timestamp
    public var answeredAt: Timestamp?
    public var endedAt: Timestamp?
    public var workstation: String?
    public var handler: String?
    public var flags: [String: Bool]
    public var firstSeq: Int64
    public var lastSeq: Int64
    /// Issue 18: how the call came in (`voice` from a daemon older than that), its relay,
    /// and an online report's form reference.
    public var channel: CallChannel
    public var relay: Relay?
    public var formReference: String?

    public init(_ s: CallState) {
        channel = s.channel
        relay = s.relay
        formReference = s.formReference
        callID = s.id
        dialled = s.dialled
        route = s.route
        grade = s.grade.rawValue
        marking = s.marking.rawValue
        anonymous = s.anonymous
        escalated = s.escalated
        category = s.category
        outcome = s.outcome
        receivedAt = s.receivedAt
        answeredAt = s.answeredAt
        endedAt = s.endedAt
        workstation = s.workstation
        handler = s.handler
        flags = s.flags
        firstSeq = s.firstSeq
        lastSeq = s.lastSeq
    }

    public var json: JSONValue { .object(members) }

    var members: [String: JSONValue] {
        [
            "call_id": .string(callID), "dialled": .string(dialled), "route": .string(route), "grade": .string(grade),
            "marking": .string(marking), "anonymous": .bool(anonymous), "escalated": .bool(escalated),
            "received_at": .string(receivedAt.rfc3339), "first_seq": .int(firstSeq), "last_seq": .int(lastSeq),
            "category": .optional(category), "outcome": .optional(outcome), "answered_at": .optional(answeredAt?.rfc3339),
            "ended_at": .optional(endedAt?.rfc3339), "workstation": .optional(workstation), "handler": .optional(handler),
            "flags": .object(flags.mapValues(JSONValue.bool)),
            "channel": .string(channel.rawValue), "relay": relay?.json ?? .null, "form_reference": .optional(formReference),
        ]
    }

    public init(json: JSONValue) throws(AnswerError) {
        try self.init(reader: try AnswerReader(json))
    }

    init(reader r: AnswerReader) throws(AnswerError) {
        callID = try r.string("call_id")
        dialled = try r.string("dialled")
        route = try r.string("route")
        grade = try r.string("grade")
        marking = try r.string("marking")
        anonymous = try r.bool("anonymous")
        escalated = try r.bool("escalated")
        category = try r.optionalString("category")
        outcome = try r.optionalString("outcome")
        receivedAt = try r.time("received_at")
        answeredAt = try r.optionalTime("answered_at")
        endedAt = try r.optionalTime("ended_at")
        workstation = try r.optionalString("workstation")
        handler = try r.optionalString("handler")
        var flags: [String: Bool] = [:]
        if let v = r.value("flags") {
            let f = try AnswerReader(v, path: r.field("flags"))
            for key in f.members.keys { flags[key] = try f.bool(key) }
        }
        self.flags = flags
        firstSeq = try r.int("first_seq")
        lastSeq = try r.int("last_seq")
        let channel = try r.optionalString("channel")
        guard let known = CallChannel(rawValue: channel ?? "voice") else {
            throw AnswerError(r.field("channel"), "as \"\(channel ?? "")\", a channel this client does not know")
        }
        self.channel = known
        relay = r.value("relay").flatMap(Relay.init(json:))
        formReference = try r.optionalString("form_reference")
    }

    /// Ended minus answered (minus received when never answered); nil while open.
    public var handlingSeconds: Double? { endedAt.map { $0.seconds(since: answeredAt ?? receivedAt) } }

    /// The flags set, sorted.
    public var flagsSet: [String] { flags.filter(\.value).keys.sorted() }
}

/// A timestamped note as `call.get` answers it: what the workstation declared (`at`, `by`)
/// beside what the daemon saw (`uid`, `recorded_at`).
extension Note: WireValue {
    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        let uid = try r.optionalInt("uid")
        self.init(
            at: try r.time("at"), by: try r.string("by"), text: try r.string("text"), uid: uid.map { UInt32(truncatingIfNeeded: $0) },
            recordedAt: try r.optionalTime("recorded_at"))
    }
}

/// A call with everything `call.get` answers: its state with the identifying fields kept,
/// its alerts and a page of its notes.
public struct CallRecord: WireValue {
    public var summary: CallSummary
    /// The uid of the peer that started the call, as the daemon saw it.
    public var ownerUID: UInt32
    public var anonymousRequested: Bool
    public var location: Location?
    public var identity: CallerIdentity
    public var notes: [Note]
    public var alerts: [AlertView]
    /// When the daemon received the call's `call.start`.
    public var recordedAt: Timestamp?
    /// Every change of grade and marking, the start first (issue 16).
    public var history: [ClassificationChange]
    /// Whether the call is on legal hold; and the hold (who, when, why), for the roles that
    /// may see holds (a handler reading its own call sees only `held`).
    public var held: Bool
    public var hold: LegalHold?

    public init(
        _ state: CallState, notes: [Note], alerts: [Alert], recordedAt: Timestamp?, history: [ClassificationChange] = [],
        hold: LegalHold? = nil, held: Bool? = nil
    ) {
        self.history = history
        self.hold = hold
        self.held = held ?? (hold != nil)
        summary = CallSummary(state)
        ownerUID = state.ownerUID
        anonymousRequested = state.anonymousRequested
        location = state.location
        identity = state.identity
        self.notes = notes
        self.alerts = alerts.map(AlertView.init)
        self.recordedAt = recordedAt
    }

    public var callID: String { summary.callID }

    public var json: JSONValue {
        var m = summary.members
        m["id"] = .string(summary.callID)
        m["owner_uid"] = .int(Int64(ownerUID))
        m["anonymous_requested"] = .bool(anonymousRequested)
        m["location"] = location?.json ?? .null
        m["cli"] = .optional(identity.cli)
        m["caller"] = identity.json["caller"] ?? .null
        m["handling_seconds"] = .optional(summary.handlingSeconds)
        m["notes"] = .array(notes.map(\.json))
        m["alerts"] = .array(alerts.map(\.json))
        if let recordedAt { m["recorded_at"] = .string(recordedAt.rfc3339) }
        m["history"] = .array(history.map(\.json))
        m["held"] = .bool(held)
        m["hold"] = hold?.json ?? .null
        return .object(m)
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        history = try r.values("history", required: false)
        hold = r.value("hold") == .null ? nil : try r.optionalValue("hold")
        held = try r.optionalBool("held") ?? (hold != nil)
        summary = try CallSummary(reader: r)
        ownerUID = UInt32(truncatingIfNeeded: try r.int("owner_uid"))
        anonymousRequested = try r.optionalBool("anonymous_requested") ?? false
        location = r.value("location").map(Location.init(json:))
        var identity = r.value("caller").map { CallerIdentity(json: ["caller": $0]) } ?? CallerIdentity()
        identity.cli = try r.optionalString("cli")
        self.identity = identity
        notes = try r.values("notes", required: false)
        alerts = try r.values("alerts", required: false)
        recordedAt = try r.optionalTime("recorded_at")
    }
}

/// `call.get`'s answer: the call, and where its next page of notes starts.
public struct CallGetAnswer: WireValue {
    public var call: CallRecord
    /// Pass back as `notes_after` for the next page; nil when no note follows.
    public var notesNext: Int64?

    public init(call: CallRecord, notesNext: Int64?) {
        self.call = call
        self.notesNext = notesNext
    }

    public var json: JSONValue {
        var m: [String: JSONValue] = ["call": call.json]
        if let notesNext { m["notes_next"] = .int(notesNext) }
        return .object(m)
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(call: try r.value("call"), notesNext: try r.optionalInt("notes_next"))
    }
}

/// `calls.list`'s answer: a page of summaries and where the next starts.
public struct CallsListAnswer: WireValue {
    public var calls: [CallSummary]
    public var nextAfterSeq: Int64?

    public init(calls: [CallSummary], nextAfterSeq: Int64?) {
        self.calls = calls
        self.nextAfterSeq = nextAfterSeq
    }

    public var json: JSONValue {
        var m: [String: JSONValue] = ["calls": .array(calls.map(\.json))]
        if let nextAfterSeq { m["next_after_seq"] = .int(nextAfterSeq) }
        return .object(m)
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(calls: try r.values("calls"), nextAfterSeq: try r.optionalInt("next_after_seq"))
    }
}

/// `stats`' answer: the daemon's counters.
public struct StatsAnswer: WireValue {
    public var uptimeSeconds: Int64
    public var connections: Int64
    public var events: Int64
    public var calls: Int64
    public var callsOpen: Int64
    public var alertsUnacked: Int64
    public var writerBacklog: Int64
    public var subscribers: Int64
    /// Why the log cannot take writes now, while it cannot.
    public var storageFault: String?

    public init(
        uptimeSeconds: Int64, connections: Int64, events: Int64, calls: Int64, callsOpen: Int64, alertsUnacked: Int64,
        writerBacklog: Int64, subscribers: Int64, storageFault: String? = nil
    ) {
        self.uptimeSeconds = uptimeSeconds
        self.connections = connections
        self.events = events
        self.calls = calls
        self.callsOpen = callsOpen
        self.alertsUnacked = alertsUnacked
        self.writerBacklog = writerBacklog
        self.subscribers = subscribers
        self.storageFault = storageFault
    }

    /// Every counter by its wire name, in the order `hotlinectl stats` prints them.
    public var counters: [(name: String, value: String)] {
        var all: [(String, String)] = [
            ("alerts_unacked", "\(alertsUnacked)"), ("calls", "\(calls)"), ("calls_open", "\(callsOpen)"),
            ("connections", "\(connections)"), ("events", "\(events)"),
        ]
        if let storageFault { all.append(("storage_fault", storageFault)) }
        all += [("subscribers", "\(subscribers)"), ("uptime_s", "\(uptimeSeconds)"), ("writer_backlog", "\(writerBacklog)")]
        return all
    }

    public var json: JSONValue {
        var m: [String: JSONValue] = [
            "uptime_s": .int(uptimeSeconds), "connections": .int(connections), "events": .int(events), "calls": .int(calls),
            "calls_open": .int(callsOpen), "alerts_unacked": .int(alertsUnacked), "writer_backlog": .int(writerBacklog),
            "subscribers": .int(subscribers),
        ]
        if let storageFault { m["storage_fault"] = .string(storageFault) }
        return .object(m)
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(
            uptimeSeconds: try r.int("uptime_s"), connections: try r.int("connections"), events: try r.int("events"),
            calls: try r.int("calls"), callsOpen: try r.int("calls_open"), alertsUnacked: try r.int("alerts_unacked"),
            writerBacklog: try r.int("writer_backlog"), subscribers: try r.int("subscribers"),
            storageFault: try r.optionalString("storage_fault"))
    }
}

/// `verify`'s answer (PROTOCOL.md section 9): `ok` is false for a tampered log, so the
/// envelope's `ok` is this answer's own.
public struct VerifyAnswer: WireValue {
    public var intact: Bool
    public var events: Int64
    public var auditEntries: Int64
    /// Where each chain ends, `SEQ:HEX`: note them to use as anchors later.
    public var head: String
    public var auditHead: String
    public var problems: [String]
    /// `checked`, `not_checked` (no key) or `absent` (a log from before the keyed chain).
    public var keyedChain: String
    public var firstBadSeq: Int64?
    public var firstBadAuditSeq: Int64?
    /// Calls whose state disagrees with their events (at most 100 listed).
    public var badCalls: [String]

    public init(
        intact: Bool, events: Int64, auditEntries: Int64, head: String, auditHead: String, problems: [String],
        keyedChain: String, firstBadSeq: Int64? = nil, firstBadAuditSeq: Int64? = nil, badCalls: [String] = []
    ) {
        self.intact = intact
        self.events = events
        self.auditEntries = auditEntries
        self.head = head
        self.auditHead = auditHead
        self.problems = problems
        self.keyedChain = keyedChain
        self.firstBadSeq = firstBadSeq
        self.firstBadAuditSeq = firstBadAuditSeq
        self.badCalls = badCalls
    }

    public var json: JSONValue {
        var m: [String: JSONValue] = [
            "ok": .bool(intact), "intact": .bool(intact), "events": .int(events), "audit_entries": .int(auditEntries),
            "head": .string(head), "audit_head": .string(auditHead), "problems": .array(problems.map(JSONValue.string)),
            "keyed_chain": .string(keyedChain),
        ]
        if let firstBadSeq { m["first_bad_seq"] = .int(firstBadSeq) }
        if let firstBadAuditSeq { m["first_bad_audit_seq"] = .int(firstBadAuditSeq) }
        if !badCalls.isEmpty { m["bad_calls"] = .array(badCalls.prefix(100).map(JSONValue.string)) }
        return .object(m)
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(
            intact: try r.bool("intact"), events: try r.int("events"), auditEntries: try r.int("audit_entries"),
            head: try r.string("head"), auditHead: try r.string("audit_head"), problems: try r.strings("problems", required: false),
            keyedChain: try r.optionalString("keyed_chain") ?? "checked", firstBadSeq: try r.optionalInt("first_bad_seq"),
            firstBadAuditSeq: try r.optionalInt("first_bad_audit_seq"), badCalls: try r.strings("bad_calls", required: false))
    }
}

/// `alert.ack`'s answer.
public struct AlertAckAnswer: WireValue {
    public var alertID: String
    public var ackedAt: Timestamp

    public init(alertID: String, ackedAt: Timestamp) {
        self.alertID = alertID
        self.ackedAt = ackedAt
    }

    public var json: JSONValue { ["acked_at": .string(ackedAt.rfc3339), "alert_id": .string(alertID)] }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(alertID: try r.string("alert_id"), ackedAt: try r.time("acked_at"))
    }
}

/// `alerts.subscribe`'s answer: how many unacknowledged alerts are pushed straight after it.
public struct SubscribeAnswer: WireValue {
    public var backlog: Int

    public init(backlog: Int) { self.backlog = backlog }

    public var json: JSONValue { ["backlog": .int(Int64(backlog))] }

    public init(json: JSONValue) throws(AnswerError) {
        self.init(backlog: Int(try AnswerReader(json).optionalInt("backlog") ?? 0))
    }
}

/// `hello`'s answer: the daemon, its protocol version, and the roles it gives this peer.
public struct HelloAnswer: WireValue {
    public var server: String
    public var protocolVersion: Int64
    /// The strongest role (the one reads are audited under); nil with none.
    public var role: String?
    public var roles: [String]

    public init(server: String, protocolVersion: Int64, role: String?, roles: [String]) {
        self.server = server
        self.protocolVersion = protocolVersion
        self.role = role
        self.roles = roles
    }

    public var json: JSONValue {
        [
            "server": .string(server), "protocol": .int(protocolVersion), "role": .optional(role),
            "roles": .array(roles.map(JSONValue.string)),
        ]
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(
            server: try r.string("server"), protocolVersion: try r.int("protocol"), role: try r.optionalString("role"),
            roles: try r.strings("roles", required: false))
    }
}

/// A call of the `export` op's answer: its summary, how long it was handled, and its alerts.
public struct ExportRow: WireValue {
    public var summary: CallSummary
    public var alerts: [AlertView]
    /// The grade the call started with, and how many times it changed since (its events).
    public var initialGrade: String?
    public var gradeChanges: Int
    /// On legal hold: retention never purges it.
    public var held: Bool

    public init(summary: CallSummary, alerts: [AlertView], initialGrade: String? = nil, gradeChanges: Int = 0, held: Bool = false) {
        self.summary = summary
        self.alerts = alerts
        self.initialGrade = initialGrade
        self.gradeChanges = gradeChanges
        self.held = held
    }

    public var json: JSONValue {
        var m = summary.members
        m["handling_seconds"] = .optional(summary.handlingSeconds)
        m["alerts"] = .array(alerts.map(\.json))
        m["initial_grade"] = .optional(initialGrade)
        m["grade_changes"] = .int(Int64(gradeChanges))
        m["held"] = .bool(held)
        return .object(m)
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(
            summary: try CallSummary(reader: r), alerts: try r.values("alerts", required: false),
            initialGrade: try r.optionalString("initial_grade"), gradeChanges: Int(try r.optionalInt("grade_changes") ?? 0),
            held: try r.optionalBool("held") ?? false)
    }
}

/// `export`'s answer: the window resolved (so later pages ask for exactly it), a page of
/// calls, and where the next starts.
public struct ExportAnswer: WireValue {
    public var shift: ShiftWindow
    public var calls: [ExportRow]
    public var nextAfterSeq: Int64?
    /// On the first page only (no `after_seq`): each route's answer standard and
    /// categories, and the handover lists at the window's end.
    public var routes: [RouteReporting]?
    public var handover: Handover?

    public init(
        shift: ShiftWindow, calls: [ExportRow], nextAfterSeq: Int64?, routes: [RouteReporting]? = nil, handover: Handover? = nil
    ) {
        self.shift = shift
        self.calls = calls
        self.nextAfterSeq = nextAfterSeq
        self.routes = routes
        self.handover = handover
    }

    public var json: JSONValue {
        var m: [String: JSONValue] = ["shift": shift.json, "calls": .array(calls.map(\.json))]
        if let nextAfterSeq { m["next_after_seq"] = .int(nextAfterSeq) }
        if let routes { m["routes"] = .array(routes.map(\.json)) }
        if let handover { m["handover"] = handover.json }
        return .object(m)
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(
            shift: try r.value("shift"), calls: try r.values("calls"), nextAfterSeq: try r.optionalInt("next_after_seq"),
            routes: r.value("routes") == nil ? nil : try r.values("routes"), handover: try r.optionalValue("handover"))
    }
}

extension ShiftWindow: WireValue {
    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(
            name: try r.optionalString("name"), date: try r.optionalString("date"), from: try r.time("from"), to: try r.time("to"),
            timezone: try r.string("timezone"))
    }
}

/// `audit.list`'s answer: a page of entries and the `from` of the next.
public struct AuditListAnswer: WireValue {
    public var entries: [AuditEntry]
    public var nextFrom: Timestamp?

    public init(entries: [AuditEntry], nextFrom: Timestamp?) {
        self.entries = entries
        self.nextFrom = nextFrom
    }

    public var json: JSONValue {
        var m: [String: JSONValue] = ["entries": .array(entries.map(\.json))]
        if let nextFrom { m["next_from"] = .string(nextFrom.rfc3339) }
        return .object(m)
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(entries: try r.values("entries"), nextFrom: try r.optionalTime("next_from"))
    }
}

extension HotlineError: WireValue {
    /// The `error` of a failed answer. A code this client does not know is read as `storage`
    /// would be (the daemon could not do it), its message kept.
    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        let code = try r.string("code")
        var message = try r.optionalString("message") ?? ""
        let known = ErrorCode(rawValue: code)
        if known == nil { message = "\(code): \(message)" }
        self.init(known ?? .storage, message, field: try r.optionalString("field"))
    }
}

/// One line the daemon answers a request with: `{"req": …, "ok": true, …}` or
/// `{"req": …, "ok": false, "error": {…}}` (PROTOCOL.md section 2).
public struct Response: Sendable, Equatable {
    /// The request's `req`, echoed unchanged.
    public var req: JSONValue?
    /// The answer's own members (without `ok` and `req`), or the error.
    public var result: Result<JSONValue, HotlineError>

    public init(req: JSONValue?, result: Result<JSONValue, HotlineError>) {
        self.req = req
        self.result = result
    }

    /// The line's JSON. A success is `"ok": true` unless the answer says otherwise (`verify`
    /// answers `"ok": false` for a tampered log).
    public var json: JSONValue {
        var members: [String: JSONValue]
        switch result {
        case .success(let answer):
            members = answer.objectValue ?? [:]
            if members["ok"] == nil { members["ok"] = true }
        case .failure(let error):
            members = ["ok": false, "error": error.json]
        }
        if let req { members["req"] = req }
        return .object(members)
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        req = json["req"]
        if let error = r.value("error") {
            result = .failure(try HotlineError.within(error, at: "error"))
        } else {
            var members = r.members
            members["req"] = nil
            result = .success(.object(members))
        }
    }

    /// The answer decoded as `T`, or the daemon's error thrown.
    public func answer<T: WireValue>(as _: T.Type = T.self) throws -> T {
        switch result {
        case .success(let members): return try T(json: members)
        case .failure(let error): throw error
        }
    }
}
