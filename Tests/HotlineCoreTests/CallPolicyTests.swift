import HotlineCore
import Testing

/// The rules of PROTOCOL.md sections 5 and 6: routing, grades, markings, alerts, anonymity.
@Suite struct CallPolicyTests {
    // The shipped routes (Config/hotlined.yaml), plus an `always` route for section 6.
    static let emergency = RouteRule(
        name: "emergency", numbers: ["999", "112"], grade: .emergency, marking: .official, anonymity: .forbidden,
        alertOnStart: true
    )
    static let hotline = RouteRule(
        name: "anti-terrorist-hotline", numbers: ["0800 789 321"], grade: .priority, marking: .officialSensitive,
        anonymity: .allowed
    )
    static let nonEmergency = RouteRule(
        name: "non-emergency", numbers: ["101"], grade: .scheduled, marking: .official, anonymity: .allowed
    )
    static let confidential = RouteRule(
        name: "confidential-line", numbers: ["0800 555 111"], grade: .scheduled, marking: .officialSensitive,
        anonymity: .always
    )
    static let unrouted = RouteRule(
        name: "unrouted", numbers: [], grade: .scheduled, marking: .official, anonymity: .allowed
    )

    let policy = CallPolicy(
        routes: RouteTable(routes: [Self.emergency, Self.hotline, Self.nonEmergency, Self.confidential], unrouted: Self.unrouted)
    )

    static let callID = "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70"
    static let handler = Peer(uid: 1001, gid: 1001, pid: 4242, roles: [.handler])
    static let supervisor = Peer(uid: 1002, gid: 1002, pid: 4243, roles: [.supervisor])
    static let auditorHandler = Peer(uid: 1003, gid: 1003, pid: 4244, roles: [.handler, .auditor])
    static let root = Peer(uid: 0, gid: 0, pid: 1, roles: Set(Role.allCases))
    static let fullIdentity = CallerIdentity(
        cli: "+447700900123", name: "Ann Example", contact: "07700 900123", address: "1 High Street"
    )
    static let allIdentityPaths = ["cli", "caller.name", "caller.contact", "caller.address"]

    static func ts(_ text: String) -> Timestamp {
        do { return try Timestamp(rfc3339: text) } catch { fatalError("bad test timestamp \(text)") }
    }

    static let receivedAt = ts("2026-11-24T19:02:11Z")

    static func startEvent(
        _ dialled: String, identity: CallerIdentity = CallerIdentity(), anonymous: Bool? = nil
    ) -> WriteEvent {
        .start(
            CallStart(
                eventID: UUIDText.random(), callID: callID, dialled: dialled, receivedAt: receivedAt,
                answeredAt: ts("2026-11-24T19:02:15Z"), workstation: "WS-07", handler: "4471", identity: identity,
                anonymousRequested: anonymous
            )
        )
    }

    static func updateEvent(
        _ changes: CallChanges = CallChanges(), note: String? = nil, at: String = "2026-11-24T19:05:00Z",
        workstation: String? = nil, handler: String? = nil, reason: String? = nil
    ) -> WriteEvent {
        .update(
            CallUpdate(
                eventID: UUIDText.random(), callID: callID, at: ts(at), changes: changes, note: note,
                workstation: workstation, handler: handler, reason: reason
            )
        )
    }

    static func endEvent(at: String = "2026-11-24T19:10:00Z", outcome: String = "report-taken") -> WriteEvent {
        .end(CallEnd(eventID: UUIDText.random(), callID: callID, endedAt: ts(at), outcome: outcome))
    }

    /// Applies `event`, recording an issue (and returning nil) when it is refused.
    func apply(
        _ event: WriteEvent, to state: CallState?, by peer: Peer = handler, seq: Int64 = 2,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> CallPolicy.Decision? {
        do {
            return try policy.apply(event, to: state, by: peer, seq: seq)
        } catch {
            Issue.record("refused: \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// The error `event` is refused with, recording an issue when it is accepted.
    func refusal(
        _ event: WriteEvent, to state: CallState?, by peer: Peer = handler, sourceLocation: SourceLocation = #_sourceLocation
    ) -> HotlineError? {
        do {
            let d = try policy.apply(event, to: state, by: peer, seq: 99)
            Issue.record("accepted: \(d)", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    /// The state after starting a call on `dialled`.
    func started(
        _ dialled: String, identity: CallerIdentity = CallerIdentity(), anonymous: Bool? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> CallState {
        try #require(
            apply(Self.startEvent(dialled, identity: identity, anonymous: anonymous), to: nil, seq: 1, sourceLocation: sourceLocation)
        ).state
    }

    // MARK: Routing

    @Test(arguments: [
        ("999", "emergency", Grade.emergency, Marking.official, Anonymity.forbidden, true),
        ("112", "emergency", .emergency, .official, .forbidden, true),
        ("0800789321", "anti-terrorist-hotline", .priority, .officialSensitive, .allowed, false),
        ("101", "non-emergency", .scheduled, .official, .allowed, false),
        ("08005551111", "unrouted", .scheduled, .official, .allowed, false),
        ("0800555111", "confidential-line", .scheduled, .officialSensitive, .always, false),
        ("01159670999", "unrouted", .scheduled, .official, .allowed, false),
        ("9999", "unrouted", .scheduled, .official, .allowed, false),
        ("99", "unrouted", .scheduled, .official, .allowed, false),
        ("1010", "unrouted", .scheduled, .official, .allowed, false),
        ("0", "unrouted", .scheduled, .official, .allowed, false),
    ])
    func startTakesTheRouteAndItsDefaults(
        dialled: String, route: String, grade: Grade, marking: Marking, anonymity: Anonymity, alerts: Bool
    ) throws {
        let d = try #require(apply(Self.startEvent(dialled), to: nil, by: Self.handler, seq: 1042))
        let s = d.state
        #expect(s.route == route)
        #expect(s.grade == grade)
        #expect(s.routeGrade == grade)
        #expect(s.marking == marking)
        #expect(s.routeAnonymity == anonymity)
        #expect(s.escalated == alerts)
        #expect(d.alerts == (alerts ? [.emergencyLine] : []))
        #expect(s.anonymous == (anonymity == .always))
        #expect(s.threatAlertRaised == false)
        #expect(s.dialled == dialled)
        #expect(s.id == Self.callID)
        #expect(s.receivedAt == Self.receivedAt)
        #expect(s.answeredAt == Self.ts("2026-11-24T19:02:15Z"))
        #expect(s.workstation == "WS-07")
        #expect(s.handler == "4471")
        #expect(s.ownerUID == 1001)
        #expect(s.firstSeq == 1042)
        #expect(s.lastSeq == 1042)
        #expect(s.isOpen)
        #expect(s.endedAt == nil && s.outcome == nil && s.category == nil && s.location == nil && s.flags.isEmpty)
        #expect(d.stripped == [])
        #expect(d.notices == [])
        #expect(d.note == nil)
        #expect(d.eraseEarlierIdentity == false)
    }

    @Test func aStartOnTheEmergencyLineRaisesOneEmergencyLineAlertAndEscalates() throws {
        for number in ["999", "112"] {
            let d = try #require(apply(Self.startEvent(number), to: nil))
            #expect(d.alerts == [.emergencyLine])
            #expect(AlertReason.emergencyLine.rawValue == "emergency-line")
            #expect(d.state.escalated)
            #expect(d.state.threatAlertRaised == false)
        }
    }

    @Test func routeNumbersAreNormalisedAndTheTableKnowsItsRules() {
        let table = RouteTable(routes: [Self.emergency, Self.hotline, Self.nonEmergency], unrouted: Self.unrouted)
        #expect(table.route(for: "0800789321") == Self.hotline)
        #expect(table.route(for: "0800 789 321") == Self.unrouted)  // it takes normalised numbers only
        #expect(table.route(for: "999") == Self.emergency)
        #expect(table.route(for: "112") == Self.emergency)
        #expect(table.route(for: "101") == Self.nonEmergency)
        #expect(table.route(for: "") == Self.unrouted)
        #expect(table.rule(named: "anti-terrorist-hotline") == Self.hotline)
        #expect(table.rule(named: "unrouted") == Self.unrouted)
        #expect(table.rule(named: "nope") == nil)
        #expect(table.all.map(\.name) == ["emergency", "anti-terrorist-hotline", "non-emergency", "unrouted"])
        #expect(table.unrouted == Self.unrouted)
    }

    // MARK: Conflicts and order

    @Test func startingACallTwiceIsAConflict() throws {
        let state = try started("0800789321")
        let e = refusal(Self.startEvent("0800789321"), to: state)
        #expect(e?.code == .conflict)
        #expect(e?.field == "call.id")
    }

    @Test(arguments: [
        updateEvent(note: "hello?"),
        updateEvent(CallChanges(grade: .emergency)),
        endEvent(),
    ])
    func anEventForACallNeverStartedIsAConflict(event: WriteEvent) {
        let e = refusal(event, to: nil)
        #expect(e?.code == .conflict)
        #expect(e?.field == "call_id")
        #expect(e?.message.contains(Self.callID) == true)
    }

    @Test func endingRecordsTheOutcome() throws {
        let state = try started("0800789321")
        let d = try #require(apply(Self.endEvent(outcome: "advice-given"), to: state, seq: 7))
        #expect(d.state.endedAt == Self.ts("2026-11-24T19:10:00Z"))
        #expect(d.state.outcome == "advice-given")
        #expect(d.state.isOpen == false)
        #expect(d.state.lastSeq == 7)
        #expect(d.state.firstSeq == 1)
        #expect(d.state.handlingSeconds == 465)  // from 19:02:15, when it was answered
        #expect(d.alerts == [])
        #expect(d.stripped == [])
        // Nothing else changes.
        var expected = state
        expected.endedAt = d.state.endedAt
        expected.outcome = "advice-given"
        expected.lastSeq = 7
        #expect(d.state == expected)
    }

    @Test func aSecondEndIsAConflict() throws {
        let state = try started("101")
        let ended = try #require(apply(Self.endEvent(), to: state)).state
        let e = refusal(Self.endEvent(at: "2026-11-24T19:20:00Z", outcome: "dispatched"), to: ended)
        #expect(e?.code == .conflict)
        #expect(e?.field == "call_id")
    }

    @Test func anEndBeforeTheCallWasReceivedIsInvalid() throws {
        let state = try started("101")
        let e = refusal(Self.endEvent(at: "2026-11-24T19:02:10Z"), to: state)
        #expect(e?.code == .invalid)
        #expect(e?.field == "ended_at")
        // The instant it was received is fine, for a call never answered (one answered
        // later cannot end before its answer: issue 16).
        var unanswered = state
        unanswered.answeredAt = nil
        let d = try #require(apply(Self.endEvent(at: "2026-11-24T19:02:11Z"), to: unanswered))
        #expect(d.state.endedAt == Self.receivedAt)
    }

    @Test func updatesAreAcceptedAfterTheEndForWrapUpNotes() throws {
        let state = try started("101")
        let ended = try #require(apply(Self.endEvent(), to: state, seq: 3)).state
        let d = try #require(
            apply(Self.updateEvent(note: "Wrap-up: referred to CID.", at: "2026-11-24T19:15:00Z", handler: "4471"), to: ended, seq: 4)
        )
        #expect(d.note == Note(at: Self.ts("2026-11-24T19:15:00Z"), by: "4471", text: "Wrap-up: referred to CID.", uid: Self.handler.uid))
        #expect(d.state.endedAt == ended.endedAt)
        #expect(d.state.outcome == "report-taken")
        #expect(d.state.lastSeq == 4)
    }

    @Test func anUpdateSetsItsFieldsAndMovesLastSeqOnly() throws {
        let state = try started("101")
        let changes = CallChanges(
            category: "suspicious-activity", location: Location(text: "Station car park", lat: 52.92, lon: -1.47),
            flags: ["vulnerable_person": true]
        )
        let d = try #require(apply(Self.updateEvent(changes), to: state, seq: 5))
        #expect(d.state.category == "suspicious-activity")
        #expect(d.state.location == Location(text: "Station car park", lat: 52.92, lon: -1.47))
        #expect(d.state.flags == ["vulnerable_person": true])
        #expect(d.state.firstSeq == 1)
        #expect(d.state.lastSeq == 5)
        #expect(d.state.grade == .scheduled)
        #expect(d.state.marking == .official)
        #expect(d.alerts == [])
        #expect(d.notices == [])
        #expect(d.note == nil)
        // Later values replace earlier ones.
        let d2 = try #require(
            apply(Self.updateEvent(CallChanges(category: "noise", flags: ["vulnerable_person": false])), to: d.state, seq: 6)
        )
        #expect(d2.state.category == "noise")
        #expect(d2.state.location == Location(text: "Station car park", lat: 52.92, lon: -1.47))
        #expect(d2.state.flags == ["vulnerable_person": false])
    }

    // MARK: Markings

    @Test func aHandlerMayNotLowerAMarking() throws {
        let state = try started("0800789321")  // OFFICIAL-SENSITIVE
        let e = refusal(Self.updateEvent(CallChanges(marking: .official)), to: state, by: Self.handler)
        #expect(e?.code == .forbidden)
        #expect(e?.field == "set.marking")

        let secret = try #require(apply(Self.updateEvent(CallChanges(marking: .secret)), to: state)).state
        let e2 = refusal(Self.updateEvent(CallChanges(marking: .officialSensitive)), to: secret, by: Self.handler)
        #expect(e2?.code == .forbidden)
        #expect(e2?.field == "set.marking")
        let e3 = refusal(Self.updateEvent(CallChanges(marking: .official)), to: secret, by: Self.auditorHandler)
        #expect(e3?.code == .forbidden)
    }

    @Test func aLoweringIsRefusedEvenAlongsideOtherChanges() throws {
        let state = try started("0800789321")
        let e = refusal(
            Self.updateEvent(CallChanges(flags: ["threat_to_life": true], marking: .official), note: "n"), to: state
        )
        #expect(e?.code == .forbidden)
    }

    @Test(arguments: [supervisor, root])
    func aSupervisorMayLowerAMarking(peer: Peer) throws {
        let state = try started("0800789321")
        let secret = try #require(apply(Self.updateEvent(CallChanges(marking: .secret)), to: state)).state
        let d = try #require(apply(Self.updateEvent(CallChanges(marking: .official), reason: "no longer secret"), to: secret, by: peer))
        #expect(d.state.marking == .official)
        #expect(d.notices == [])
    }

    @Test(arguments: [
        ("101", Marking.officialSensitive),
        ("101", .secret),
        ("0800789321", .secret),
        ("0800789321", .officialSensitive),  // the same marking is not a lowering
        ("999", .official),
    ])
    func raisingOrKeepingAMarkingIsAlwaysAllowed(dialled: String, marking: Marking) throws {
        let state = try started(dialled)
        let d = try #require(apply(Self.updateEvent(CallChanges(marking: marking)), to: state, by: Self.handler))
        #expect(d.state.marking == marking)
    }

    @Test func markingsAreOrdered() {
        #expect(Marking.official < .officialSensitive)
        #expect(Marking.officialSensitive < .secret)
        #expect(Marking.allCases.map(\.rawValue) == ["OFFICIAL", "OFFICIAL-SENSITIVE", "SECRET"])
        #expect(Grade.resolution < .scheduled && Grade.scheduled < .priority && Grade.priority < .emergency)
    }

    // MARK: Threat to life

    @Test(arguments: ["0800789321", "101", "01159670999", "0800555111"])
    func threatToLifeRaisesTheGradeAndOneAlert(dialled: String) throws {
        let state = try started(dialled)
        let d = try #require(apply(Self.updateEvent(CallChanges(flags: ["threat_to_life": true])), to: state))
        #expect(d.state.grade == .emergency)
        #expect(d.state.escalated)
        #expect(d.state.threatAlertRaised)
        #expect(d.state.flags["threat_to_life"] == true)
        #expect(d.alerts == [.threatToLife])
        #expect(AlertReason.threatToLife.rawValue == "threat-to-life")
        #expect(d.notices == [])
    }

    @Test func threatToLifeAlertsOncePerCallHoweverOftenItIsFlagged() throws {
        var state = try started("0800789321")
        let flagged = CallChanges(flags: ["threat_to_life": true])
        let first = try #require(apply(Self.updateEvent(flagged), to: state, seq: 2))
        #expect(first.alerts == [.threatToLife])
        state = first.state
        let second = try #require(apply(Self.updateEvent(flagged), to: state, seq: 3))
        #expect(second.alerts == [])
        state = second.state
        let cleared = try #require(apply(Self.updateEvent(CallChanges(flags: ["threat_to_life": false])), to: state, seq: 4))
        #expect(cleared.alerts == [])
        state = cleared.state
        let again = try #require(apply(Self.updateEvent(flagged), to: state, seq: 5))
        #expect(again.alerts == [])
        #expect(again.state.threatAlertRaised)
        #expect(again.state.escalated)
    }

    @Test func threatToLifeOnTheEmergencyLineStillRaisesItsOwnAlertOnce() throws {
        let start = try #require(apply(Self.startEvent("999"), to: nil, seq: 1))
        #expect(start.alerts == [.emergencyLine])
        let flagged = try #require(apply(Self.updateEvent(CallChanges(flags: ["threat_to_life": true])), to: start.state))
        #expect(flagged.alerts == [.threatToLife])
        #expect(flagged.state.grade == .emergency)
        let again = try #require(apply(Self.updateEvent(CallChanges(flags: ["threat_to_life": true])), to: flagged.state))
        #expect(again.alerts == [])
    }

    @Test func otherFlagsRaiseNothing() throws {
        let state = try started("0800789321")
        let d = try #require(
            apply(Self.updateEvent(CallChanges(flags: ["threat_to_life": false, "vulnerable_person": true])), to: state)
        )
        #expect(d.alerts == [])
        #expect(d.state.grade == .priority)
        #expect(d.state.escalated == false)
        #expect(d.state.threatAlertRaised == false)
    }

    // MARK: Grades

    @Test(arguments: [
        ("0800789321", Grade.scheduled, Grade.priority, true),
        ("0800789321", .resolution, .priority, true),
        ("0800789321", .priority, .priority, false),
        ("0800789321", .emergency, .emergency, false),
        ("101", .resolution, .scheduled, true),
        ("101", .priority, .priority, false),
        ("999", .priority, .emergency, true),
        ("999", .resolution, .emergency, true),
        ("01159670999", .emergency, .emergency, false),
    ])
    func aGradeNeverDropsBelowTheRoute(dialled: String, wanted: Grade, result: Grade, notice: Bool) throws {
        let state = try started(dialled)
        let d = try #require(apply(Self.updateEvent(CallChanges(grade: wanted)), to: state))
        #expect(d.state.grade == result)
        #expect(d.notices.count == (notice ? 1 : 0))
        if notice {
            #expect(d.notices.first?.contains(result.rawValue) == true)
            #expect(d.notices.first?.contains(state.route) == true)
        }
    }

    @Test func aGradeAboveTheFloorMayBeRaisedAndLoweredAgain() throws {
        var state = try started("101")  // scheduled
        for (wanted, result, notice) in [
            (Grade.emergency, Grade.emergency, false), (.priority, .priority, false), (.scheduled, .scheduled, false),
            (.resolution, .scheduled, true), (.emergency, .emergency, false), (.resolution, .scheduled, true),
        ] {
            // A reason is given each time: lowering needs one (issue 16), raising may.
            let d = try #require(apply(Self.updateEvent(CallChanges(grade: wanted), reason: "reassessed"), to: state))
            #expect(d.state.grade == result, "wanted \(wanted)")
            #expect(d.notices.isEmpty == !notice, "wanted \(wanted)")
            state = d.state
        }
    }

    @Test func aThreatToLifeHoldsTheGradeAtEmergencyUntilCleared() throws {
        let state = try started("0800789321")
        let flagged = try #require(apply(Self.updateEvent(CallChanges(flags: ["threat_to_life": true])), to: state)).state
        let lowered = try #require(apply(Self.updateEvent(CallChanges(grade: .priority)), to: flagged))
        #expect(lowered.state.grade == .emergency)
        #expect(lowered.notices.count == 1)
        #expect(lowered.notices.first?.contains("threat to life") == true)

        // Flag and a lower grade in the same update: the flag wins.
        let both = try #require(
            apply(Self.updateEvent(CallChanges(flags: ["threat_to_life": true], grade: .scheduled)), to: state)
        )
        #expect(both.state.grade == .emergency)
        #expect(both.alerts == [.threatToLife])
        #expect(both.notices.count == 1)

        // Once cleared, the floor is the route's again.
        let cleared = try #require(apply(Self.updateEvent(CallChanges(flags: ["threat_to_life": false])), to: flagged)).state
        #expect(cleared.grade == .emergency)  // clearing does not lower it by itself
        let lower = try #require(apply(Self.updateEvent(CallChanges(grade: .priority), reason: "threat withdrawn"), to: cleared))
        #expect(lower.state.grade == .priority)
        #expect(lower.notices == [])
        let tooLow = try #require(apply(Self.updateEvent(CallChanges(grade: .scheduled), reason: "threat withdrawn"), to: cleared))
        #expect(tooLow.state.grade == .priority)
        #expect(tooLow.notices.count == 1)
    }

    @Test func anUpdateWithoutAGradeKeepsItAndSaysNothing() throws {
        let state = try started("0800789321")
        let raised = try #require(apply(Self.updateEvent(CallChanges(grade: .emergency)), to: state)).state
        let d = try #require(apply(Self.updateEvent(note: "still talking"), to: raised))
        #expect(d.state.grade == .emergency)
        #expect(d.notices == [])
    }

    // MARK: Anonymity: allowed

    @Test func anonymityRequestedAtStartStripsEveryIdentifyingField() throws {
        let d = try #require(apply(Self.startEvent("0800789321", identity: Self.fullIdentity, anonymous: true), to: nil))
        #expect(d.state.anonymous)
        #expect(d.state.anonymousRequested)
        #expect(d.stripped == Self.allIdentityPaths)
        #expect(d.storedIdentity == CallerIdentity())
        #expect(d.state.identity == CallerIdentity())
        #expect(d.eraseEarlierIdentity == false)
        #expect(d.notices == [])
        #expect(CallRecord(d.state, notes: [], alerts: [], recordedAt: nil).json["cli"] == .null)
        #expect(CallRecord(d.state, notes: [], alerts: [], recordedAt: nil).json["caller"] == .null)
    }

    @Test(arguments: [
        (CallerIdentity(cli: "+447700900123"), ["cli"]),
        (CallerIdentity(name: "Ann"), ["caller.name"]),
        (CallerIdentity(contact: "ann@example.org", address: "1 High St"), ["caller.contact", "caller.address"]),
        (CallerIdentity(), []),
    ])
    func strippedListsExactlyTheFieldsDropped(identity: CallerIdentity, stripped: [String]) throws {
        let d = try #require(apply(Self.startEvent("101", identity: identity, anonymous: true), to: nil))
        #expect(d.stripped == stripped)
        #expect(d.storedIdentity.isEmpty)
    }

    @Test func withoutARequestIdentityIsStoredAndMerged() throws {
        let d = try #require(
            apply(Self.startEvent("0800789321", identity: CallerIdentity(cli: "+447700900123"), anonymous: false), to: nil))
        #expect(d.state.anonymous == false)
        #expect(d.state.anonymousRequested == false)
        #expect(d.stripped == [])
        #expect(d.storedIdentity == CallerIdentity(cli: "+447700900123"))
        #expect(d.state.identity == CallerIdentity(cli: "+447700900123"))

        let d2 = try #require(apply(Self.updateEvent(CallChanges(identity: CallerIdentity(name: "Ann"))), to: d.state))
        #expect(d2.storedIdentity == CallerIdentity(name: "Ann"))
        #expect(d2.state.identity == CallerIdentity(cli: "+447700900123", name: "Ann"))
        #expect(d2.stripped == [])
        #expect(d2.eraseEarlierIdentity == false)
    }

    @Test func anonymityRequestedMidCallErasesEarlierIdentity() throws {
        let state = try started("0800789321", identity: Self.fullIdentity)
        #expect(state.identity == Self.fullIdentity)
        let d = try #require(apply(Self.updateEvent(CallChanges(anonymousRequested: true)), to: state))
        #expect(d.state.anonymous)
        #expect(d.state.anonymousRequested)
        #expect(d.eraseEarlierIdentity)
        #expect(d.state.identity == CallerIdentity())
        #expect(d.stripped == [])
        #expect(d.storedIdentity == CallerIdentity())
        #expect(CallRecord(d.state, notes: [], alerts: [], recordedAt: nil).json["cli"] == .null)
        #expect(CallRecord(d.state, notes: [], alerts: [], recordedAt: nil).json["caller"] == .null)
    }

    @Test func anonymityRequestedMidCallAlsoStripsWhatTheSameUpdateCarries() throws {
        let state = try started("101", identity: CallerIdentity(cli: "+447700900123"))
        let d = try #require(
            apply(
                Self.updateEvent(CallChanges(anonymousRequested: true, identity: CallerIdentity(name: "Ann", address: "1 High St"))),
                to: state
            )
        )
        #expect(d.eraseEarlierIdentity)
        #expect(d.stripped == ["caller.name", "caller.address"])
        #expect(d.storedIdentity.isEmpty)
        #expect(d.state.identity.isEmpty)
    }

    @Test func anonymityRequestedMidCallWithNothingStoredErasesNothing() throws {
        let state = try started("101")
        let d = try #require(apply(Self.updateEvent(CallChanges(anonymousRequested: true)), to: state))
        #expect(d.state.anonymous)
        #expect(d.eraseEarlierIdentity == false)
    }

    @Test func onceAnonymousLaterIdentityIsStripped() throws {
        let state = try started("0800789321", identity: Self.fullIdentity, anonymous: true)
        let d = try #require(apply(Self.updateEvent(CallChanges(identity: CallerIdentity(cli: "+447700900999"))), to: state))
        #expect(d.stripped == ["cli"])
        #expect(d.storedIdentity.isEmpty)
        #expect(d.state.identity.isEmpty)
        #expect(d.state.anonymous)
        #expect(d.eraseEarlierIdentity == false)
        // Asking again changes nothing and erases nothing more.
        let again = try #require(apply(Self.updateEvent(CallChanges(anonymousRequested: true)), to: d.state))
        #expect(again.state.anonymous)
        #expect(again.eraseEarlierIdentity == false)
        #expect(again.notices == [])
    }

    @Test func anAnonymousCallNeverBecomesIdentifiableAgain() throws {
        let state = try started("0800789321", anonymous: true)
        let d = try #require(
            apply(
                Self.updateEvent(CallChanges(anonymousRequested: false, identity: CallerIdentity(cli: "+447700900123", name: "Ann"))),
                to: state
            )
        )
        #expect(d.state.anonymous)
        #expect(d.state.anonymousRequested)
        #expect(d.stripped == ["cli", "caller.name"])
        #expect(d.storedIdentity.isEmpty)
        #expect(d.state.identity.isEmpty)
        #expect(d.notices.count == 1)
        // And later still.
        let later = try #require(apply(Self.updateEvent(CallChanges(identity: CallerIdentity(contact: "x"))), to: d.state))
        #expect(later.state.anonymous)
        #expect(later.stripped == ["caller.contact"])
    }

    @Test func declaringNoWishOnAnIdentifiableCallChangesNothing() throws {
        let state = try started("101", identity: CallerIdentity(cli: "+447700900123"))
        let d = try #require(apply(Self.updateEvent(CallChanges(anonymousRequested: false)), to: state))
        #expect(d.state.anonymous == false)
        #expect(d.state.anonymousRequested == false)
        #expect(d.state.identity == CallerIdentity(cli: "+447700900123"))
        #expect(d.notices == [])
        #expect(d.eraseEarlierIdentity == false)
    }

    // MARK: Anonymity: forbidden

    @Test(arguments: ["999", "112"])
    func theEmergencyLineKeepsIdentityAndRecordsTheWish(dialled: String) throws {
        let d = try #require(apply(Self.startEvent(dialled, identity: Self.fullIdentity, anonymous: true), to: nil))
        #expect(d.state.anonymous == false)
        #expect(d.state.anonymousRequested)
        #expect(d.stripped == [])
        #expect(d.storedIdentity == Self.fullIdentity)
        #expect(d.state.identity == Self.fullIdentity)
        #expect(d.eraseEarlierIdentity == false)
        #expect(d.notices.count == 1)
        #expect(d.notices.first?.contains("emergency") == true)
        #expect(d.alerts == [.emergencyLine])
    }

    @Test func theEmergencyLineKeepsIdentityWhenAnonymityIsAskedMidCall() throws {
        let state = try started("999", identity: CallerIdentity(cli: "+447700900123"))
        #expect(state.anonymousRequested == false)
        let d = try #require(
            apply(Self.updateEvent(CallChanges(anonymousRequested: true, identity: CallerIdentity(name: "Ann"))), to: state)
        )
        #expect(d.state.anonymous == false)
        #expect(d.state.anonymousRequested)
        #expect(d.eraseEarlierIdentity == false)
        #expect(d.stripped == [])
        #expect(d.storedIdentity == CallerIdentity(name: "Ann"))
        #expect(d.state.identity == CallerIdentity(cli: "+447700900123", name: "Ann"))
        #expect(d.notices.count == 1)
    }

    @Test func theEmergencyLineWithoutAWishHasNoNotice() throws {
        let d = try #require(apply(Self.startEvent("999", identity: Self.fullIdentity, anonymous: false), to: nil))
        #expect(d.notices == [])
        #expect(d.state.anonymousRequested == false)
    }

    // MARK: Anonymity: always

    @Test func anAlwaysRouteNeverStoresIdentity() throws {
        let d = try #require(apply(Self.startEvent("0800555111", identity: Self.fullIdentity), to: nil))
        #expect(d.state.route == "confidential-line")
        #expect(d.state.anonymous)
        #expect(d.stripped == Self.allIdentityPaths)
        #expect(d.storedIdentity.isEmpty)
        #expect(d.state.identity.isEmpty)

        let u = try #require(apply(Self.updateEvent(CallChanges(identity: CallerIdentity(cli: "+447700900123"))), to: d.state))
        #expect(u.stripped == ["cli"])
        #expect(u.storedIdentity.isEmpty)
        #expect(u.state.identity.isEmpty)

        let declined = try #require(
            apply(Self.updateEvent(CallChanges(anonymousRequested: false, identity: CallerIdentity(name: "Ann"))), to: u.state)
        )
        #expect(declined.state.anonymous)
        #expect(declined.stripped == ["caller.name"])
        #expect(declined.state.identity.isEmpty)
    }

    @Test func anAlwaysRouteStripsEvenWhenTheCallerAsksToBeIdentified() throws {
        let d = try #require(apply(Self.startEvent("0800555111", identity: Self.fullIdentity, anonymous: false), to: nil))
        #expect(d.state.anonymous)
        #expect(d.stripped == Self.allIdentityPaths)
        #expect(d.storedIdentity.isEmpty)
    }

    // MARK: Notes

    @Test(
        arguments: [
            ("4471", "WS-07", "4471"),
            (nil, "WS-07", "WS-07"),
            ("4471", nil, "4471"),
            (nil, nil, "uid 1001"),
        ] as [(String?, String?, String)])
    func aNoteIsByTheHandlerThenTheWorkstationThenTheUID(handler: String?, workstation: String?, by: String) throws {
        let state = try started("101")
        let d = try #require(
            apply(
                Self.updateEvent(note: "Caller rang back.", at: "2026-11-24T19:06:30.5Z", workstation: workstation, handler: handler),
                to: state, by: Self.handler
            )
        )
        // What the workstation declared, beside who the daemon saw write it.
        #expect(d.note == Note(at: Self.ts("2026-11-24T19:06:30.500Z"), by: by, text: "Caller rang back.", uid: Self.handler.uid))
        #expect(
            d.note?.json == [
                "at": "2026-11-24T19:06:30.500Z", "by": .string(by), "text": "Caller rang back.", "uid": .int(Int64(Self.handler.uid)),
            ])
    }

    @Test func theUIDInANoteIsTheWritersNotTheOwners() throws {
        let state = try started("101")  // started by uid 1001
        let d = try #require(apply(Self.updateEvent(note: "Supervisor checked."), to: state, by: Self.supervisor))
        #expect(d.note?.by == "uid 1002")
        #expect(d.state.ownerUID == 1001)
    }

    // MARK: - Authorship (issue 13): a note's declared time is held to the call and the clock

    @Test func aNoteDatedBeforeTheCallWasReceivedIsRefused() throws {
        let state = try started("0800 789 321")
        let error = refusal(Self.updateEvent(note: "Back-dated", at: "2026-11-24T18:00:00Z", handler: "4471"), to: state)
        #expect(error?.code == .invalid)
        #expect(error?.field == "at")
        #expect(error?.message.contains("before the call was received (\(state.receivedAt.rfc3339))") == true, "\(error?.message ?? "")")
        // Within a minute of receipt it is fine (another workstation's clock may be behind).
        #expect(apply(Self.updateEvent(note: "At once", at: state.receivedAt.adding(seconds: -60).rfc3339), to: state) != nil)
        // A threat to life or an anonymity request is never refused for its time: the alert
        // and the erasure matter more.
        let threat = try #require(
            apply(
                Self.updateEvent(CallChanges(flags: ["threat_to_life": true]), note: "Knife seen", at: "2026-11-24T18:00:00Z"),
                to: state))
        #expect(threat.alerts == [.threatToLife])
        let anonymous = try #require(
            apply(Self.updateEvent(CallChanges(anonymousRequested: true), note: "Wants anonymity", at: "2026-11-24T18:00:00Z"), to: state))
        #expect(anonymous.state.anonymous)
        // An update without a note is not held to it either.
        #expect(apply(Self.updateEvent(CallChanges(category: "x"), at: "2026-11-24T18:00:00Z"), to: state) != nil)
    }

    @Test func aNoteDatedAheadOfTheDaemonsClockIsRefusedPastAMinute() throws {
        let state = try started("0800 789 321")
        let now = Self.ts("2026-11-24T19:05:00Z")
        let ahead = Self.updateEvent(note: "From the future", at: "2026-11-24T19:06:01Z")
        do {
            _ = try policy.apply(ahead, to: state, by: Self.handler, seq: 3, now: now)
            Issue.record("accepted a note 61 s ahead of the clock")
        } catch {
            #expect(error.code == .invalid)
            #expect(error.field == "at")
            #expect(error.message.contains("lies in the future: the daemon's clock says 2026-11-24T19:05:00Z"), "\(error.message)")
        }
        // Within the tolerance (a workstation's clock a little fast) it is taken, and the note
        // carries when the daemon received it.
        let close = try policy.apply(
            Self.updateEvent(note: "Nearly now", at: "2026-11-24T19:06:00Z"), to: state, by: Self.handler, seq: 3, now: now)
        #expect(close.note?.recordedAt == now)
        #expect(close.note?.json["recorded_at"] == "2026-11-24T19:05:00Z")
    }
}
