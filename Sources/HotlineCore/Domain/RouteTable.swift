/// The routing rules: which route a call takes, by its normalised dialled number and its
/// channel (issue 18). The most specific rule wins: a number on that channel (a route's
/// `match`), then the number on any channel (its `numbers`), then every call of the
/// channel (a `match` without numbers), then `unrouted`.
public struct RouteTable: Sendable {
    private struct NumberOnChannel: Hashable {
        var number: String
        var channel: CallChannel
    }
    private let byNumberOnChannel: [NumberOnChannel: RouteRule]
    private let byNumber: [String: RouteRule]
    private let byChannel: [CallChannel: RouteRule]
    public let unrouted: RouteRule
    public let all: [RouteRule]

    public init(routes: [RouteRule], unrouted: RouteRule) {
        var byNumberOnChannel: [NumberOnChannel: RouteRule] = [:]
        var byNumber: [String: RouteRule] = [:]
        var byChannel: [CallChannel: RouteRule] = [:]
        // The first rule to claim a number or channel keeps it (a configuration that claims
        // one twice is refused by Configuration.problems).
        for route in routes {
            for number in route.numbers {
                let normal = (try? DialledNumber.normalise(number)) ?? number
                if byNumber[normal] == nil { byNumber[normal] = route }
            }
            for match in route.match {
                if match.numbers.isEmpty, byChannel[match.channel] == nil { byChannel[match.channel] = route }
                for number in match.numbers {
                    let key = NumberOnChannel(number: (try? DialledNumber.normalise(number)) ?? number, channel: match.channel)
                    if byNumberOnChannel[key] == nil { byNumberOnChannel[key] = route }
                }
            }
        }
        self.byNumberOnChannel = byNumberOnChannel
        self.byNumber = byNumber
        self.byChannel = byChannel
        self.unrouted = unrouted
        self.all = routes + [unrouted]
    }

    public init(_ configuration: Configuration) {
        self.init(routes: configuration.routes, unrouted: configuration.unrouted)
    }

    /// The route for a normalised number on `channel`; an unknown number is still logged,
    /// as `unrouted`. An online report without a number has `dialled` "".
    public func route(for dialled: String, channel: CallChannel = .voice) -> RouteRule {
        byNumberOnChannel[NumberOnChannel(number: dialled, channel: channel)] ?? byNumber[dialled] ?? byChannel[channel]
            ?? unrouted
    }

    public func rule(named name: String) -> RouteRule? {
        all.first { $0.name == name }
    }
}
