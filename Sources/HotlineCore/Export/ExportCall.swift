/// One call as the shift-end export sees it: the summary `calls.list` gives (no
/// identifying field, no note) and the call's alerts (PROTOCOL.md section 11).
public struct ExportCall: Sendable, Equatable {
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
    public var alerts: [AlertView]
    public var flags: [String: Bool]
    public var initialGrade: String?
    public var gradeChanges: Int
    public var held: Bool
    /// How the call came in (issue 18).
    public var channel: CallChannel

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
        alerts: [AlertView] = [], flags: [String: Bool] = [:], initialGrade: String? = nil, gradeChanges: Int = 0,
        held: Bool = false, channel: CallChannel = .voice
    ) {
        self.channel = channel
        self.flags = flags
        self.initialGrade = initialGrade
        self.gradeChanges = gradeChanges
        self.held = held
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

    /// A call of the `export` op's answer.
    public init(_ row: ExportRow) {
        let c = row.summary
        self.init(
            id: c.callID, receivedAt: c.receivedAt, dialled: c.dialled, route: c.route, grade: c.grade, marking: c.marking,
            anonymous: c.anonymous, escalated: c.escalated, category: c.category, outcome: c.outcome, answeredAt: c.answeredAt,
            endedAt: c.endedAt, workstation: c.workstation, handler: c.handler,
            alerts: row.alerts, flags: c.flags, initialGrade: row.initialGrade, gradeChanges: row.gradeChanges, held: row.held,
            channel: c.channel)
    }
}
