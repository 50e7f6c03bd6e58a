import HotlineCore
import Testing

/// Issue 18: every way the public reaches the room. Each channel's routing, grade, alert and
/// anonymity under the shipped rules; what a relay and an online report record; and the
/// decoder's errors, each naming its field.
@Suite struct ChannelTests {
    // The shipped routes (Config/hotlined.yaml; ConfigurationLoaderTests holds the file to them).
    static let emergency = RouteRule(
        name: "emergency", numbers: ["999", "112"], grade: .emergency, marking: .official, anonymity: .forbidden,
        alertOnStart: true, match: [RouteMatch(channel: .textRelay, numbers: ["18000"])])
    static let hotline = RouteRule(
        name: "anti-terrorist-hotline", numbers: ["0800 789 321"], grade: .priority, marking: .officialSensitive,
        anonymity: .allowed, match: [RouteMatch(channel: .online)])
    static let nonEmergency = RouteRule(
        name: "non-emergency", numbers: ["101"], grade: .scheduled, marking: .official, anonymity: .allowed)
    static let unrouted = RouteRule(name: "unrouted", numbers: [], grade: .scheduled, marking: .official, anonymity: .allowed)
    static let table = RouteTable(routes: [emergency, hotline, nonEmergency], unrouted: unrouted)
    let policy = CallPolicy(routes: Self.table)

    static let callID = "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70"
    static let handler = Peer(uid: 1001, gid: 1001, pid: 4242, roles: [.handler])
    static let identity = CallerIdentity(cli: "+447700900123", name: "Ann Example", contact: "07700 900123", address: "1 High St")
    static let receivedAt = ts("2026-11-24T19:02:11Z")

    static func ts(_ text: String) -> Timestamp {
        do { return try Timestamp(rfc3339: text) } catch { fatalError("bad test timestamp \(text)") }
    }

    static func start(
        _ dialled: String, _ channel: CallChannel, relay: RelayChange? = nil, form: String? = nil,
        identity: CallerIdentity = CallerIdentity(), anonymous: Bool? = nil
    ) -> WriteEvent {
        .start(
            CallStart(
                eventID: UUIDText.random(), callID: callID, dialled: dialled, receivedAt: receivedAt,
                answeredAt: ts("2026-11-24T19:02:19Z"), identity: identity, anonymousRequested: anonymous, channel: channel,
                relay: relay, formReference: form))
    }

    static func update(_ changes: CallChanges) -> WriteEvent {
        .update(CallUpdate(eventID: UUIDText.random(), callID: callID, at: ts("2026-11-24T19:05:00Z"), changes: changes))
    }

    func started(_ event: WriteEvent) throws -> CallPolicy.Decision {
        try policy.apply(event, to: nil, by: Self.handler, seq: 1)
    }

    // MARK: Routing

    @Test(arguments: [
        // dialled, channel, route: a number on its channel, a whole channel, a number, unrouted.
        ("999", CallChannel.voice, "emergency"),
        ("999", .sms, "emergency"),  // emergencySMS
        ("999", .videoRelayBSL, "emergency"),  // 999 BSL
        ("999", .textRelay, "emergency"),
        ("112", .sms, "emergency"),
        ("18000", .textRelay, "emergency"),  // Relay UK's emergency number
        ("18000", .voice, "unrouted"),  // 18000 is a relay number: not a voice route
        ("18000", .sms, "unrouted"),
        ("0800789321", .voice, "anti-terrorist-hotline"),
        ("0800789321", .textRelay, "anti-terrorist-hotline"),
        ("0800789321", .online, "anti-terrorist-hotline"),
        ("", .online, "anti-terrorist-hotline"),  // an online report with no number
        ("101", .online, "anti-terrorist-hotline"),  // a whole channel beats a number
        ("999", .online, "anti-terrorist-hotline"),  // a form that filled in 999 is still a report
        ("01159670999", .online, "anti-terrorist-hotline"),
        ("", .sms, "unrouted"),
        ("101", .sms, "non-emergency"),
    ])
    func theMostSpecificRuleRoutes(dialled: String, channel: CallChannel, route: String) {
        #expect(Self.table.route(for: dialled, channel: channel).name == route)
    }

    @Test func aNumberOnItsChannelBeatsTheNumberOnEveryChannel() {
        let sms = RouteRule(
            name: "sms-desk", numbers: [], grade: .emergency, marking: .official, anonymity: .forbidden,
            match: [RouteMatch(channel: .sms, numbers: ["999"])])
        let table = RouteTable(routes: [Self.emergency, sms], unrouted: Self.unrouted)
        #expect(table.route(for: "999", channel: .sms).name == "sms-desk")
        #expect(table.route(for: "999", channel: .voice).name == "emergency")
        #expect(table.route(for: "999", channel: .videoRelayBSL).name == "emergency")
    }

    @Test func aChannelOrANumberOnAChannelRoutedTwiceIsAProblem() {
        var c = Configuration(routes: [Self.emergency, Self.hotline, Self.nonEmergency], unrouted: Self.unrouted, outcomes: ["hoax"])
        #expect(c.problems() == [])
        c.routes[2].match = [RouteMatch(channel: .online), RouteMatch(channel: .textRelay, numbers: ["18 000", "0800 HOTLINE"])]
        #expect(
            c.problems() == [
                .init(path: "routes.2.match.0", reason: "every online call is already routed to \"anti-terrorist-hotline\""),
                .init(path: "routes.2.match.1.numbers.0", reason: "18000 on text-relay is already routed to \"emergency\""),
                .init(path: "routes.2.match.1.numbers.1", reason: "\"0800 HOTLINE\" is not a phone number"),
            ])
        // A route may take a channel alone, with no number of its own.
        c.routes[2].match = []
        c.routes[1].numbers = []
        #expect(c.problems() == [])
        // Relay UK's prefix is dropped from a text relay call: a rule on it could never match.
        c.routes[0].match.append(RouteMatch(channel: .textRelay, numbers: ["18001 101"]))
        #expect(c.problems().map(\.path) == ["routes.0.match.1.numbers.0"])
        c.routes[0].match.removeLast()
        c.unrouted.match = [RouteMatch(channel: .sms)]
        #expect(c.problems() == [.init(path: "unrouted.match", reason: "the fallback route takes what no route matches")])
    }

    // MARK: Each channel under the shipped rules

    /// SMS to 999, 999 BSL and text relay are treated exactly as a voice 999 call: the same
    /// route, grade, marking and alert, and the line identity kept when anonymity is asked.
    @Test(arguments: [
        ("999", CallChannel.voice), ("999", .sms), ("999", .videoRelayBSL), ("18000", .textRelay), ("999", .textRelay),
    ])
    func everyWayTo999IsAnEmergency(dialled: String, channel: CallChannel) throws {
        let d = try started(Self.start(dialled, channel, identity: Self.identity, anonymous: true))
        #expect(d.state.route == "emergency")
        #expect(d.state.grade == .emergency)
        #expect(d.state.marking == .official)
        #expect(d.alerts == [.emergencyLine])
        #expect(d.state.escalated)
        #expect(d.state.channel == channel)
        // Anonymity forbidden: the wish is recorded, the identity kept, and the answer says why.
        #expect(!d.state.anonymous)
        #expect(d.state.anonymousRequested)
        #expect(d.storedIdentity == Self.identity)
        #expect(d.stripped == [])
        #expect(d.notices.count == 1)
    }

    @Test func anOnlineReportGoesToTheHotlineAndMayStayAnonymous() throws {
        let d = try started(Self.start("", .online, form: "ACT-2026-118204", identity: Self.identity, anonymous: true))
        #expect(d.state.route == "anti-terrorist-hotline")
        #expect(d.state.grade == .priority)
        #expect(d.state.marking == .officialSensitive)
        #expect(d.alerts == [])
        #expect(d.state.anonymous)
        #expect(d.stripped == ["cli", "caller.name", "caller.contact", "caller.address"])
        #expect(d.storedIdentity.isEmpty)
        #expect(d.state.formReference == "ACT-2026-118204")
        #expect(d.state.relay == nil)
        #expect(d.state.dialled == "")
        // Flagged a threat to life, it escalates as a telephoned report does.
        let flagged = try policy.apply(
            Self.update(CallChanges(flags: ["threat_to_life": true])), to: d.state, by: Self.handler, seq: 2)
        #expect(flagged.alerts == [.threatToLife])
        #expect(flagged.state.grade == .emergency)
    }

    // MARK: Relays

    @Test(arguments: [
        (CallChannel.videoRelayBSL, RelayKind.interpreter), (.textRelay, .relayAssistant),
    ])
    func aRelayedCallRecordsItsRelayFromTheStart(channel: CallChannel, kind: RelayKind) throws {
        let d = try started(Self.start("999", channel))
        #expect(d.state.relay == Relay(kind: kind, reference: nil))
        // The reference, learnt later, is added; the kind stays.
        let later = try policy.apply(
            Self.update(CallChanges(relay: RelayChange(reference: "RA-2231"))), to: d.state, by: Self.handler, seq: 2)
        #expect(later.state.relay == Relay(kind: kind, reference: "RA-2231"))
    }

    @Test func aVoiceCallMayHaveAnInterpreterAndSaysNothingOtherwise() throws {
        #expect(try started(Self.start("101", .voice)).state.relay == nil)
        let d = try started(Self.start("101", .voice, relay: RelayChange(reference: "LL-77120")))
        #expect(d.state.relay == Relay(kind: .interpreter, reference: "LL-77120"))
    }

    /// The relay's reference is not the caller's identity: erasing the caller for anonymity
    /// leaves it, and it is never listed as stripped.
    @Test func erasingTheCallerLeavesTheRelaysReference() throws {
        let d = try started(
            Self.start("0800789321", .textRelay, relay: RelayChange(reference: "RA-2231"), identity: Self.identity))
        #expect(d.storedIdentity == Self.identity)
        let erased = try policy.apply(
            Self.update(CallChanges(anonymousRequested: true)), to: d.state, by: Self.handler, seq: 2)
        #expect(erased.eraseEarlierIdentity)
        #expect(erased.state.anonymous)
        #expect(erased.state.identity.isEmpty)
        #expect(erased.state.relay == Relay(kind: .relayAssistant, reference: "RA-2231"))
        #expect(!erased.stripped.contains { $0.contains("relay") })
    }

    @Test func aRelayOnAnSMSOrOnlineCallIsRefusedUnlessItWouldHoldUpAnAlert() throws {
        let sms = try started(Self.start("999", .sms)).state
        let e = #expect(throws: HotlineError.self) {
            try policy.apply(Self.update(CallChanges(relay: RelayChange(reference: "X"))), to: sms, by: Self.handler, seq: 2)
        }
        #expect(e?.code == .invalid)
        #expect(e?.field == "set.relay")
        // With a threat to life it is left aside, with a notice, and the alert rises.
        let online = try started(Self.start("", .online)).state
        let d = try policy.apply(
            Self.update(CallChanges(flags: ["threat_to_life": true], relay: RelayChange(reference: "X"))), to: online,
            by: Self.handler, seq: 2)
        #expect(d.alerts == [.threatToLife])
        #expect(d.state.relay == nil)
        #expect(d.notices.contains { $0.contains("set.relay") })
    }

    // MARK: What the log stores

    /// A voice call's event has exactly the bytes it had before issue 18 (its digest chains
    /// the log, and a resend must match it).
    @Test func aVoiceCallsEventNamesNoChannel() {
        guard case .object(let voice) = Self.start("999", .voice).publicContent else {
            Issue.record("not an object")
            return
        }
        #expect(voice["channel"] == nil && voice["relay"] == nil && voice["form_reference"] == nil)
        let bsl = Self.start("999", .videoRelayBSL, relay: RelayChange(reference: "BSL-4471")).publicContent
        #expect(bsl["channel"] == "video-relay-bsl")
        #expect(bsl["relay"] == ["reference": "BSL-4471"])
        #expect(Self.start("", .online, form: "ACT-1").publicContent["form_reference"] == "ACT-1")
        // The relay's reference is in the clear, apart from the identity and the free text.
        let event = Self.start("999", .videoRelayBSL, relay: RelayChange(reference: "BSL-4471"), identity: Self.identity)
        #expect(event.identity == Self.identity)
        #expect(event.freeText == nil)
    }

    // MARK: The decoder

    let decoder = RequestDecoder(outcomes: ["report-taken"])

    func decode(_ call: [String: JSONValue]) -> Result<Request, HotlineError> {
        var c: [String: JSONValue] = [
            "id": .string(Self.callID), "dialled": "999", "received_at": "2026-11-24T19:02:11Z",
        ]
        c.merge(call) { _, new in new }
        let line: JSONValue = ["op": "call.start", "event_id": "0b1e3c4d-5e6f-4a70-8b1c-2d3e4f5a6b7c", "call": .object(c)]
        return decoder.decode(line: JSONWriter.bytes(line)).result
    }

    func start(_ call: [String: JSONValue], sourceLocation: SourceLocation = #_sourceLocation) -> CallStart? {
        switch decode(call) {
        case .success(.write(.start(let s))): return s
        case let other:
            Issue.record("expected a call.start, got \(other)", sourceLocation: sourceLocation)
            return nil
        }
    }

    func error(_ call: [String: JSONValue], sourceLocation: SourceLocation = #_sourceLocation) -> HotlineError? {
        guard case .failure(let e) = decode(call) else {
            Issue.record("accepted \(call)", sourceLocation: sourceLocation)
            return nil
        }
        return e
    }

    @Test func aVersionOneStartIsAVoiceCall() {
        #expect(start([:])?.channel == .voice)
        #expect(start(["channel": "voice"])?.channel == .voice)
        #expect(start(["channel": .null])?.channel == .voice)
    }

    @Test func anUnknownChannelIsInvalidNamingIt() {
        for bad: JSONValue in ["fax", "SMS", "", 3, true] {
            let e = error(["channel": bad])
            #expect(e?.code == .invalid)
            #expect(e?.field == "call.channel")
        }
        #expect(error(["channel": "fax"])?.message.contains("voice, text-relay, sms, video-relay-bsl, online") == true)
    }

    @Test func onlyAnOnlineReportMayNameNoNumber() {
        let online = start(["channel": "online", "dialled": nil, "form_reference": "ACT-2026-118204"])
        #expect(online?.dialled == "")
        #expect(online?.formReference == "ACT-2026-118204")
        #expect(start(["channel": "online", "dialled": "0800 789 321"])?.dialled == "0800789321")
        for channel: JSONValue in ["voice", "sms", "text-relay", "video-relay-bsl"] {
            #expect(error(["channel": channel, "dialled": nil])?.field == "call.dialled")
        }
        #expect(error(["channel": "online", "dialled": "0800 HOTLINE"])?.field == "call.dialled")
    }

    @Test func aRelayAndAFormReferenceBelongToTheirChannels() {
        #expect(error(["channel": "sms", "relay": ["reference": "X"]])?.field == "call.relay")
        #expect(error(["channel": "online", "relay": ["kind": "interpreter"]])?.field == "call.relay")
        #expect(error(["form_reference": "ACT-1"])?.field == "call.form_reference")
        #expect(error(["channel": "online", "form_reference": "   "])?.field == "call.form_reference")
        #expect(error(["channel": "video-relay-bsl", "relay": [:]])?.field == "call.relay")
        #expect(error(["channel": "video-relay-bsl", "relay": ["kind": "lip-reader"]])?.field == "call.relay.kind")
        #expect(error(["channel": "video-relay-bsl", "relay": ["reference": "  "]])?.field == "call.relay.reference")
        #expect(error(["channel": "video-relay-bsl", "relay": ["operator": "X"]])?.field == "call.relay.operator")
        let bsl = start(["channel": "video-relay-bsl", "relay": ["reference": "BSL-4471"]])
        #expect(bsl?.relay == RelayChange(reference: "BSL-4471"))
    }

    /// Relay UK's prefix for a relayed call to an ordinary number is not the number.
    @Test func aTextRelayPrefixIsDropped() {
        #expect(start(["channel": "text-relay", "dialled": "18001 0800 789 321"])?.dialled == "0800789321")
        #expect(start(["channel": "text-relay", "dialled": "18000"])?.dialled == "18000")
        #expect(start(["channel": "text-relay", "dialled": "18001 +44 800 789 321"])?.dialled == "0800789321")
        #expect(start(["channel": "text-relay", "dialled": "18001"])?.dialled == "18001")
        #expect(start(["channel": "voice", "dialled": "18001 0800 789 321"])?.dialled == "180010800789321")
    }

    /// What a client sends is what the decoder reads back, for every new field.
    @Test func theNewFieldsGoThereAndBack() {
        for event in [
            Self.start("999", .videoRelayBSL, relay: RelayChange(kind: .interpreter, reference: "BSL-4471")),
            Self.start("", .online, form: "ACT-2026-118204"),
            Self.start("999", .sms),
            Self.update(CallChanges(relay: RelayChange(reference: "RA-9"))),
        ] {
            let request = Request.write(event)
            guard case .success(let back) = decoder.decode(line: JSONWriter.bytes(request.json)).result else {
                Issue.record("\(request.json) does not decode")
                continue
            }
            #expect(back == request)
        }
        let query = CallsQuery(from: Self.receivedAt, to: Self.ts("2026-11-25T00:00:00Z"), channel: .sms)
        guard case .success(.callsList(let q, _)) = decoder.decode(line: JSONWriter.bytes(Request.callsList(query).json)).result
        else {
            Issue.record("calls.list does not decode")
            return
        }
        #expect(q.channel == .sms)
    }
}
