/// How quickly each channel's calls were answered (issue 18), so a duty inspector can see
/// whether BSL and text relay calls wait longer than voice: for each channel with a call,
/// its calls, its answer times over every route, and its answer times on each route against
/// that route's standard. Built call by call, like the reports that hold it.
///
/// The figures are `AnswerStats`', so they mean what they mean per route; only when a call
/// counts as *answered* differs by channel (docs/REPORTS.md).
public struct AnswerTimesByChannel: Sendable, Equatable {
    /// One channel's figures.
    public struct Channel: Sendable, Equatable {
        public private(set) var calls = 0
        /// Every route's calls together, against no standard: routes' standards differ.
        public private(set) var answerTimes = AnswerStats(standard: nil)
        /// Each route's calls, against the route's standard.
        public private(set) var byRoute: [String: AnswerStats] = [:]

        mutating func add(_ c: ExportCall, standard: AnswerStandard?) {
            calls += 1
            answerTimes.add(receivedAt: c.receivedAt, answeredAt: c.answeredAt, endedAt: c.endedAt)
            byRoute[c.route, default: AnswerStats(standard: standard)].add(
                receivedAt: c.receivedAt, answeredAt: c.answeredAt, endedAt: c.endedAt)
        }

        public var json: JSONValue {
            [
                "calls": .int(Int64(calls)), "answer_times": answerTimes.json,
                "by_route": .object(byRoute.mapValues(\.json)),
            ]
        }
    }

    /// Only channels with at least one call.
    public private(set) var channels: [CallChannel: Channel] = [:]

    public init() {}

    /// Counts `c` on its channel; `standard` is its route's.
    public mutating func add(_ c: ExportCall, standard: AnswerStandard?) {
        channels[c.channel, default: Channel()].add(c, standard: standard)
    }

    /// `by_channel` as the summaries write it: keyed by the channel's name.
    public var json: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: channels.map { ($0.key.rawValue, $0.value.json) }))
    }

    /// A route's figures on one channel: a row of the reports' tables.
    public struct Row: Sendable, Equatable {
        public var route: String
        public var channel: CallChannel
        public var stats: AnswerStats
    }

    /// Each route and channel that had a call, routes in `routes`' order (any other after
    /// them, by name) and each route's channels voice first, so that a route's relay calls
    /// sit beside its voice calls.
    public func rows(routes: [String]) -> [Row] {
        let named = Set(channels.values.flatMap(\.byRoute.keys))
        let order = routes.filter(named.contains) + named.subtracting(routes).sorted()
        return order.flatMap { route in
            channels.keys.sorted().compactMap { channel in
                channels[channel]!.byRoute[route].map { Row(route: route, channel: channel, stats: $0) }
            }
        }
    }
}
