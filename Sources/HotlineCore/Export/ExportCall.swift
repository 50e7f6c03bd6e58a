/// One call as the shift-end export sees it: the summary `calls.list` gives (no
/// identifying field, no note) and the call's alerts (PROTOCOL.md section 11).
public struct ExportCall: Sendable, Equatable {
    public struct AlertTimes: Sendable, Equatable {
        public var id: String
        public var reason: String
        public var level: Int
        public var raisedAt: Timestamp
        public var ackedAt: Timestamp?

        public init(id: String, reason: String, level: Int, raisedAt: Timestamp, ackedAt: Timestamp?) {
            self.id = id
            self.reason = reason
            self.level = level
            self.raisedAt = raisedAt
            self.ackedAt = ackedAt
        }

        public var ackSeconds: Double? { ackedAt.map { $0.seconds(since: raisedAt) } }
    }

    public var id: String
    public var receivedAt: Timestamp
    public var dialled: String
    public var route: String
    public var grade: String
    public var marking: String
    public var anonymous: Bool
    public var escalated: Bool
    public var category: String?
    public var outcome: String?
    public var answeredAt: Timestamp?
    public var endedAt: Timestamp?
    public var workstation: String?
    public var handler: String?
    public var alerts: [AlertTimes]

    /// Ended minus answered (minus received when never answered); nil while open.
    public var handlingSeconds: Double? {
        endedAt.map { $0.seconds(since: answeredAt ?? receivedAt) }
    }

    /// Answered minus received; nil when never answered.
    public var answerSeconds: Double? { answeredAt.map { $0.seconds(since: receivedAt) } }

    public init(
        id: String, receivedAt: Timestamp, dialled: String, route: String, grade: String, marking: String,
        anonymous: Bool = false, escalated: Bool = false, category: String? = nil, outcome: String? = nil,
        answeredAt: Timestamp? = nil, endedAt: Timestamp? = nil, workstation: String? = nil, handler: String? = nil,
        alerts: [AlertTimes] = []
    ) {
        self.id = id
        self.receivedAt = receivedAt
        self.dialled = dialled
        self.route = route
        self.grade = grade
        self.marking = marking
        self.anonymous = anonymous
        self.escalated = escalated
        self.category = category
        self.outcome = outcome
        self.answeredAt = answeredAt
        self.endedAt = endedAt
        self.workstation = workstation
        self.handler = handler
        self.alerts = alerts
    }

    /// From a call of the `export` op's answer; nil when a required member is missing.
    public init?(json c: JSONValue) {
        func time(_ key: String) -> Timestamp? { c[key]?.stringValue.flatMap { try? Timestamp(rfc3339: $0) } }
        guard let id = c["call_id"]?.stringValue, let received = time("received_at"),
            let dialled = c["dialled"]?.stringValue, let route = c["route"]?.stringValue,
            let grade = c["grade"]?.stringValue, let marking = c["marking"]?.stringValue
        else { return nil }
        let alerts = (c["alerts"]?.arrayValue ?? []).compactMap { a -> AlertTimes? in
            guard let id = a["id"]?.stringValue,
                let raised = a["raised_at"]?.stringValue.flatMap({ try? Timestamp(rfc3339: $0) })
            else { return nil }
            return AlertTimes(
                id: id, reason: a["reason"]?.stringValue ?? "", level: Int(a["level"]?.intValue ?? 1), raisedAt: raised,
                ackedAt: a["acked_at"]?.stringValue.flatMap { try? Timestamp(rfc3339: $0) })
        }
        self.init(
            id: id, receivedAt: received, dialled: dialled, route: route, grade: grade, marking: marking,
            anonymous: c["anonymous"]?.boolValue ?? false, escalated: c["escalated"]?.boolValue ?? false,
            category: c["category"]?.stringValue, outcome: c["outcome"]?.stringValue, answeredAt: time("answered_at"),
            endedAt: time("ended_at"), workstation: c["workstation"]?.stringValue, handler: c["handler"]?.stringValue,
            alerts: alerts)
    }
}
