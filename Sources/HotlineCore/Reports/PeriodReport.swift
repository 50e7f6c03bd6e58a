/// The period report (`hotlinectl report --month 2026-11`, or `--from/--to`): for each
/// route, the answer-time figures the Home Office publishes monthly for 999 (calls, the
/// share answered under 10 s, 10 to 60 s and 60 s or more, the mean), with the 90th
/// percentile and whether the route's standard was met; the same for each local day; and
/// the same for each channel, over every route and on each (issue 18). Built call by call,
/// so it streams: it keeps a few answer times a call.
public struct PeriodReport: Sendable {
    public let window: ShiftWindow
    /// The local days of the window (a day with a clock change is 23 or 25 hours).
    public let days: [(date: String, from: Timestamp, to: Timestamp)]
    public private(set) var routes: [RouteReporting] = []
    public private(set) var totals: [String: AnswerStats] = [:]
    /// Per local day, per route.
    public private(set) var perDay: [[String: AnswerStats]]
    /// Per channel, and per route on each channel.
    public private(set) var byChannel = AnswerTimesByChannel()
    public private(set) var calls = 0
    /// The highest marking among the calls: what the report is marked with.
    public private(set) var highestMarking: Marking = .official

    public init(window: ShiftWindow, days: [(date: String, from: Timestamp, to: Timestamp)]) {
        self.window = window
        self.days = days
        perDay = Array(repeating: [:], count: days.count)
    }

    public mutating func adopt(routes: [RouteReporting]?) {
        guard let routes else { return }
        self.routes = routes
        for route in routes where totals[route.name] == nil { totals[route.name] = AnswerStats(standard: route.answerStandard) }
    }

    private func standard(_ route: String) -> AnswerStandard? { routes.first { $0.name == route }?.answerStandard }

    public mutating func add(_ c: ExportCall) {
        calls += 1
        if let marking = Marking(rawValue: c.marking), marking > highestMarking { highestMarking = marking }
        let standard = standard(c.route)
        totals[c.route, default: AnswerStats(standard: standard)].add(
            receivedAt: c.receivedAt, answeredAt: c.answeredAt, endedAt: c.endedAt)
        byChannel.add(c, standard: standard)
        // Days are few (31 at most for a month): a binary search is not worth its code.
        if let d = days.firstIndex(where: { $0.from <= c.receivedAt && c.receivedAt < $0.to }) {
            perDay[d][c.route, default: AnswerStats(standard: standard)].add(
                receivedAt: c.receivedAt, answeredAt: c.answeredAt, endedAt: c.endedAt)
        }
    }

    /// Routes in the report's order: those with a standard first, then by calls presented,
    /// then by name.
    public var routeOrder: [String] {
        totals.keys.sorted { a, b in
            let (sa, sb) = (totals[a]!, totals[b]!)
            if (sa.standard != nil) != (sb.standard != nil) { return sa.standard != nil }
            if sa.presented != sb.presented { return sa.presented > sb.presented }
            return a < b
        }
    }

    /// The CSV's columns: the Home Office release's figures, one row a route (`channel`
    /// `all`), then one row a route and channel that had a call (issue 18: the column and
    /// those rows are added at the end, so the route rows read as they did).
    public static let csvColumns = [
        "period", "from", "to", "timezone", "route", "calls_presented", "calls_answered", "calls_abandoned", "calls_waiting",
        "answered_under_10s", "answered_under_10s_pct", "answered_10_to_60s", "answered_10_to_60s_pct", "answered_60s_or_more",
        "answered_60s_or_more_pct", "mean_answer_seconds", "p90_answer_seconds", "standard_within_seconds", "standard_pct",
        "answered_within_standard", "answered_within_standard_pct", "standard_met", "channel",
    ]

    /// `count` of the answered calls as a percentage to one decimal place (as the Home
    /// Office release gives it), rounded down so that it never reads as meeting a target
    /// it missed.
    public static func pct(_ s: AnswerStats, _ count: Int) -> String {
        s.shareDown(count, scale: 1000).map { ExportCSV.number(Double($0) / 10) } ?? ""
    }
    static func secs(_ x: Double?) -> String { x.map { ExportCSV.number(($0 * 10).rounded() / 10) } ?? "" }

    /// The period's name in the CSV: `2026-11` for a month, else `FROM/TO`.
    public var period: String { window.name == "month" ? (window.date ?? "") : "\(window.from.rfc3339)/\(window.to.rfc3339)" }

    public var csv: String {
        var out = Self.csvColumns.joined(separator: ",") + "\r\n"
        for route in routeOrder { out += csvRow(route, channel: "all", totals[route]!) }
        for row in byChannel.rows(routes: routeOrder) { out += csvRow(row.route, channel: row.channel.rawValue, row.stats) }
        return out
    }

    private func csvRow(_ route: String, channel: String, _ s: AnswerStats) -> String {
        let cells: [String] = [
            ExportCSV.text(period), window.from.rfc3339, window.to.rfc3339, ExportCSV.text(window.timezone), ExportCSV.text(route),
            String(s.presented), String(s.answered), String(s.abandoned), String(s.waiting),
            String(s.under10), Self.pct(s, s.under10), String(s.from10To60), Self.pct(s, s.from10To60),
            String(s.sixtyOrMore), Self.pct(s, s.sixtyOrMore), Self.secs(s.meanSeconds), Self.secs(s.p90Seconds),
            s.standard.map { ExportCSV.number($0.withinSeconds) } ?? "",
            s.standard.map { ExportCSV.number(($0.share * 1000).rounded() / 10) } ?? "",
            s.standard == nil ? "" : String(s.withinStandard), s.standard == nil ? "" : Self.pct(s, s.withinStandard),
            s.met.map { $0 ? "true" : "false" } ?? "", channel,
        ]
        return cells.joined(separator: ",") + "\r\n"
    }

    public var json: JSONValue {
        [
            "period": window.json, "calls": .int(Int64(calls)),
            "routes": .object(totals.mapValues(\.json)), "by_channel": byChannel.json,
            "days": .array(
                days.indices.map { i in
                    [
                        "date": .string(days[i].date), "from": .string(days[i].from.rfc3339), "to": .string(days[i].to.rfc3339),
                        "routes": .object(perDay[i].mapValues(\.json)),
                    ]
                }),
        ]
    }
}
