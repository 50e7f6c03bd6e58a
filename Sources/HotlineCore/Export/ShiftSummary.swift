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

    /// Each route's answer standard and category labels, from the export's first page.
    public private(set) var routes: [RouteReporting] = []
    /// How quickly each route's calls were answered (issue 16): every route the daemon
    /// reported, and any other a call came in on.
    public private(set) var answerTimes: [String: AnswerStats] = [:]
    /// The same per channel (issue 18): whether relay, SMS and online calls wait longer.
    public private(set) var byChannel = AnswerTimesByChannel()
    /// 999 calls on which the caller could not speak, and those who pressed 55.
    public private(set) var silent = 0
    public private(set) var pressed55 = 0
    /// Calls on legal hold.
    public private(set) var held = 0
    /// The calls to hand over at the window's end, when the daemon sent them.
    public private(set) var handover: Handover?

    public init(window: ShiftWindow, listLimit: Int = 500) {
        self.window = window
        self.listLimit = listLimit
        let hours = window.hours
        perHour = Array(repeating: [:], count: hours.count)
        firstHour = hours.first?.microseconds ?? window.from.microseconds
    }

    /// Takes what the export's first page says beside its calls: the routes' reporting
    /// rules and the handover lists.
    public mutating func adopt(routes: [RouteReporting]?, handover: Handover?) {
        if let routes {
            self.routes = routes
            for route in routes where answerTimes[route.name] == nil {
                answerTimes[route.name] = AnswerStats(standard: route.answerStandard)
            }
        }
        if let handover {
            self.handover = handover
            // The report lists them: it is marked as the most sensitive of them.
            for marking in [handover.highestMarking]
                + (handover.open + handover.withoutOutcome).compactMap({ Marking(rawValue: $0.marking) })
            where marking > highestMarking {
                highestMarking = marking
            }
        }
    }

    /// The label a category is shown with: its route's, else its slug.
    public func label(category slug: String) -> String {
        for route in routes { if let c = route.categories.first(where: { $0.slug == slug }) { return c.label } }
        return slug
    }

    public mutating func add(_ c: ExportCall) {
        calls += 1
        let standard = routes.first { $0.name == c.route }?.answerStandard
        answerTimes[c.route, default: AnswerStats(standard: standard)].add(
            receivedAt: c.receivedAt, answeredAt: c.answeredAt, endedAt: c.endedAt)
        byChannel.add(c, standard: standard)
        if c.flags["silent"] == true { silent += 1 }
        if c.flags["pressed_55"] == true { pressed55 += 1 }
        if c.held { held += 1 }
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
        var extra: [String: JSONValue] = [
            "answer_times": .object(answerTimes.mapValues(\.json)), "by_channel": byChannel.json,
            "silent": .int(Int64(silent)), "pressed_55": .int(Int64(pressed55)), "held": .int(Int64(held)),
        ]
        if let handover { extra["handover"] = handover.json }
        let base: JSONValue = [
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
        return .object(base.objectValue!.merging(extra) { a, _ in a })
    }
}
