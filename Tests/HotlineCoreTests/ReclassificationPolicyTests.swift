import HotlineCore
import Testing

/// Issue 16 in the policy: lowering a grade or marking must say why; categories are the
/// route's; an outcome may come after the end; silent calls keep 999's identity.
extension CallPolicyTests {
    static func update(_ changes: CallChanges, reason: String? = nil, handler: String? = "4471") -> WriteEvent {
        .update(
            CallUpdate(
                eventID: UUIDText.random(), callID: callID, at: ts("2026-11-24T19:05:00Z"), changes: changes, handler: handler,
                reason: reason))
    }

    @Test func loweringAGradeOrAMarkingNeedsAReason() throws {
        let hotline = try started("0800789321")
        let raised = try #require(apply(Self.update(CallChanges(grade: .emergency)), to: hotline))
        #expect(raised.state.grade == .emergency, "raising needs no reason")
        let refused = refusal(Self.update(CallChanges(grade: .priority)), to: raised.state)
        #expect(refused?.code == .invalid)
        #expect(refused?.field == "reason")
        #expect(refused?.message.contains("grade (from emergency to priority)") == true)
        let lowered = try #require(
            apply(Self.update(CallChanges(grade: .priority), reason: "caller confirmed no danger"), to: raised.state))
        #expect(lowered.state.grade == .priority)

        let secret = try #require(apply(Self.update(CallChanges(marking: .secret)), to: lowered.state))
        let noReason = refusal(Self.update(CallChanges(marking: .officialSensitive)), to: secret.state, by: Self.supervisor)
        #expect(noReason?.field == "reason")
        #expect(noReason?.message.contains("marking (from SECRET to OFFICIAL-SENSITIVE)") == true)
        // A handler is refused for the role first: it may not lower at all.
        #expect(refusal(Self.update(CallChanges(marking: .official), reason: "x"), to: secret.state)?.code == .forbidden)
        #expect(
            apply(Self.update(CallChanges(marking: .officialSensitive), reason: "source agreed"), to: secret.state, by: Self.supervisor)
                != nil)
    }

    /// Asking for a grade the floor keeps the call above changes nothing: no reason needed.
    @Test func aLoweringTheFloorRefusesNeedsNoReason() throws {
        let emergency = try started("999")
        let kept = try #require(apply(Self.update(CallChanges(grade: .scheduled)), to: emergency))
        #expect(kept.state.grade == .emergency)
        #expect(kept.notices.count == 1)
    }

    @Test func aCategoryMustBeOneOfTheRoutesUnlessItAllowsFreeOnes() throws {
        let listed = RouteRule(
            name: "anti-terrorist-hotline", numbers: ["0800 789 321"], grade: .priority, marking: .officialSensitive, anonymity: .allowed,
            categories: [CategoryLabel(slug: "suspicious-activity", label: "Suspicious activity")])
        var free = listed
        free.freeCategories = true
        for (rule, accepts) in [(listed, false), (free, true)] {
            let policy = CallPolicy(routes: RouteTable(routes: [rule], unrouted: Self.unrouted))
            let start = try policy.apply(Self.startEvent("0800789321"), to: nil, by: Self.handler, seq: 1).state
            #expect(start.route == "anti-terrorist-hotline")
            #expect(
                try policy.apply(Self.update(CallChanges(category: "suspicious-activity")), to: start, by: Self.handler, seq: 2).state
                    .category == "suspicious-activity")
            do {
                let d = try policy.apply(Self.update(CallChanges(category: "burglary")), to: start, by: Self.handler, seq: 2)
                #expect(accepts, "accepted burglary: \(d.state.category ?? "-")")
            } catch {
                #expect(!accepts)
                #expect(error.code == .invalid)
                #expect(error.field == "set.category")
                #expect(error.message.contains("\"burglary\" is not a category of route anti-terrorist-hotline"))
                #expect(error.message.contains("suspicious-activity"))
            }
        }
        // A route without a list takes any category.
        let any = try started("101")
        #expect(apply(Self.update(CallChanges(category: "burglary")), to: any)?.state.category == "burglary")
    }

    @Test func aCallMayEndWithoutAnOutcomeAndBeGivenOneLater() throws {
        let call = try started("0800789321")
        let ended = try #require(
            apply(
                .end(CallEnd(eventID: UUIDText.random(), callID: Self.callID, endedAt: Self.ts("2026-11-24T19:10:00Z"), outcome: nil)),
                to: call))
        #expect(ended.state.endedAt != nil)
        #expect(ended.state.outcome == nil)
        let given = try #require(apply(Self.update(CallChanges(outcome: "report-taken")), to: ended.state))
        #expect(given.state.outcome == "report-taken")
        // An outcome given before the end is kept by an end that gives none.
        let early = try #require(apply(Self.update(CallChanges(outcome: "advice-given")), to: call))
        let endedAfter = try #require(
            apply(
                .end(CallEnd(eventID: UUIDText.random(), callID: Self.callID, endedAt: Self.ts("2026-11-24T19:10:00Z"), outcome: nil)),
                to: early.state))
        #expect(endedAfter.state.outcome == "advice-given")
    }

    /// A silent 999 call is flagged, and still keeps the caller's line identity.
    @Test func aSilentCallStaysIdentifiable() throws {
        let call = try started("999", identity: Self.fullIdentity)
        let silent = try #require(
            apply(
                .update(
                    CallUpdate(
                        eventID: UUIDText.random(), callID: Self.callID, at: Self.ts("2026-11-24T19:03:00Z"),
                        changes: CallChanges(flags: ["silent": true, "pressed_55": true], anonymousRequested: true))), to: call))
        #expect(silent.state.flags == ["silent": true, "pressed_55": true])
        #expect(silent.state.anonymous == false)
        #expect(silent.state.identity == Self.fullIdentity)
        #expect(silent.notices.first?.contains("keeps the caller's line identity") == true)
    }
}

extension CallPolicyTests {
    /// Nothing issue 16 refuses may hold up an alert or an erasure: an update that raises a
    /// threat to life keeps its odd category, and a lowering without a reason, with notices.
    @Test func anUrgentUpdateIsNeverRefusedForACategoryOrAMissingReason() throws {
        let listed = RouteRule(
            name: "anti-terrorist-hotline", numbers: ["0800 789 321"], grade: .priority, marking: .officialSensitive, anonymity: .allowed,
            categories: [CategoryLabel(slug: "other", label: "Other")])
        let policy = CallPolicy(routes: RouteTable(routes: [listed], unrouted: Self.unrouted))
        let start = try policy.apply(Self.startEvent("0800789321"), to: nil, by: Self.handler, seq: 1).state
        let secret = try policy.apply(Self.update(CallChanges(marking: .secret)), to: start, by: Self.handler, seq: 2).state
        let urgent = try policy.apply(
            Self.update(CallChanges(category: "knife-crime", flags: ["threat_to_life": true], marking: .official)), to: secret,
            by: Self.supervisor, seq: 3)
        #expect(urgent.alerts == [.threatToLife])
        #expect(urgent.state.category == "knife-crime")
        #expect(urgent.state.marking == .official)
        #expect(urgent.notices.count == 2)
        #expect(urgent.notices.contains { $0.contains("is not a category of route") })
        #expect(urgent.notices.contains { $0.contains("lowered without a reason") })
        // Without the flag, both are refused.
        #expect(throws: HotlineError.self) {
            try policy.apply(Self.update(CallChanges(category: "knife-crime")), to: secret, by: Self.handler, seq: 3)
        }
    }

    @Test func anAnswerMayComeAfterTheStartOnce() throws {
        let call = try started("999")  // answered at 19:02:15 by startEvent
        #expect(refusal(Self.update(CallChanges(answeredAt: Self.ts("2026-11-24T19:02:20Z"))), to: call)?.field == "set.answered_at")
        var ringing = call
        ringing.answeredAt = nil
        #expect(
            refusal(Self.update(CallChanges(answeredAt: Self.ts("2026-11-24T19:00:00Z"))), to: ringing)?.message.contains(
                "before the call was received") == true)
        let answered = try #require(apply(Self.update(CallChanges(answeredAt: Self.ts("2026-11-24T19:02:20Z"))), to: ringing))
        #expect(answered.state.answeredAt == Self.ts("2026-11-24T19:02:20Z"))
        var ended = ringing
        ended.endedAt = Self.ts("2026-11-24T19:02:30Z")
        #expect(
            refusal(Self.update(CallChanges(answeredAt: Self.ts("2026-11-24T19:03:00Z"))), to: ended)?.message.contains(
                "after the call ended") == true)
    }
}

extension CallPolicyTests {
    /// Only an update that raises an alert or erases an identity now is excused: the flag
    /// sent again on a call whose alert rose already excuses nothing.
    @Test func aFlagAlreadyRaisedExcusesNothing() throws {
        let call = try started("0800789321")
        let flagged = try #require(apply(Self.update(CallChanges(flags: ["threat_to_life": true])), to: call)).state
        let secret = try #require(apply(Self.update(CallChanges(marking: .secret)), to: flagged)).state
        let again = refusal(Self.update(CallChanges(flags: ["threat_to_life": true], marking: .official)), to: secret, by: Self.supervisor)
        #expect(again?.field == "reason")
        // On 999 (identities kept) a wish for anonymity erases nothing: no excuse either.
        let emergency = try started("999")
        let raised = try #require(apply(Self.update(CallChanges(grade: .emergency, marking: .secret)), to: emergency)).state
        #expect(
            refusal(Self.update(CallChanges(marking: .official, anonymousRequested: true)), to: raised, by: Self.supervisor)?.field
                == "reason")
    }

    /// An urgent update with an answer time that cannot be: the alert rises, the first
    /// answer time stands, a notice says so.
    @Test func anUrgentUpdateWithAnOddAnswerTimeStillRaisesItsAlert() throws {
        let call = try started("999")  // answered at 19:02:15
        let d = try #require(
            apply(Self.update(CallChanges(flags: ["threat_to_life": true], answeredAt: Self.ts("2026-11-24T19:02:40Z"))), to: call))
        #expect(d.alerts == [.threatToLife])
        #expect(d.state.answeredAt == Self.ts("2026-11-24T19:02:15Z"))
        #expect(d.notices.contains { $0.contains("already answered") })
    }

    @Test func anEndBeforeTheAnswerIsRefused() throws {
        let call = try started("999")  // answered at 19:02:15
        let e = refusal(
            .end(CallEnd(eventID: UUIDText.random(), callID: Self.callID, endedAt: Self.ts("2026-11-24T19:02:13Z"), outcome: nil)), to: call
        )
        #expect(e?.field == "ended_at")
        #expect(e?.message.contains("before the call was answered") == true)
    }
}
