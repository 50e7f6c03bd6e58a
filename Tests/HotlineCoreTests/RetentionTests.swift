import HotlineCore
import Testing

/// Which ended calls retention purges, and when (the `retention:` rules).
@Suite struct RetentionTests {
    static let rules = [
        RetentionRule(route: "anti-terrorist-hotline", marking: .secret, purgeAfterDays: 3650),
        RetentionRule(route: "anti-terrorist-hotline", purgeAfterDays: 2555),
        RetentionRule(marking: .official, purgeAfterDays: 365),
    ]

    static func ts(_ text: String) -> Timestamp {
        do { return try Timestamp(rfc3339: text) } catch { fatalError("bad test time \(text)") }
    }

    @Test func theFirstMatchingRuleDecides() {
        #expect(Retention.rule(for: "anti-terrorist-hotline", marking: .secret, in: Self.rules)?.purgeAfterDays == 3650)
        #expect(Retention.rule(for: "anti-terrorist-hotline", marking: .official, in: Self.rules)?.purgeAfterDays == 2555)
        #expect(Retention.rule(for: "emergency", marking: .official, in: Self.rules)?.purgeAfterDays == 365)
        #expect(Retention.rule(for: "emergency", marking: .officialSensitive, in: Self.rules) == nil)
    }

    @Test func aCallIsDueOnceItsWholeDaysHavePassedSinceItEnded() {
        let ended = Self.ts("2025-11-24T10:00:00Z")
        func due(_ now: String, route: String = "emergency", marking: Marking = .official, ended: Timestamp? = ended) -> Bool {
            Retention.isDue(route: route, marking: marking, endedAt: ended, now: Self.ts(now), rules: Self.rules)
        }
        #expect(!due("2026-11-24T09:59:59.999999Z"))  // 365 days less a microsecond
        #expect(due("2026-11-24T10:00:00Z"))
        #expect(!due("2030-01-01T00:00:00Z", ended: nil))  // still open: never
        #expect(!due("2030-01-01T00:00:00Z", marking: .officialSensitive))  // no rule: kept
        #expect(!due("2030-01-01T00:00:00Z", route: "anti-terrorist-hotline"))
        #expect(due("2032-11-24T10:00:00Z", route: "anti-terrorist-hotline"))
    }

    @Test func theHorizonIsSetByTheShortestRule() {
        let now = Self.ts("2026-11-24T10:00:00Z")
        #expect(Retention.horizon(now: now, rules: Self.rules) == Self.ts("2025-11-24T10:00:00Z"))
        #expect(Retention.horizon(now: now, rules: []) == nil)
    }

    @Test func rulesNamingAnUnknownRouteOrAnOddPeriodAreProblems() {
        var c = ConfigurationTests.shipped
        c.retention = [
            RetentionRule(route: "emergncy", purgeAfterDays: 30),
            RetentionRule(marking: .secret, purgeAfterDays: 0),
            RetentionRule(route: "unrouted", purgeAfterDays: 36_501),
            RetentionRule(route: "emergency", marking: .official, purgeAfterDays: 30),
        ]
        #expect(
            c.problems() == [
                .init(path: "retention.0.route", reason: "\"emergncy\" is not a configured route"),
                .init(path: "retention.1.purge_after_days", reason: "must be between 1 and 36500"),
                .init(path: "retention.2.purge_after_days", reason: "must be between 1 and 36500"),
            ])
    }
}
