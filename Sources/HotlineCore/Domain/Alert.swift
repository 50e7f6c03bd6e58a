/// Why an alert was raised (PROTOCOL.md section 7).
public enum AlertReason: String, Sendable, Codable, CaseIterable {
    /// The route raises one on `call.start` (999 and 112).
    case emergencyLine = "emergency-line"
    /// A handler flagged a threat to life; once per call, on any route.
    case threatToLife = "threat-to-life"
}

/// An alert as it is stored and pushed.
public struct Alert: Sendable, Equatable {
    public var id: String
    public var callID: String
    public var seq: Int64
    public var route: String
    public var grade: Grade
    public var reason: AlertReason
    public var level: Int
    public var raisedAt: Timestamp
    public var ackedAt: Timestamp?
    public var ackedBy: UInt32?
    /// How the call came in (issue 18): a supervisor answering an alert on a BSL or SMS call
    /// must know it before reaching for the phone.
    public var channel: CallChannel

    public init(
        id: String, callID: String, seq: Int64, route: String, grade: Grade, reason: AlertReason, level: Int = 1,
        raisedAt: Timestamp, ackedAt: Timestamp? = nil, ackedBy: UInt32? = nil, channel: CallChannel = .voice
    ) {
        self.channel = channel
        self.id = id
        self.callID = callID
        self.seq = seq
        self.route = route
        self.grade = grade
        self.reason = reason
        self.level = level
        self.raisedAt = raisedAt
        self.ackedAt = ackedAt
        self.ackedBy = ackedBy
    }

    /// The frame pushed to subscribers (PROTOCOL.md section 7): no identifying field, no note.
    public var pushFrame: JSONValue { Push.alert(AlertView(self)).json }

    /// As it is listed with a call and exported.
    public var json: JSONValue { AlertView(self).json }

    /// Seconds since it was raised.
    public func age(at now: Timestamp) -> Double { now.seconds(since: raisedAt) }
}
