/// The routing rules: which route a call takes, by its normalised dialled number and its
/// channel (issue 18): a number on that channel (a route's `match`), then every call of
/// the channel (a `match` without numbers), then the number on any channel (its
/// `numbers`), then `unrouted`. A whole channel beats a plain number because it says
/// "every call": an online report whose form filled in 999 is still a hotline report,
/// confidential and anonymous if asked, not an emergency call that keeps the reporter's
/// identity.
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
        byNumberOnChannel[NumberOnChannel(number: dialled, channel: channel)] ?? byChannel[channel] ?? byNumber[dialled]
            ?? unrouted
    }

    public func rule(named name: String) -> RouteRule? {
        all.first { $0.name == name }
    }
}
