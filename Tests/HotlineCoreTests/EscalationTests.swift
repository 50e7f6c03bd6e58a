import HotlineCore
import Testing

struct EscalationTests {
    static let raised = try! Timestamp(rfc3339: "2026-11-24T19:00:00Z")

    @Test(arguments: [(0.0, 1), (29.9, 1), (30.0, 2), (59.0, 2), (60.0, 3), (600.0, 3), (-5.0, 1)])
    func theLevelFollowsTheTimeSinceTheRaise(waited: Double, level: Int) {
        #expect(Escalation.level(raisedAt: Self.raised, now: Self.raised.adding(seconds: waited), ackSeconds: 30, maxLevel: 3) == level)
    }

    @Test func theNextLevelIsDueOneAcknowledgementTimeLaterUntilTheTop() {
        #expect(Escalation.nextDue(raisedAt: Self.raised, level: 1, ackSeconds: 30, maxLevel: 3) == Self.raised.adding(seconds: 30))
        #expect(Escalation.nextDue(raisedAt: Self.raised, level: 2, ackSeconds: 30, maxLevel: 3) == Self.raised.adding(seconds: 60))
        #expect(Escalation.nextDue(raisedAt: Self.raised, level: 3, ackSeconds: 30, maxLevel: 3) == nil)
    }
}

struct AlertSettingsTests {
    static func configuration(_ alerts: AlertSettings) -> Configuration {
        Configuration(
            routes: [RouteRule(name: "emergency", numbers: ["999"], grade: .emergency, marking: .official, anonymity: .forbidden)],
            unrouted: RouteRule(name: "unrouted", numbers: [], grade: .scheduled, marking: .official, anonymity: .allowed),
            outcomes: ["dispatched"], alerts: alerts)
    }

    @Test func sinksAreCheckedByKey() {
        let alerts = AlertSettings(
            maxLevel: 2,
            sinks: [
                AlertSink(name: "pager", kind: .command, levels: [1], argv: ["page-someone"]),
                AlertSink(name: "pager", kind: .webhook, levels: [3], url: "ftp://x"),
                AlertSink(name: "Board", kind: .journal, levels: [1], timeoutSeconds: 0),
            ])
        let problems = Self.configuration(alerts).problems().map(\.description)
        #expect(problems.contains("alerts.sinks.0.argv: must start with an absolute path to the program (no shell is used)"))
        #expect(problems.contains("alerts.sinks.1.name: sink \"pager\" is named twice"))
        #expect(problems.contains("alerts.sinks.1.levels: must list levels from 1 to 2"))
        #expect(problems.contains("alerts.sinks.1.url: must be an http:// or https:// URL"))
        #expect(problems.contains("alerts.sinks.2.name: must be lower-case letters, digits and '-'"))
        #expect(problems.contains("alerts.sinks.2.timeout_seconds: must be more than 0"))
    }

    @Test func routesMayHaveTheirOwnAcknowledgementTime() {
        var c = Self.configuration(AlertSettings(ackSeconds: 90))
        c.routes[0].ackSeconds = 30
        #expect(c.ackSeconds(route: "emergency") == 30)
        #expect(c.ackSeconds(route: "unrouted") == 90)
        #expect(AlertSettings(sinks: [AlertSink(name: "a", kind: .journal, levels: [2])]).sinks(forLevel: 2).map(\.name) == ["a"])
        #expect(AlertSettings(sinks: [AlertSink(name: "a", kind: .journal, levels: [2])]).sinks(forLevel: 1).isEmpty)
    }
}
