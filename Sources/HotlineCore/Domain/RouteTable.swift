/// The routing rules: which route a normalised dialled number takes.
public struct RouteTable: Sendable {
    private let byNumber: [String: RouteRule]
    public let unrouted: RouteRule
    public let all: [RouteRule]

    public init(routes: [RouteRule], unrouted: RouteRule) {
        var byNumber: [String: RouteRule] = [:]
        for route in routes {
            for number in route.numbers {
                let normal = (try? DialledNumber.normalise(number)) ?? number
                if byNumber[normal] == nil { byNumber[normal] = route }
            }
        }
        self.byNumber = byNumber
        self.unrouted = unrouted
        self.all = routes + [unrouted]
    }

    public init(_ configuration: Configuration) {
        self.init(routes: configuration.routes, unrouted: configuration.unrouted)
    }

    /// The route for a normalised number; an unknown number is still logged, as `unrouted`.
    public func route(for dialled: String) -> RouteRule {
        byNumber[dialled] ?? unrouted
    }

    public func rule(named name: String) -> RouteRule? {
        all.first { $0.name == name }
    }
}
