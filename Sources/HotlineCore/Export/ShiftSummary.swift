/// The shift-end summary (PROTOCOL.md section 11, `--format json`), built call by call so
/// an export streams: what it keeps grows by a few numbers per call (for the medians),
/// and the lists the HTML report shows are capped.
public struct ShiftSummary: Sendable {
    public let window: ShiftWindow
    /// How many escalations and open calls the lists keep (the counts are exact).
    public let listLimit: Int

    public private(set) var calls = 0
    public private(set) var byRoute: [String: Int] = [:]
    public private(set) var byGrade: [String: Int] = [:]
    public private(set) var byOutcome: [String: Int] = [:]
    public private(set) var byCategory: [String: Int] = [:]
    public private(set) var anonymous = 0
    public private(set) var escalated = 0
    public private(set) var open = 0
    public private(set) var alertsRaised = 0
    public private(set) var alertsAcked = 0
    /// The highest marking among the calls: what the report is marked with.
    public private(set) var highestMarking: Marking = .official
    private var ackSeconds: [Double] = []
    private var answerSeconds: [Double] = []
    private var handlingSeconds: [Double] = []
    /// Calls per hour of the window (index into `window.hours`), by route.
    public private(set) var perHour: [[String: Int]]
    private let firstHour: Int64

    /// An alert for the report's list of escalations.
    public struct Escalation: Sendable, Equatable {
        public var callID: String
        public var route: String
        public var alert: AlertView
    }
    public private(set) var escalations: [Escalation] = []
    public private(set) var openCalls: [ExportCall] = []

    public init(window: ShiftWindow, listLimit: Int = 500) {
        self.window = window
        self.listLimit = listLimit
        let hours = window.hours
        perHour = Array(repeating: [:], count: hours.count)
        firstHour = hours.first?.microseconds ?? window.from.microseconds
    }

    public mutating func add(_ c: ExportCall) {
        calls += 1
        byRoute[c.route, default: 0] += 1
        byGrade[c.grade, default: 0] += 1
        if let outcome = c.outcome { byOutcome[outcome, default: 0] += 1 }
        if let category = c.category { byCategory[category, default: 0] += 1 }
        if c.anonymous { anonymous += 1 }
        if let marking = Marking(rawValue: c.marking), marking > highestMarking { highestMarking = marking }
        if c.escalated { escalated += 1 }
        if c.endedAt == nil {
            open += 1
            if openCalls.count < listLimit { openCalls.append(c) }
        }
        if let s = c.answerSeconds { answerSeconds.append(s) }
        if let s = c.handlingSeconds { handlingSeconds.append(s) }
        for alert in c.alerts {
            alertsRaised += 1
            if let s = alert.ackSeconds {
                alertsAcked += 1
                ackSeconds.append(s)
            }
            if escalations.count < listLimit { escalations.append(Escalation(callID: c.id, route: c.route, alert: alert)) }
        }
        let hour = Int((c.receivedAt.microseconds - firstHour) / 3_600_000_000)
        if perHour.indices.contains(hour) { perHour[hour][c.route, default: 0] += 1 }
    }

    public var medianAckSeconds: Double? { Self.median(ackSeconds) }
    public var medianAnswerSeconds: Double? { Self.median(answerSeconds) }
    public var medianHandlingSeconds: Double? { Self.median(handlingSeconds) }

    /// The middle value (the mean of the two middle ones for an even count); nil for none.
    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// Routes, busiest first (ties by name): the order of the chart's colours and legend.
    public var routesByVolume: [String] {
        byRoute.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map(\.key)
    }

    /// The summary as `--format json` writes it.
    public var json: JSONValue {
        func counts(_ m: [String: Int]) -> JSONValue { .object(m.mapValues { .int(Int64($0)) }) }
        func seconds(_ x: Double?) -> JSONValue { x.map { .double(($0 * 1000).rounded() / 1000) } ?? .null }
        let hours = window.hours
        return [
            "shift": window.json,
            "calls": .int(Int64(calls)),
            "by_route": counts(byRoute), "by_grade": counts(byGrade), "by_outcome": counts(byOutcome),
            "by_category": counts(byCategory),
            "anonymous": .int(Int64(anonymous)), "escalated": .int(Int64(escalated)), "open": .int(Int64(open)),
            "alerts": [
                "raised": .int(Int64(alertsRaised)), "acked": .int(Int64(alertsAcked)),
                "median_ack_seconds": seconds(medianAckSeconds),
            ],
            "median_answer_seconds": seconds(medianAnswerSeconds),
            "median_handling_seconds": seconds(medianHandlingSeconds),
            "per_hour": .array(
                hours.indices.map { i in
                    [
                        "hour": .string(hours[i].rfc3339),
                        "calls": .int(Int64(perHour[i].values.reduce(0, +))),
                        "by_route": counts(perHour[i]),
                    ]
                }),
        ]
    }
}
