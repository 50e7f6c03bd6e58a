/// One change of a call's grade or marking (issue 16), as its events record it: who (the
/// peer's uid, and the handler and workstation it declared), when (the time it declared
/// and the daemon's), from what to what, and why. The first entry is the call's start.
public struct ClassificationChange: Sendable, Equatable {
    public var seq: Int64
    /// The time the workstation declared: the start's `received_at`, an update's `at`.
    public var at: Timestamp
    /// When the daemon received the event.
    public var recordedAt: Timestamp
    public var uid: UInt32
    public var handler: String?
    public var workstation: String?
    public var gradeFrom: String?
    public var gradeTo: String
    public var markingFrom: String?
    public var markingTo: String
    /// The reason the update gave (sealed at rest); nil when it gave none.
    public var reason: String?
    /// Why the daemon changed the grade itself: `threat-to-life` when the flag raised it.
    public var cause: String?

    public init(
        seq: Int64, at: Timestamp, recordedAt: Timestamp, uid: UInt32, handler: String? = nil, workstation: String? = nil,
        gradeFrom: String?, gradeTo: String, markingFrom: String?, markingTo: String, reason: String? = nil, cause: String? = nil
    ) {
        self.seq = seq
        self.at = at
        self.recordedAt = recordedAt
        self.uid = uid
        self.handler = handler
        self.workstation = workstation
        self.gradeFrom = gradeFrom
        self.gradeTo = gradeTo
        self.markingFrom = markingFrom
        self.markingTo = markingTo
        self.reason = reason
        self.cause = cause
    }

    public var json: JSONValue {
        [
            "seq": .int(seq), "at": .string(at.rfc3339), "recorded_at": .string(recordedAt.rfc3339), "uid": .int(Int64(uid)),
            "handler": .optional(handler), "workstation": .optional(workstation),
            "grade": ["from": .optional(gradeFrom), "to": .string(gradeTo)],
            "marking": ["from": .optional(markingFrom), "to": .string(markingTo)],
            "reason": .optional(reason), "cause": .optional(cause),
        ]
    }
}

extension ClassificationChange: WireValue {
    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        guard let g = r.value("grade"), let m = r.value("marking") else { throw AnswerError(r.field("grade"), "is required") }
        let gr = try AnswerReader(g, path: r.field("grade"))
        let mr = try AnswerReader(m, path: r.field("marking"))
        self.init(
            seq: try r.int("seq"), at: try r.time("at"), recordedAt: try r.time("recorded_at"),
            uid: UInt32(truncatingIfNeeded: try r.int("uid")), handler: try r.optionalString("handler"),
            workstation: try r.optionalString("workstation"), gradeFrom: try gr.optionalString("from"), gradeTo: try gr.string("to"),
            markingFrom: try mr.optionalString("from"), markingTo: try mr.string("to"), reason: try r.optionalString("reason"),
            cause: try r.optionalString("cause"))
    }
}

/// Folds a call's events, in order, into its grade and marking history. Every engine
/// reads the events and hands them here, so the history means the same on each.
public struct ClassificationHistory: Sendable {
    /// One event as the history needs it: its chained body and acknowledgement, who sent
    /// it, and (opened only when asked) the reason it gave.
    public struct Event: Sendable {
        public var seq: Int64
        public var op: String
        public var body: JSONValue
        public var ack: JSONValue
        public var recordedAt: Timestamp
        public var uid: UInt32

        public init(seq: Int64, op: String, body: JSONValue, ack: JSONValue, recordedAt: Timestamp, uid: UInt32) {
            self.seq = seq
            self.op = op
            self.body = body
            self.ack = ack
            self.recordedAt = recordedAt
            self.uid = uid
        }
    }

    public private(set) var changes: [ClassificationChange] = []
    private var grade: String?
    private var marking: String?

    public init() {}

    /// The grade the call started with.
    public var initialGrade: String? { changes.first?.gradeTo }
    /// How many times the grade changed after the start.
    public var gradeChanges: Int { changes.dropFirst().filter { $0.gradeFrom != $0.gradeTo }.count }

    /// Adds the next event; `reason` is asked for only when the event changed something.
    public mutating func add(_ e: Event, reason: () -> String?) {
        guard let g = e.ack["grade"]?.stringValue, let m = e.ack["marking"]?.stringValue else { return }
        if e.op == "call.start" || grade == nil {
            grade = g
            marking = m
            let at = e.body["received_at"]?.stringValue.flatMap { try? Timestamp(rfc3339: $0) } ?? e.recordedAt
            changes.append(
                ClassificationChange(
                    seq: e.seq, at: at, recordedAt: e.recordedAt, uid: e.uid, handler: e.body["handler"]?.stringValue,
                    workstation: e.body["workstation"]?.stringValue, gradeFrom: nil, gradeTo: g, markingFrom: nil, markingTo: m))
            return
        }
        guard g != grade || m != marking else { return }
        let at = e.body["at"]?.stringValue.flatMap { try? Timestamp(rfc3339: $0) } ?? e.recordedAt
        let set = e.body["set"]
        // The flag, not the handler, raised the grade when the update asked for none.
        let cause = g != grade && set?["grade"] == nil && set?["flags"]?["threat_to_life"] == true ? "threat-to-life" : nil
        changes.append(
            ClassificationChange(
                seq: e.seq, at: at, recordedAt: e.recordedAt, uid: e.uid, handler: e.body["handler"]?.stringValue,
                workstation: e.body["workstation"]?.stringValue, gradeFrom: grade, gradeTo: g, markingFrom: marking, markingTo: m,
                reason: reason(), cause: cause))
        grade = g
        marking = m
    }

    /// Only the grades of a call's acknowledgements, in order: the export's two columns.
    public static func grades(_ acks: [String]) -> (initial: String?, changes: Int) {
        var initial: String? = nil
        var last: String? = nil
        var changes = 0
        for g in acks {
            if initial == nil {
                initial = g
            } else if g != last {
                changes += 1
            }
            last = g
        }
        return (initial, changes)
    }
}
