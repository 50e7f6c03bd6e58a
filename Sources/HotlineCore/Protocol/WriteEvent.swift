/// One write: `call.start`, `call.update` or `call.end`, validated and normalised.
public enum WriteEvent: Sendable, Equatable {
    case start(CallStart)
    case update(CallUpdate)
    case end(CallEnd)

    public var op: String {
        switch self {
        case .start: "call.start"
        case .update: "call.update"
        case .end: "call.end"
        }
    }

    public var eventID: String {
        switch self {
        case .start(let e): e.eventID
        case .update(let e): e.eventID
        case .end(let e): e.eventID
        }
    }

    public var callID: String {
        switch self {
        case .start(let e): e.callID
        case .update(let e): e.callID
        case .end(let e): e.callID
        }
    }

    /// The identifying fields this event carries, before any policy is applied.
    public var identity: CallerIdentity {
        switch self {
        case .start(let e): e.identity
        case .update(let e): e.changes.identity
        case .end: CallerIdentity()
        }
    }

    /// What this event carries that is sealed at rest: a note, and the whole of a location
    /// (its description and its coordinates: for a hotline report, often the caller's street).
    public var freeText: JSONValue? {
        var m: [String: JSONValue] = [:]
        if case .update(let e) = self {
            if let note = e.note { m["note"] = .string(note) }
            if let reason = e.reason { m["reason"] = .string(reason) }
            if let location = e.changes.location { m.merge(Self.sealedLocation(location)) { _, new in new } }
        }
        return m.isEmpty ? nil : .object(m)
    }

    /// A location's members of ``freeText``.
    public static func sealedLocation(_ location: Location) -> [String: JSONValue] {
        var m: [String: JSONValue] = [:]
        if let text = location.text { m["location_text"] = .string(text) }
        if let lat = location.lat { m["location_lat"] = .double(lat) }
        if let lon = location.lon { m["location_lon"] = .double(lon) }
        return m
    }

    /// Everything else in the event: what the log stores in the clear. Together with
    /// ``identity`` and ``freeText`` it is the whole event; equal events have equal bytes.
    public var publicContent: JSONValue {
        switch self {
        case .start(let e):
            var m: [String: JSONValue] = [
                "op": "call.start", "event_id": .string(e.eventID), "call_id": .string(e.callID),
                "dialled": .string(e.dialled), "received_at": .string(e.receivedAt.rfc3339),
            ]
            m["answered_at"] = .optional(e.answeredAt?.rfc3339)
            m["workstation"] = .optional(e.workstation)
            m["handler"] = .optional(e.handler)
            m["anonymous_requested"] = .optional(e.anonymousRequested)
            if !e.identity.isEmpty { m["identity_fields"] = .array(e.identity.fieldPaths.map(JSONValue.string)) }
            // Issue 18, each only when given: a voice call's event has the bytes it had before.
            if e.channel != .voice { m["channel"] = .string(e.channel.rawValue) }
            if let relay = e.relay { m["relay"] = relay.json }
            if let reference = e.formReference { m["form_reference"] = .string(reference) }
            return .object(m)
        case .update(let e):
            var m: [String: JSONValue] = [
                "op": "call.update", "event_id": .string(e.eventID), "call_id": .string(e.callID),
                "at": .string(e.at.rfc3339),
            ]
            var set: [String: JSONValue] = [:]
            let c = e.changes
            set["category"] = .optional(c.category)
            // Only that a location was set: all of it is sealed (``freeText``).
            if c.location != nil { set["location"] = true }
            if !c.flags.isEmpty { set["flags"] = .object(c.flags.mapValues(JSONValue.bool)) }
            set["grade"] = .optional(c.grade?.rawValue)
            set["marking"] = .optional(c.marking?.rawValue)
            set["anonymous_requested"] = .optional(c.anonymousRequested)
            set["outcome"] = .optional(c.outcome)
            set["answered_at"] = .optional(c.answeredAt?.rfc3339)
            set["relay"] = c.relay?.json ?? .null
            // Which identifying fields the event carried (never their values): a resend
            // after the values were erased must still carry the same fields.
            if !c.identity.isEmpty { set["identity_fields"] = .array(c.identity.fieldPaths.map(JSONValue.string)) }
            m["set"] = .object(set.filter { $0.value != .null })
            m["has_note"] = .bool(e.note != nil)
            m["workstation"] = .optional(e.workstation)
            m["handler"] = .optional(e.handler)
            return .object(m.filter { $0.value != .null })
        case .end(let e):
            var m: [String: JSONValue] = [
                "op": "call.end", "event_id": .string(e.eventID), "call_id": .string(e.callID),
                "ended_at": .string(e.endedAt.rfc3339),
            ]
            m["outcome"] = .optional(e.outcome)
            m["workstation"] = .optional(e.workstation)
            m["handler"] = .optional(e.handler)
            return .object(m.filter { $0.value != .null })
        }
    }
}

public struct CallStart: Sendable, Equatable {
    public var eventID: String
    public var callID: String
    public var dialled: String
    public var receivedAt: Timestamp
    public var answeredAt: Timestamp?
    public var workstation: String?
    public var handler: String?
    public var identity: CallerIdentity
    public var anonymousRequested: Bool?
    /// Issue 18: how the call came in; for `online`, `receivedAt` is when the form was
    /// submitted and `dialled` may be "" (no number).
    public var channel: CallChannel
    /// The relay assistant or interpreter, as the workstation sent it.
    public var relay: RelayChange?
    /// An online report's form reference.
    public var formReference: String?

    public init(
        eventID: String, callID: String, dialled: String, receivedAt: Timestamp, answeredAt: Timestamp? = nil,
        workstation: String? = nil, handler: String? = nil, identity: CallerIdentity = CallerIdentity(),
        anonymousRequested: Bool? = nil, channel: CallChannel = .voice, relay: RelayChange? = nil,
        formReference: String? = nil
    ) {
        self.channel = channel
        self.relay = relay
        self.formReference = formReference
        self.eventID = eventID
        self.callID = callID
        self.dialled = dialled
        self.receivedAt = receivedAt
        self.answeredAt = answeredAt
        self.workstation = workstation
        self.handler = handler
        self.identity = identity
        self.anonymousRequested = anonymousRequested
    }
}

/// The fields a `call.update` sets; each replaces its earlier value.
public struct CallChanges: Sendable, Equatable {
    public var category: String?
    public var location: Location?
    public var flags: [String: Bool]
    public var grade: Grade?
    public var marking: Marking?
    public var anonymousRequested: Bool?
    public var identity: CallerIdentity
    /// The outcome, given after the call ended without one (or corrected).
    public var outcome: String?
    /// When the call was answered, for a call started before it was (at presentation):
    /// given once.
    public var answeredAt: Timestamp?
    /// The relay assistant or interpreter (issue 18): a reference learnt after the start.
    public var relay: RelayChange?

    public init(
        category: String? = nil, location: Location? = nil, flags: [String: Bool] = [:], grade: Grade? = nil,
        marking: Marking? = nil, anonymousRequested: Bool? = nil, identity: CallerIdentity = CallerIdentity(),
        outcome: String? = nil, answeredAt: Timestamp? = nil, relay: RelayChange? = nil
    ) {
        self.relay = relay
        self.outcome = outcome
        self.answeredAt = answeredAt
        self.category = category
        self.location = location
        self.flags = flags
        self.grade = grade
        self.marking = marking
        self.anonymousRequested = anonymousRequested
        self.identity = identity
    }
}

public struct CallUpdate: Sendable, Equatable {
    public var eventID: String
    public var callID: String
    public var at: Timestamp
    public var changes: CallChanges
    public var note: String?
    public var workstation: String?
    public var handler: String?
    /// Why the grade or marking was changed: required when lowering either. Sealed at rest.
    public var reason: String?

    public init(
        eventID: String, callID: String, at: Timestamp, changes: CallChanges = CallChanges(), note: String? = nil,
        workstation: String? = nil, handler: String? = nil, reason: String? = nil
    ) {
        self.reason = reason
        self.eventID = eventID
        self.callID = callID
        self.at = at
        self.changes = changes
        self.note = note
        self.workstation = workstation
        self.handler = handler
    }
}

public struct CallEnd: Sendable, Equatable {
    public var eventID: String
    public var callID: String
    public var endedAt: Timestamp
    /// Nil when the call ended before an outcome could be given (the line dropped); a later
    /// `call.update` gives it (`set.outcome`), and until then the call is on the handover list.
    public var outcome: String?
    public var workstation: String?
    public var handler: String?

    public init(
        eventID: String, callID: String, endedAt: Timestamp, outcome: String?, workstation: String? = nil,
        handler: String? = nil
    ) {
        self.eventID = eventID
        self.callID = callID
        self.endedAt = endedAt
        self.outcome = outcome
        self.workstation = workstation
        self.handler = handler
    }
}
