/// One call as the live views see it: its route and its three times, nothing else. No
/// identity, note, location or even call id is read for them.
public struct LiveCall: Sendable, Equatable {
    public var route: String
    public var receivedAt: Timestamp
    public var answeredAt: Timestamp?
    public var endedAt: Timestamp?

    public init(route: String, receivedAt: Timestamp, answeredAt: Timestamp? = nil, endedAt: Timestamp? = nil) {
        self.route = route
        self.receivedAt = receivedAt
        self.answeredAt = answeredAt
        self.endedAt = endedAt
    }
}

/// What the log holds now for the wallboard and the metrics endpoint, read in one
/// transaction: the unacknowledged alerts (the highest level first, then the oldest; at
/// most a page of them, and
/// all of them counted by level), the open calls counted by route, and the calls received
/// in a window (today, or the current shift).
public struct LiveRows: Sendable, Equatable {
    public var alerts: [Alert]
    public var unackedByLevel: [Int: Int]
    /// When the oldest unacknowledged alert was raised (listed or not).
    public var oldestUnacked: Timestamp?
    public var openByRoute: [String: Int]
    public var calls: [LiveCall]

    public init(
        alerts: [Alert] = [], unackedByLevel: [Int: Int] = [:], oldestUnacked: Timestamp? = nil, openByRoute: [String: Int] = [:],
        calls: [LiveCall] = []
    ) {
        self.alerts = alerts
        self.oldestUnacked = oldestUnacked ?? alerts.map(\.raisedAt).min()
        self.unackedByLevel = unackedByLevel
        self.openByRoute = openByRoute
        self.calls = calls
    }

    public var unacked: Int { unackedByLevel.values.reduce(0, +) }
}

/// A day's calls folded for the wallboard: answer times and calls per hour, by route.
/// Folded once per read of the day's calls and kept, with its JSON, between them: an alert
/// or an acknowledgement redraws the board without folding the day again.
public struct DayFigures: Sendable, Equatable {
    public var day: ShiftWindow
    /// Routes in the configured order, then any others the day's calls name.
    public var routes: [String]
    public var answerTimes: [String: AnswerStats]
    /// The starts of the day's (UTC) hours, and their local labels (`07:00`).
    public var hours: [Timestamp]
    public var hourLabels: [String]
    /// Per route, calls received in each of `hours`.
    public var perHour: [String: [Int]]
    /// `answer_times`, `hours` and `per_hour` as the board's JSON has them.
    public let json: [String: JSONValue]

    /// Folds `calls` (those received in `day`).
    public init(calls: [LiveCall], day: ShiftWindow, routes configured: [RouteRule], calendar: ShiftCalendar) {
        self.day = day
        var names = configured.map(\.name)
        var seen = Set(names)
        for call in calls where seen.insert(call.route).inserted { names.append(call.route) }
        routes = names
        hours = day.hours
        hourLabels = hours.map { hour in
            let local = (hour.microseconds / 1_000_000) + Int64(calendar.zone.secondsFromUTC(at: hour))
            let second = Int(((local % 86_400) + 86_400) % 86_400)
            // UTC hours: in a zone half an hour off UTC they start at :30 local.
            return digits(second / 3600, 2) + ":" + digits(second % 3600 / 60, 2)
        }
        let answerTimes = AnswerStats.byRoute(calls, routes: configured)
        var perHour: [String: [Int]] = [:]
        for name in configured.map(\.name) { perHour[name] = Array(repeating: 0, count: hours.count) }
        let first = hours.first?.microseconds ?? day.from.microseconds
        for call in calls {
            let index = Int((call.receivedAt.microseconds - first) / 3_600_000_000)
            if index >= 0, index < hours.count {
                perHour[call.route, default: Array(repeating: 0, count: hours.count)][index] += 1
            }
        }
        self.answerTimes = answerTimes
        self.perHour = perHour
        json = [
            "answer_times": .object(answerTimes.mapValues(\.json)),
            "hours": .array(hourLabels.map { .string($0) }),
            "per_hour": .object(perHour.mapValues { .array($0.map { .int(Int64($0)) }) }),
        ]
    }
}

/// The control room's wallboard at one instant (issue 17): unacknowledged alerts with
/// their age and level, calls open by route, the day's answer times against each route's
/// standard, and calls per hour by route. It carries no caller identity, no note, no
/// location and no call id: a wallboard is read by everyone in the room and by visitors.
public struct LiveBoard: Sendable, Equatable {
    public var at: Timestamp
    /// Routes in the configured order, then any others the log holds.
    public var routes: [String]
    public var alerts: [Alert]
    public var unackedByLevel: [Int: Int]
    public var openByRoute: [String: Int]
    /// The day's figures (the local day in `shifts.timezone`).
    public var figures: DayFigures

    public var day: ShiftWindow { figures.day }
    public var answerTimes: [String: AnswerStats] { figures.answerTimes }
    public var hours: [Timestamp] { figures.hours }
    public var hourLabels: [String] { figures.hourLabels }
    public var perHour: [String: [Int]] { figures.perHour }

    /// `rows`' alerts and open calls beside `figures` (folded from the day's calls, now or
    /// at an earlier read).
    public init(rows: LiveRows, figures: DayFigures, at: Timestamp) {
        self.at = at
        self.figures = figures
        alerts = rows.alerts
        unackedByLevel = rows.unackedByLevel
        openByRoute = rows.openByRoute
        var names = figures.routes
        var seen = Set(names)
        for name in rows.openByRoute.keys.sorted() + rows.alerts.map(\.route) where seen.insert(name).inserted {
            names.append(name)
        }
        routes = names
    }

    /// Folds `rows` (whose calls are those received in `day`) into a board.
    public init(rows: LiveRows, day: ShiftWindow, at: Timestamp, routes configured: [RouteRule], calendar: ShiftCalendar) {
        self.init(rows: rows, figures: DayFigures(calls: rows.calls, day: day, routes: configured, calendar: calendar), at: at)
    }

    /// The board as its page reads it. Alert ages are given as `raised_at` beside `at`, so
    /// that the page ages them itself between updates.
    public var json: JSONValue {
        var fields: [String: JSONValue] = [
            "at": .string(at.rfc3339),
            "day": day.json,
            "routes": .array(routes.map { .string($0) }),
            "alerts": .array(
                alerts.map { a in
                    [
                        "route": .string(a.route), "grade": .string(a.grade.rawValue),
                        "reason": .string(a.reason.rawValue), "level": .int(Int64(a.level)), "raised_at": .string(a.raisedAt.rfc3339),
                        "age_seconds": .int(Int64(max(0, at.seconds(since: a.raisedAt)).rounded(.down))),
                        "channel": .string(a.channel.rawValue),
                    ]
                }),
            "unacknowledged": .object(
                Dictionary(uniqueKeysWithValues: unackedByLevel.map { (String($0.key), JSONValue.int(Int64($0.value))) })),
            "unacknowledged_total": .int(Int64(unackedByLevel.values.reduce(0, +))),
            "open_by_route": .object(openByRoute.mapValues { .int(Int64($0)) }),
        ]
        fields.merge(figures.json) { a, _ in a }
        return .object(fields)
    }
}

extension ShiftCalendar {
    /// The local calendar day `instant` falls in, as a window.
    public func day(containing moment: Timestamp) -> ShiftWindow {
        let days = localDays(of: moment)
        let (y, m, d) = Timestamp.civilFromDays(days)
        return ShiftWindow(
            name: "day", date: digits(y, 4) + "-" + digits(m, 2) + "-" + digits(d, 2),
            from: self.instant(localDays: days, minuteOfDay: 0), to: self.instant(localDays: days + 1, minuteOfDay: 0),
            timezone: zone.identifier)
    }
}

extension AnswerStats {
    /// `calls` folded by route: every configured route (with its standard) whether it had
    /// calls or not, and any other route the calls name (without one). The wallboard's day
    /// and the metrics endpoint's shift both count this way.
    public static func byRoute(_ calls: [LiveCall], routes configured: [RouteRule]) -> [String: AnswerStats] {
        var stats: [String: AnswerStats] = [:]
        for route in configured where stats[route.name] == nil { stats[route.name] = AnswerStats(standard: route.answerStandard) }
        for call in calls {
            stats[call.route, default: AnswerStats(standard: nil)].add(
                receivedAt: call.receivedAt, answeredAt: call.answeredAt, endedAt: call.endedAt)
        }
        return stats
    }
}
