/// How long ended calls are kept (`retention:` in the configuration).
///
/// Each rule names a route, a marking, or both (absent: any); the first rule that matches a
/// call decides. A call no rule matches is kept for ever. Only ended calls are purged, and
/// only once `purge_after_days` whole days have passed since they ended.
public struct RetentionRule: Sendable, Equatable, Codable {
    public var route: String?
    public var marking: Marking?
    public var purgeAfterDays: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case route, marking
        case purgeAfterDays = "purge_after_days"
    }

    public init(route: String? = nil, marking: Marking? = nil, purgeAfterDays: Int) {
        self.route = route
        self.marking = marking
        self.purgeAfterDays = purgeAfterDays
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        route = try c.decodeIfPresent(String.self, forKey: .route)
        marking = try c.decodeIfPresent(Marking.self, forKey: .marking)
        purgeAfterDays = try c.decode(Int.self, forKey: .purgeAfterDays)
    }

    public func matches(route: String, marking: Marking) -> Bool {
        (self.route == nil || self.route == route) && (self.marking == nil || self.marking == marking)
    }

    /// The JSON recorded in the audit entry of a purge.
    public var json: JSONValue {
        var m: [String: JSONValue] = ["purge_after_days": .int(Int64(purgeAfterDays))]
        m["route"] = .optional(route)
        m["marking"] = .optional(marking?.rawValue)
        return .object(m)
    }
}

public enum Retention {
    public static let microsecondsPerDay: Int64 = 86_400 * 1_000_000

    /// The rule that decides for a call on `route` at `marking`, if any.
    public static func rule(for route: String, marking: Marking, in rules: [RetentionRule]) -> RetentionRule? {
        rules.first { $0.matches(route: route, marking: marking) }
    }

    /// Whether a call that ended at `endedAt` is due to be purged at `now`.
    public static func isDue(
        route: String, marking: Marking, endedAt: Timestamp?, now: Timestamp, rules: [RetentionRule]
    ) -> Bool {
        guard let endedAt, let rule = rule(for: route, marking: marking, in: rules) else { return false }
        return endedAt.microseconds + Int64(rule.purgeAfterDays) * microsecondsPerDay <= now.microseconds
    }

    /// Whether a call is due, its end being the later of the one the workstation gave
    /// (`endedAt`) and the time the daemon recorded its `call.end` (`recordedEnd`): a
    /// back-dated end must not get a call purged early. Every engine decides by this.
    public static func isDue(
        route: String, marking: Marking, endedAt: Int64?, recordedEnd: Int64?, now: Timestamp, rules: [RetentionRule]
    ) -> Bool {
        guard let endedAt else { return false }
        return isDue(
            route: route, marking: marking, endedAt: Timestamp(microseconds: max(endedAt, recordedEnd ?? endedAt)), now: now,
            rules: rules)
    }

    /// The oldest end time that can be due under any rule: calls ended later need no look.
    public static func horizon(now: Timestamp, rules: [RetentionRule]) -> Timestamp? {
        guard let shortest = rules.map(\.purgeAfterDays).min() else { return nil }
        return Timestamp(microseconds: now.microseconds - Int64(shortest) * microsecondsPerDay)
    }
}
