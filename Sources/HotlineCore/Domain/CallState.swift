/// A call's current state: the projection of its events.
public struct CallState: Sendable, Equatable {
    public var id: String
    public var dialled: String
    public var route: String
    /// The route's anonymity policy when the call started (a later configuration change
    /// does not rewrite how an existing call is treated).
    public var routeAnonymity: Anonymity
    /// The least urgent grade the route allows.
    public var routeGrade: Grade
    public var grade: Grade
    public var marking: Marking
    public var anonymous: Bool
    public var anonymousRequested: Bool
    public var escalated: Bool
    public var threatAlertRaised: Bool
    public var category: String?
    public var location: Location?
    public var flags: [String: Bool]
    public var outcome: String?
    public var receivedAt: Timestamp
    public var answeredAt: Timestamp?
    public var endedAt: Timestamp?
    public var workstation: String?
    public var handler: String?
    /// The uid of the peer that started the call: a handler reads only its own calls.
    public var ownerUID: UInt32
    public var identity: CallerIdentity
    public var firstSeq: Int64
    public var lastSeq: Int64
    /// How the public reached the room (issue 18); voice for every call before it.
    public var channel: CallChannel = .voice
    /// The relay assistant or interpreter on the call: always set on a relayed channel.
    public var relay: Relay?
    /// An online report's form reference.
    public var formReference: String?

    public init(
        id: String, dialled: String, route: String, routeAnonymity: Anonymity, routeGrade: Grade, grade: Grade,
        marking: Marking, anonymous: Bool = false, anonymousRequested: Bool = false, escalated: Bool = false,
        threatAlertRaised: Bool = false, category: String? = nil, location: Location? = nil,
        flags: [String: Bool] = [:], outcome: String? = nil, receivedAt: Timestamp, answeredAt: Timestamp? = nil,
        endedAt: Timestamp? = nil, workstation: String? = nil, handler: String? = nil, ownerUID: UInt32,
        identity: CallerIdentity = CallerIdentity(), firstSeq: Int64, lastSeq: Int64
    ) {
        self.id = id
        self.dialled = dialled
        self.route = route
        self.routeAnonymity = routeAnonymity
        self.routeGrade = routeGrade
        self.grade = grade
        self.marking = marking
        self.anonymous = anonymous
        self.anonymousRequested = anonymousRequested
        self.escalated = escalated
        self.threatAlertRaised = threatAlertRaised
        self.category = category
        self.location = location
        self.flags = flags
        self.outcome = outcome
        self.receivedAt = receivedAt
        self.answeredAt = answeredAt
        self.endedAt = endedAt
        self.workstation = workstation
        self.handler = handler
        self.ownerUID = ownerUID
        self.identity = identity
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
    }

    public var isOpen: Bool { endedAt == nil }

    /// Seconds from answer (or receipt, when never answered) to end; nil while open.
    public var handlingSeconds: Double? {
        guard let endedAt else { return nil }
        return endedAt.seconds(since: answeredAt ?? receivedAt)
    }
}

/// A timestamped note on a call's log: what the workstation declared (`at`, `by`) beside
/// what the daemon saw (`uid`, the peer's Unix user, and `recordedAt`, when it received it).
public struct Note: Sendable, Equatable {
    public var at: Timestamp
    public var by: String
    public var text: String
    /// The uid of the peer that wrote it (SO_PEERCRED): who really wrote it.
    public var uid: UInt32?
    /// When the daemon received it.
    public var recordedAt: Timestamp?

    public init(at: Timestamp, by: String, text: String, uid: UInt32? = nil, recordedAt: Timestamp? = nil) {
        self.at = at
        self.by = by
        self.text = text
        self.uid = uid
        self.recordedAt = recordedAt
    }

    public var json: JSONValue {
        var m: [String: JSONValue] = ["at": .string(at.rfc3339), "by": .string(by), "text": .string(text)]
        if let uid { m["uid"] = .int(Int64(uid)) }
        if let recordedAt { m["recorded_at"] = .string(recordedAt.rfc3339) }
        return .object(m)
    }

    /// Who wrote a note: the handler's number, else the workstation, else the writer's uid.
    public static func author(handler: String?, workstation: String?, uid: UInt32) -> String {
        handler ?? workstation ?? "uid \(uid)"
    }
}
