/// How quickly one route's calls were answered (the UK 999 answer standard, issue 16):
/// calls presented, answered, abandoned before answer; answered under 10 s, 10 s to under
/// 60 s, and 60 s or more (the Home Office's bands); the mean and 90th percentile answer
/// time; and, for a route with a standard, whether it was met.
///
/// Definitions (docs/REPORTS.md): answer time is `answered_at` minus `received_at`, the
/// time from the call being connected to the force to a handler answering it. A call is
/// *abandoned* when it ended without ever being answered; a call neither answered nor
/// ended is *waiting*. Shares are of the answered calls. The 90th percentile is by nearest
/// rank: the smallest answer time that at least 90% of answered calls are at or under.
public struct AnswerStats: Sendable, Equatable {
    public let standard: AnswerStandard?
    public private(set) var presented = 0
    public private(set) var answered = 0
    public private(set) var abandoned = 0
    public private(set) var under10 = 0
    public private(set) var from10To60 = 0
    public private(set) var sixtyOrMore = 0
    /// Answered in under the standard's time (the standard's numerator).
    public private(set) var withinStandard = 0
    private var seconds: [Double] = []
    private var total: Double = 0

    public init(standard: AnswerStandard?) { self.standard = standard }

    public var waiting: Int { presented - answered - abandoned }

    public mutating func add(receivedAt: Timestamp, answeredAt: Timestamp?, endedAt: Timestamp?) {
        presented += 1
        guard let answeredAt else {
            if endedAt != nil { abandoned += 1 }
            return
        }
        answered += 1
        let s = max(0, answeredAt.seconds(since: receivedAt))
        seconds.append(s)
        total += s
        if s < 10 {
            under10 += 1
        } else if s < 60 {
            from10To60 += 1
        } else {
            sixtyOrMore += 1
        }
        if let standard, s < standard.withinSeconds { withinStandard += 1 }
    }

    public var meanSeconds: Double? { answered == 0 ? nil : total / Double(answered) }

    /// The nearest-rank 90th percentile of the answer times.
    public var p90Seconds: Double? {
        guard !seconds.isEmpty else { return nil }
        let sorted = seconds.sorted()
        let rank = (sorted.count * 9 + 9) / 10  // ceil(0.9 × n)
        return sorted[rank - 1]
    }

    /// `count` as a share of the answered calls; nil when none was answered.
    public func share(_ count: Int) -> Double? { answered == 0 ? nil : Double(count) / Double(answered) }

    /// `count` as a share of the answered calls in units of 1/`scale`, rounded down, worked
    /// in whole numbers: what reports print (a share shown as 90.0% has met 90%, never
    /// 89.96% rounded up beside a NOT MET). Nil when none was answered.
    public func shareDown(_ count: Int, scale: Int) -> Int? { answered == 0 ? nil : count * scale / answered }

    /// Whether the standard was met; nil without a standard or without an answered call.
    public var met: Bool? {
        guard let standard, answered > 0 else { return nil }
        // In whole calls, so 9 of 10 meets 90% exactly.
        return Double(withinStandard) >= standard.share * Double(answered) - 1e-9
    }

    public var json: JSONValue {
        func band(_ n: Int) -> JSONValue { ["calls": .int(Int64(n)), "share": shareJSON(n)] }
        var m: [String: JSONValue] = [
            "presented": .int(Int64(presented)), "answered": .int(Int64(answered)), "abandoned": .int(Int64(abandoned)),
            "waiting": .int(Int64(waiting)),
            "under_10s": band(under10), "10_to_60s": band(from10To60), "60s_or_more": band(sixtyOrMore),
            "mean_seconds": Self.seconds(meanSeconds), "p90_seconds": Self.seconds(p90Seconds),
        ]
        if let standard {
            m["standard"] = [
                "within_seconds": .double(standard.withinSeconds), "share": .double(standard.share),
                "calls_within": .int(Int64(withinStandard)), "share_within": shareJSON(withinStandard),
                "met": met.map(JSONValue.bool) ?? .null,
            ]
        } else {
            m["standard"] = .null
        }
        return .object(m)
    }

    /// Seconds as reports write them: to the millisecond.
    public static func seconds(_ x: Double?) -> JSONValue { x.map { .double(($0 * 1000).rounded() / 1000) } ?? .null }
    /// A share as the JSON writes it: a fraction to four places, rounded down (0.7142).
    func shareJSON(_ count: Int) -> JSONValue { shareDown(count, scale: 10000).map { .double(Double($0) / 10000) } ?? .null }
}

/// What the daemon tells a report about each route (the first page of an `export`): its
/// answer standard and its categories' labels, so reports need no copy of the configuration.
public struct RouteReporting: WireValue {
    public var name: String
    public var answerStandard: AnswerStandard?
    public var categories: [CategoryLabel]

    public init(name: String, answerStandard: AnswerStandard? = nil, categories: [CategoryLabel] = []) {
        self.name = name
        self.answerStandard = answerStandard
        self.categories = categories
    }

    public init(_ rule: RouteRule) {
        self.init(name: rule.name, answerStandard: rule.answerStandard, categories: rule.categories)
    }

    public var json: JSONValue {
        [
            "name": .string(name), "answer_standard": answerStandard?.json ?? .null,
            "categories": .array(categories.map { ["slug": .string($0.slug), "label": .string($0.label)] }),
        ]
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        var standard: AnswerStandard? = nil
        if let v = r.value("answer_standard"), v != .null {
            let s = try AnswerReader(v, path: r.field("answer_standard"))
            guard let within = try s.optionalDouble("within_seconds"), let share = try s.optionalDouble("share") else {
                throw AnswerError(r.field("answer_standard"), "needs within_seconds and share")
            }
            standard = AnswerStandard(withinSeconds: within, share: share)
        }
        var categories: [CategoryLabel] = []
        if case .array(let items)? = r.value("categories") {
            for (i, item) in items.enumerated() {
                let c = try AnswerReader(item, path: r.field("categories.\(i)"))
                categories.append(CategoryLabel(slug: try c.string("slug"), label: try c.string("label")))
            }
        }
        self.init(name: try r.string("name"), answerStandard: standard, categories: categories)
    }
}

/// What a duty inspector hands over at a shift's end: the calls still open then (received
/// in that shift or any earlier one), and the calls that had ended by then without an
/// outcome and have not been given one since ("no call or click will be ignored"), in
/// whatever shift they ended. The counts are exact; the lists capped.
public struct Handover: WireValue {
    /// The instant "open" is judged at: the shift's end, or now for a shift still running.
    public var asOf: Timestamp
    public var openCount: Int
    public var open: [HandoverCall]
    public var withoutOutcomeCount: Int
    public var withoutOutcome: [HandoverCall]
    /// The highest marking among every call of both lists, those past the cap too: the
    /// report that lists them is marked at least this.
    public var highestMarking: Marking

    public init(
        asOf: Timestamp, openCount: Int = 0, open: [HandoverCall] = [], withoutOutcomeCount: Int = 0,
        withoutOutcome: [HandoverCall] = [], highestMarking: Marking = .official
    ) {
        self.asOf = asOf
        self.openCount = openCount
        self.open = open
        self.withoutOutcomeCount = withoutOutcomeCount
        self.withoutOutcome = withoutOutcome
        self.highestMarking = highestMarking
    }

    public var json: JSONValue {
        [
            "as_of": .string(asOf.rfc3339), "open": .int(Int64(openCount)), "open_calls": .array(open.map(\.json)),
            "ended_without_outcome": .int(Int64(withoutOutcomeCount)),
            "ended_without_outcome_calls": .array(withoutOutcome.map(\.json)), "highest_marking": .string(highestMarking.rawValue),
        ]
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(
            asOf: try r.time("as_of"), openCount: Int(try r.int("open")), open: try r.values("open_calls"),
            withoutOutcomeCount: Int(try r.int("ended_without_outcome")), withoutOutcome: try r.values("ended_without_outcome_calls"),
            highestMarking: try r.optionalString("highest_marking").flatMap(Marking.init(rawValue:)) ?? .official)
    }
}

/// A call on the handover lists: no identifying field, no note; how long it had been open
/// when the list was made (received to then, or to its end).
public struct HandoverCall: WireValue {
    public var callID: String
    public var route: String
    public var grade: String
    public var marking: String
    public var category: String?
    public var receivedAt: Timestamp
    public var answeredAt: Timestamp?
    public var endedAt: Timestamp?
    public var workstation: String?
    public var handler: String?
    public var openSeconds: Double

    public init(
        callID: String, route: String, grade: String, marking: String, category: String? = nil, receivedAt: Timestamp,
        answeredAt: Timestamp? = nil, endedAt: Timestamp? = nil, workstation: String? = nil, handler: String? = nil,
        openSeconds: Double
    ) {
        self.callID = callID
        self.route = route
        self.grade = grade
        self.marking = marking
        self.category = category
        self.receivedAt = receivedAt
        self.answeredAt = answeredAt
        self.endedAt = endedAt
        self.workstation = workstation
        self.handler = handler
        self.openSeconds = openSeconds
    }

    /// A call as listed at `asOf`.
    public init(_ s: CallState, asOf: Timestamp) {
        let until = s.endedAt.map { min($0, asOf) } ?? asOf
        self.init(
            callID: s.id, route: s.route, grade: s.grade.rawValue, marking: s.marking.rawValue, category: s.category,
            receivedAt: s.receivedAt, answeredAt: s.answeredAt, endedAt: s.endedAt, workstation: s.workstation, handler: s.handler,
            openSeconds: max(0, until.seconds(since: s.receivedAt)))
    }

    public var json: JSONValue {
        [
            "call_id": .string(callID), "route": .string(route), "grade": .string(grade), "marking": .string(marking),
            "category": .optional(category), "received_at": .string(receivedAt.rfc3339),
            "answered_at": .optional(answeredAt?.rfc3339), "ended_at": .optional(endedAt?.rfc3339),
            "workstation": .optional(workstation), "handler": .optional(handler),
            "open_seconds": .double((openSeconds * 1000).rounded() / 1000),
        ]
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(
            callID: try r.string("call_id"), route: try r.string("route"), grade: try r.string("grade"), marking: try r.string("marking"),
            category: try r.optionalString("category"), receivedAt: try r.time("received_at"),
            answeredAt: try r.optionalTime("answered_at"),
            endedAt: try r.optionalTime("ended_at"), workstation: try r.optionalString("workstation"),
            handler: try r.optionalString("handler"), openSeconds: try r.optionalDouble("open_seconds") ?? 0)
    }
}
