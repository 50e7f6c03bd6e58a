import HotlineCore
import Testing

/// Decoding request lines (PROTOCOL.md sections 2-5 and 9): every op, every refusal with
/// its code and the dotted path of the field at fault.
@Suite struct RequestDecoderTests {
    static let outcomes: Set<String> = [
        "dispatched", "transferred", "advice-given", "report-taken", "referred", "no-further-action", "abandoned", "hoax",
    ]
    static let eventID = "0b1e3c4d-5e6f-4a70-8b1c-2d3e4f5a6b7c"
    static let callID = "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70"

    static let start: JSONValue = [
        "op": "call.start", "req": "r-1", "event_id": .string(eventID),
        "call": [
            "id": .string(callID), "dialled": "0800 789 321", "received_at": "2026-11-24T19:02:11Z",
            "answered_at": "2026-11-24T19:02:15Z", "workstation": "WS-07", "handler": "4471", "cli": "+447700900123",
            "caller": ["name": "Ann Example", "contact": "07700 900123", "address": "1 High Street"],
            "anonymous_requested": false,
        ],
    ]

    static let update: JSONValue = [
        "op": "call.update", "event_id": .string(eventID), "call_id": .string(callID), "at": "2026-11-24T19:05:00Z",
        "set": [
            "category": "suspicious-activity",
            "location": ["text": "Car park behind the station", "lat": 52.92, "lon": -1.47],
            "flags": ["threat_to_life": true, "vulnerable_person": false],
            "grade": "emergency", "marking": "SECRET", "anonymous_requested": true,
            "cli": "+447700900124", "caller": ["name": "A. Example", "contact": "a@example.org", "address": "2 Low Road"],
        ],
        "note": "Caller reports a parked van.\nEngine running.",
    ]

    static let end: JSONValue = [
        "op": "call.end", "event_id": .string(eventID), "call_id": .string(callID),
        "ended_at": "2026-11-24T19:10:00Z", "outcome": "report-taken",
    ]

    static let list: JSONValue = [
        "op": "calls.list", "from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z",
    ]

    static let hello: JSONValue = ["op": "hello", "protocol": 1, "workstation": "WS-07", "handler": "4471"]

    let decoder = RequestDecoder(outcomes: Self.outcomes)

    // MARK: Helpers

    /// `value` with the member at `path` replaced by `new`, or removed when `new` is nil.
    static func with(_ value: JSONValue, _ path: [String], _ new: JSONValue?) -> JSONValue {
        guard let key = path.first, case .object(var members) = value else { return new ?? value }
        if path.count == 1 {
            members[key] = new
        } else {
            members[key] = with(members[key] ?? .object([:]), Array(path.dropFirst()), new)
        }
        return .object(members)
    }

    static func ts(_ text: String) -> Timestamp {
        do { return try Timestamp(rfc3339: text) } catch { fatalError("bad test timestamp \(text)") }
    }

    func decode(_ value: JSONValue, with decoder: RequestDecoder? = nil) -> RequestDecoder.Decoded {
        (decoder ?? self.decoder).decode(line: JSONWriter.bytes(value))
    }

    func request(_ value: JSONValue, with decoder: RequestDecoder? = nil, sourceLocation: SourceLocation = #_sourceLocation)
        -> Request?
    {
        switch decode(value, with: decoder).result {
        case .success(let r): return r
        case .failure(let e):
            Issue.record("expected success, got \(e)", sourceLocation: sourceLocation)
            return nil
        }
    }

    func failure(_ decoded: RequestDecoder.Decoded, sourceLocation: SourceLocation = #_sourceLocation) -> HotlineError? {
        switch decoded.result {
        case .success(let r):
            Issue.record("expected a failure, got \(r)", sourceLocation: sourceLocation)
            return nil
        case .failure(let e): return e
        }
    }

    func failure(_ value: JSONValue, sourceLocation: SourceLocation = #_sourceLocation) -> HotlineError? {
        failure(decode(value), sourceLocation: sourceLocation)
    }

    func failure(line: String, sourceLocation: SourceLocation = #_sourceLocation) -> HotlineError? {
        failure(decoder.decode(line: Array(line.utf8)), sourceLocation: sourceLocation)
    }

    // MARK: Every op decodes

    @Test func helloDecodes() throws {
        let decoded = decode(Self.hello)
        #expect(decoded.op == "hello")
        guard case .success(.hello(let h)) = decoded.result else {
            Issue.record("not a hello: \(decoded.result)")
            return
        }
        #expect(h.protocolVersion == 1)
        #expect(h.workstation == "WS-07")
        #expect(h.handler == "4471")
        #expect(Request.hello(h).op == "hello")
    }

    @Test func helloNeedsOnlyTheProtocol() throws {
        guard case .hello(let h) = request(["op": "hello", "protocol": 1]) else {
            Issue.record("not a hello")
            return
        }
        #expect(h.protocolVersion == 1)
        #expect(h.workstation == nil)
        #expect(h.handler == nil)
    }

    @Test func pingAndStatsDecode() {
        #expect(request(["op": "ping"]) == .ping)
        #expect(request(["op": "stats", "req": 3]) == .stats)
        #expect(Request.ping.op == "ping")
        #expect(Request.stats.op == "stats")
    }

    @Test func callStartDecodesEveryField() throws {
        let expected = CallStart(
            eventID: Self.eventID, callID: Self.callID, dialled: "0800789321",
            receivedAt: Self.ts("2026-11-24T19:02:11Z"), answeredAt: Self.ts("2026-11-24T19:02:15Z"),
            workstation: "WS-07", handler: "4471",
            identity: CallerIdentity(cli: "+447700900123", name: "Ann Example", contact: "07700 900123", address: "1 High Street"),
            anonymousRequested: false
        )
        let decoded = decode(Self.start)
        #expect(decoded.op == "call.start")
        #expect(decoded.req == .string("r-1"))
        #expect(try decoded.result.get() == .write(.start(expected)))
        #expect(try decoded.result.get().op == "call.start")
    }

    @Test func callStartNeedsOnlyIdDialledAndReceivedAt() {
        let minimal: JSONValue = [
            "op": "call.start", "event_id": .string(Self.eventID),
            "call": ["id": .string(Self.callID), "dialled": "999", "received_at": "2026-11-24T19:02:11Z"],
        ]
        let expected = CallStart(
            eventID: Self.eventID, callID: Self.callID, dialled: "999", receivedAt: Self.ts("2026-11-24T19:02:11Z")
        )
        #expect(request(minimal) == .write(.start(expected)))
    }

    @Test func callStartNormalisesIdsDialledAndTimes() {
        var v = Self.with(Self.start, ["event_id"], .string(Self.eventID.uppercased()))
        v = Self.with(v, ["call", "id"], .string(Self.callID.uppercased()))
        v = Self.with(v, ["call", "dialled"], "+44 (800) 789-321")
        v = Self.with(v, ["call", "received_at"], "2026-11-24T20:02:11+01:00")
        v = Self.with(v, ["call", "answered_at"], "2026-11-24T13:32:15.250-05:30")
        guard case .write(.start(let s)) = request(v) else { return }
        #expect(s.eventID == Self.eventID)
        #expect(s.callID == Self.callID)
        #expect(s.dialled == "0800789321")
        #expect(s.receivedAt.rfc3339 == "2026-11-24T19:02:11Z")
        #expect(s.answeredAt?.rfc3339 == "2026-11-24T19:02:15.250Z")
    }

    @Test func explicitNullIsTheSameAsAbsent() {
        var v = Self.with(Self.start, ["call", "answered_at"], .null)
        v = Self.with(v, ["call", "cli"], .null)
        v = Self.with(v, ["call", "caller"], .null)
        v = Self.with(v, ["call", "anonymous_requested"], .null)
        guard case .write(.start(let s)) = request(v) else { return }
        #expect(s.answeredAt == nil)
        #expect(s.identity == CallerIdentity())
        #expect(s.anonymousRequested == nil)
    }

    @Test func callUpdateDecodesEveryField() throws {
        let expected = CallUpdate(
            eventID: Self.eventID, callID: Self.callID, at: Self.ts("2026-11-24T19:05:00Z"),
            changes: CallChanges(
                category: "suspicious-activity",
                location: Location(text: "Car park behind the station", lat: 52.92, lon: -1.47),
                flags: ["threat_to_life": true, "vulnerable_person": false],
                grade: .emergency, marking: .secret, anonymousRequested: true,
                identity: CallerIdentity(cli: "+447700900124", name: "A. Example", contact: "a@example.org", address: "2 Low Road")
            ),
            note: "Caller reports a parked van.\nEngine running."
        )
        let decoded = decode(Self.update)
        #expect(decoded.op == "call.update")
        #expect(decoded.req == nil)
        #expect(try decoded.result.get() == .write(.update(expected)))
    }

    @Test func callUpdateWithOnlyANoteOrOnlyASetDecodes() {
        let noteOnly = Self.with(Self.update, ["set"], nil)
        guard case .write(.update(let u)) = request(noteOnly) else { return }
        #expect(u.changes == CallChanges())
        #expect(u.note == "Caller reports a parked van.\nEngine running.")

        let setOnly = Self.with(Self.with(Self.update, ["note"], nil), ["set"], ["flags": ["vulnerable_person": true]])
        guard case .write(.update(let u2)) = request(setOnly) else { return }
        #expect(u2.changes == CallChanges(flags: ["vulnerable_person": true]))
        #expect(u2.note == nil)
    }

    @Test func locationMayBeTextOnlyOrCoordinatesOnly() {
        let text = Self.with(Self.update, ["set"], ["location": ["text": "Outside no. 4"]])
        guard case .write(.update(let u)) = request(text) else { return }
        #expect(u.changes.location == Location(text: "Outside no. 4"))

        let coords = Self.with(Self.update, ["set"], ["location": ["lat": 52, "lon": -1.5]])
        guard case .write(.update(let u2)) = request(coords) else { return }
        #expect(u2.changes.location == Location(lat: 52, lon: -1.5))

        let edges = Self.with(Self.update, ["set"], ["location": ["lat": -90, "lon": 180]])
        guard case .write(.update(let u3)) = request(edges) else { return }
        #expect(u3.changes.location == Location(lat: -90, lon: 180))
    }

    @Test func callEndDecodes() throws {
        let decoded = decode(Self.end)
        #expect(decoded.op == "call.end")
        let expected = CallEnd(
            eventID: Self.eventID, callID: Self.callID, endedAt: Self.ts("2026-11-24T19:10:00Z"), outcome: "report-taken"
        )
        #expect(try decoded.result.get() == .write(.end(expected)))
    }

    @Test(arguments: ["dispatched", "transferred", "advice-given", "report-taken", "referred", "no-further-action", "abandoned", "hoax"])
    func everyShippedOutcomeIsAccepted(outcome: String) {
        guard case .write(.end(let e)) = request(Self.with(Self.end, ["outcome"], .string(outcome))) else { return }
        #expect(e.outcome == outcome)
    }

    @Test func callGetDecodesInLowerCase() {
        #expect(request(["op": "call.get", "call_id": .string(Self.callID.uppercased())]) == .callGet(callID: Self.callID))
        #expect(Request.callGet(callID: Self.callID).op == "call.get")
    }

    // MARK: call.get's notes_after (paging the notes, issue 12)

    static let callGet: JSONValue = ["op": "call.get", "call_id": .string(callID)]

    @Test func callGetWithoutNotesAfterStartsAtTheFirstNote() {
        #expect(request(Self.callGet) == .callGet(callID: Self.callID, notesAfter: nil))
        // null is the same as leaving it out.
        #expect(request(Self.with(Self.callGet, ["notes_after"], .null)) == .callGet(callID: Self.callID, notesAfter: nil))
    }

    @Test(arguments: [0, 1, 1042, Int64.max])
    func callGetTakesTheCursorOfAnEarlierAnswer(cursor: Int64) {
        let value = Self.with(Self.with(Self.callGet, ["notes_after"], .int(cursor)), ["req"], 7)
        #expect(request(value) == .callGet(callID: Self.callID, notesAfter: cursor))
        #expect(Request.callGet(callID: Self.callID, notesAfter: cursor).op == "call.get")
    }

    @Test(arguments: [-1, .int(Int64.min), "1042", 10.5, true, [1042], ["seq": 1042]] as [JSONValue])
    func aBadNotesAfterIsInvalidNamingIt(value: JSONValue) {
        let e = failure(Self.with(Self.callGet, ["notes_after"], value))
        #expect(e?.code == .invalid)
        #expect(e?.field == "notes_after")
        #expect(e?.message.contains("\"notes_after\" must be the \"notes_next\" of an earlier call.get answer") == true)
    }

    @Test func callGetStillRefusesFieldsItDoesNotKnow() {
        let e = failure(Self.with(Self.with(Self.callGet, ["notes_after"], 5), ["notes_limit"], 10))
        #expect(e?.code == .invalid)
        #expect(e?.field == "notes_limit")
        // Nor does the cursor belong to any other op.
        #expect(failure(Self.with(Self.list, ["notes_after"], 5))?.field == "notes_after")
    }

    @Test func callsListDecodesWithDefaults() {
        let expected = CallsQuery(from: Self.ts("2026-11-24T00:00:00Z"), to: Self.ts("2026-11-25T00:00:00Z"))
        #expect(expected.limit == 100)
        #expect(CallsQuery.defaultLimit == 100)
        #expect(CallsQuery.maxLimit == 1000)
        #expect(request(Self.list) == .callsList(expected))
        #expect(Request.callsList(expected).op == "calls.list")
    }

    @Test func callsListDecodesEveryField() {
        var v = Self.with(Self.list, ["route"], "emergency")
        v = Self.with(v, ["limit"], 25)
        v = Self.with(v, ["after_seq"], 1042)
        v = Self.with(v, ["from"], "2026-11-24T01:00:00+01:00")
        let expected = CallsQuery(
            from: Self.ts("2026-11-24T00:00:00Z"), to: Self.ts("2026-11-25T00:00:00Z"), route: "emergency", limit: 25,
            afterSeq: 1042
        )
        #expect(request(v) == .callsList(expected))
    }

    @Test(arguments: [Int64(1), 2, 999, 1000])
    func callsListAcceptsLimitsFrom1To1000(limit: Int64) {
        guard case .callsList(let q, _) = request(Self.with(Self.list, ["limit"], .int(limit))) else { return }
        #expect(q.limit == Int(limit))
    }

    @Test(arguments: [JSONValue.int(0), .int(-1), .int(1001), .int(1_000_000), .double(2.5), .string("10"), .bool(true)])
    func callsListRefusesOtherLimits(limit: JSONValue) {
        let e = failure(Self.with(Self.list, ["limit"], limit))
        #expect(e?.code == .invalid)
        #expect(e?.field == "limit")
    }

    @Test func callsListAllowsAnEmptyRangeButNotABackwardOne() {
        let same = Self.with(Self.list, ["to"], "2026-11-24T00:00:00Z")
        #expect(request(same) != nil)
        let backward = Self.with(Self.list, ["to"], "2026-11-23T23:59:59Z")
        let e = failure(backward)
        #expect(e?.code == .invalid)
        #expect(e?.field == "to")
    }

    @Test func callsListRefusesANegativeAfterSeq() {
        let e = failure(Self.with(Self.list, ["after_seq"], -1))
        #expect(e?.code == .invalid)
        #expect(e?.field == "after_seq")
        guard case .callsList(let q, _) = request(Self.with(Self.list, ["after_seq"], 0)) else { return }
        #expect(q.afterSeq == 0)
    }

    @Test func callsQueryJSON() {
        let q = CallsQuery(from: Self.ts("2026-11-24T00:00:00Z"), to: Self.ts("2026-11-25T00:00:00Z"), route: "emergency", limit: 5)
        #expect(
            q.json
                == [
                    "from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z", "limit": 5, "route": "emergency", "after_seq": nil,
                    "channel": nil,
                ]
        )
    }

    /// Ops PROTOCOL.md section 4 lists; each must at least be recognised (never `unknown_op`).
    @Test(arguments: [
        JSONValue.object(["op": "alerts.subscribe"]),
        .object(["op": "alert.ack", "alert_id": .string(eventID)]),
    ])
    func alertOpsAreRecognised(value: JSONValue) {
        let decoded = decode(value)
        #expect(decoded.op == value["op"]?.stringValue)
        if case .success(let r) = decoded.result {
            #expect(r.op == value["op"]?.stringValue)
        } else {
            Issue.record("\(value["op"]?.stringValue ?? "?") decodes as a failure")
        }
    }

    @Test(arguments: [
        JSONValue.object(["op": "audit.list", "from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z"]),
        .object(["op": "verify"]),
    ])
    func auditOpsAreRecognised(value: JSONValue) {
        let decoded = decode(value)
        #expect(decoded.op == value["op"]?.stringValue)
        if case .failure(let e) = decoded.result {
            Issue.record("\(value["op"]?.stringValue ?? "?") is a protocol op but decodes as \(e)")
        }
        if case .success(let r) = decoded.result {
            #expect(r.op == value["op"]?.stringValue)
        }
    }

    // MARK: Envelope

    @Test(arguments: ["call.stop", "CALL.START", "Ping", "", "call.start ", "calls_list"])
    func unknownOpIsRefusedNamingTheOp(op: String) {
        let decoded = decode(["op": .string(op), "req": 9])
        let e = failure(decoded)
        #expect(e?.code == .unknownOp)
        #expect(e?.field == "op")
        #expect(e?.message.contains(op) == true)
        #expect(decoded.req == .int(9))
        #expect(decoded.op == op)
    }

    @Test func missingOpIsInvalid() {
        let decoded = decode(["req": "a"])
        #expect(failure(decoded) == .invalid("op", "\"op\" is required."))
        #expect(decoded.req == .string("a"))
        #expect(decoded.op == nil)
    }

    @Test(arguments: [JSONValue.int(1), .null, .bool(true), .array(["ping"]), .object(["name": "ping"])])
    func opMustBeAString(op: JSONValue) {
        let e = failure(["op": op])
        #expect(e?.code == .invalid)
        #expect(e?.field == "op")
    }

    @Test(arguments: [JSONValue.string("r-17"), .string(""), .int(42), .int(-1), .double(1.5)])
    func reqIsEchoedUnchanged(req: JSONValue) {
        #expect(decode(["op": "ping", "req": req]).req == req)
        // Also when the request fails.
        let failed = decode(["op": "call.end", "req": req])
        #expect(failed.req == req)
        #expect(failure(failed)?.field == "event_id")
    }

    @Test func nullReqIsAbsent() throws {
        let decoded = decode(["op": "ping", "req": nil])
        #expect(decoded.req == nil)
        #expect(try decoded.result.get() == .ping)
    }

    @Test(arguments: [JSONValue.object(["id": 1]), .array([1]), .bool(true)])
    func reqMustBeAStringOrANumber(req: JSONValue) {
        let decoded = decode(["op": "ping", "req": req])
        #expect(decoded.req == nil)
        let e = failure(decoded)
        #expect(e?.code == .invalid)
        #expect(e?.field == "req")
    }

    @Test(arguments: ["[]", "[{\"op\":\"ping\"}]", "\"ping\"", "1", "null", "true"])
    func aLineThatIsNotAnObjectIsBadJSON(line: String) {
        let decoded = decoder.decode(line: Array(line.utf8))
        let e = failure(decoded)
        #expect(e?.code == .badJSON)
        #expect(e?.field == nil)
        #expect(decoded.req == nil)
    }

    @Test(arguments: [
        "", "{", "{\"op\":\"ping\"", "{\"op\":\"ping\"}x", "{'op':'ping'}", "{\"op\":\"ping\",\"op\":\"stats\"}",
        "{\"op\":\"ping\",\"req\":01}", "{\"op\":\"ping\",\"req\":\"\\ud800\"}",
    ])
    func aLineThatIsNotJSONIsBadJSON(line: String) {
        let e = failure(line: line)
        #expect(e?.code == .badJSON)
        #expect(e?.field == nil)
        #expect(e?.message.hasPrefix("The line is not valid JSON: ") == true)
    }

    @Test func invalidUTF8IsBadJSON() {
        var bytes = Array(#"{"op":"ping","req":""#.utf8)
        bytes += [0xC3, 0x28]
        bytes += Array(#""}"#.utf8)
        let decoded = decoder.decode(line: bytes)
        #expect(failure(decoded)?.code == .badJSON)
        #expect(decoded.req == nil)
    }

    @Test func aTrailingCRIsTolerated() throws {
        let decoded = decoder.decode(line: Array("{\"op\":\"ping\",\"req\":1}\r".utf8))
        #expect(try decoded.result.get() == .ping)
        #expect(decoded.req == .int(1))
    }

    @Test func errorsBecomeTheProtocolsErrorObject() {
        #expect(
            HotlineError.invalid("call.dialled", "Bad.").json
                == ["code": "invalid", "message": "Bad.", "field": "call.dialled"]
        )
        #expect(HotlineError(.badJSON, "Nope.").json == ["code": "bad_json", "message": "Nope."])
        #expect(HotlineError(.unknownOp, "x", field: "op").description == "unknown_op: x (field op)")
    }

    // MARK: hello

    @Test(arguments: [Int64(2), 0, 3, 2_147_483_647])
    func helloWithAnotherProtocolIsUnsupported(version: Int64) {
        let e = failure(Self.with(Self.hello, ["protocol"], .int(version)))
        #expect(e?.code == .unsupportedProtocol)
        #expect(e?.field == "protocol")
        #expect(e?.message.contains("\(version)") == true)
    }

    @Test(arguments: [JSONValue.string("1"), .double(1.5), .int(-1), .bool(true), .array([1])])
    func helloProtocolMustBeAVersionNumber(version: JSONValue) {
        let e = failure(Self.with(Self.hello, ["protocol"], version))
        #expect(e?.code == .invalid)
        #expect(e?.field == "protocol")
    }

    @Test func helloWithoutAProtocolIsInvalid() {
        let e = failure(Self.with(Self.hello, ["protocol"], nil))
        #expect(e == .invalid("protocol", "\"protocol\" is required."))
    }

    @Test func helloDefaultsAreUsedByLaterEvents() throws {
        // What a connection does: decode hello, keep its defaults, decode the next lines.
        var decoder = RequestDecoder(outcomes: Self.outcomes)
        guard case .hello(let h) = request(Self.hello, with: decoder) else { return }
        decoder.workstation = h.workstation
        decoder.handler = h.handler

        var bare = Self.with(Self.start, ["call", "workstation"], nil)
        bare = Self.with(bare, ["call", "handler"], nil)
        guard case .write(.start(let s)) = request(bare, with: decoder) else { return }
        #expect(s.workstation == "WS-07")
        #expect(s.handler == "4471")

        guard case .write(.update(let u)) = request(Self.update, with: decoder) else { return }
        #expect(u.workstation == "WS-07")
        #expect(u.handler == "4471")

        guard case .write(.end(let e)) = request(Self.end, with: decoder) else { return }
        #expect(e.workstation == "WS-07")
        #expect(e.handler == "4471")
    }

    @Test func anEventsOwnWorkstationAndHandlerWinOverHellos() {
        let decoder = RequestDecoder(outcomes: Self.outcomes, workstation: "WS-01", handler: "1000")
        var own = Self.with(Self.start, ["call", "workstation"], "WS-09")
        own = Self.with(own, ["call", "handler"], "9999")
        guard case .write(.start(let s)) = request(own, with: decoder) else { return }
        #expect(s.workstation == "WS-09")
        #expect(s.handler == "9999")

        let onlyWorkstation = Self.with(Self.start, ["call", "handler"], nil)
        guard case .write(.start(let s2)) = request(onlyWorkstation, with: decoder) else { return }
        #expect(s2.workstation == "WS-07")
        #expect(s2.handler == "1000")
    }

    @Test func withoutHelloEventsHaveNoWorkstationOrHandler() {
        guard case .write(.update(let u)) = request(Self.update) else { return }
        #expect(u.workstation == nil)
        #expect(u.handler == nil)
        guard case .write(.end(let e)) = request(Self.end) else { return }
        #expect(e.workstation == nil)
        #expect(e.handler == nil)
    }

    @Test(arguments: [
        ("workstation", JSONValue.int(7)), ("handler", .string("")), ("workstation", .string(String(repeating: "w", count: 65))),
    ])
    func helloDefaultsAreValidated(key: String, value: JSONValue) {
        let e = failure(Self.with(Self.hello, [key], value))
        #expect(e?.code == .invalid)
        #expect(e?.field == key)
    }

    // MARK: Unknown fields

    static let unknownFieldCases: [(JSONValue, [String], String)] = [
        (hello, ["role"], "role"),
        (.object(["op": "ping"]), ["extra"], "extra"),
        (.object(["op": "stats"]), ["verbose"], "verbose"),
        (start, ["anonymous_requested"], "anonymous_requested"),
        (start, ["call", "anonymus_requested"], "call.anonymus_requested"),
        (start, ["call", "dialed"], "call.dialed"),
        (start, ["call", "caller", "phone"], "call.caller.phone"),
        (start, ["call", "location"], "call.location"),
        (update, ["grade"], "grade"),
        (update, ["set", "anonymous"], "set.anonymous"),
        (update, ["set", "threat_to_life"], "set.threat_to_life"),
        (update, ["set", "flags", "threat_to_lfe"], "set.flags.threat_to_lfe"),
        (update, ["set", "location", "postcode"], "set.location.postcode"),
        (update, ["set", "caller", "email"], "set.caller.email"),
        (end, ["reason"], "reason"),
        (.object(["op": "call.get", "call_id": .string(callID)]), ["include"], "include"),
        (list, ["offset"], "offset"),
    ]

    @Test(arguments: unknownFieldCases)
    func unknownFieldsAnywhereAreInvalidNamingTheirPath(base: JSONValue, path: [String], field: String) {
        let e = failure(Self.with(base, path, true))
        #expect(e?.code == .invalid)
        #expect(e?.field == field)
        #expect(e?.message.contains("Unknown field \"\(field)\"") == true)
    }

    @Test func unknownFieldsAreFoundEvenWhenTheirValueIsNull() {
        let e = failure(Self.with(Self.update, ["set", "anonymous_request"], .null))
        #expect(e?.field == "set.anonymous_request")
    }

    // MARK: Missing fields

    static let missingFieldCases: [(JSONValue, [String], String)] = [
        (start, ["event_id"], "event_id"),
        (start, ["call"], "call"),
        (start, ["call", "id"], "call.id"),
        (start, ["call", "dialled"], "call.dialled"),
        (start, ["call", "received_at"], "call.received_at"),
        (update, ["event_id"], "event_id"),
        (update, ["call_id"], "call_id"),
        (update, ["at"], "at"),
        (end, ["event_id"], "event_id"),
        (end, ["call_id"], "call_id"),
        (end, ["ended_at"], "ended_at"),
        (.object(["op": "call.get"]), ["call_id"], "call_id"),
        (list, ["from"], "from"),
        (list, ["to"], "to"),
    ]

    @Test(arguments: missingFieldCases)
    func missingRequiredFieldsAreInvalidNamingTheirPath(base: JSONValue, path: [String], field: String) {
        let e = failure(Self.with(base, path, nil))
        #expect(e == .invalid(field, "\"\(field)\" is required."))
        // An explicit null is as good as missing.
        let e2 = failure(Self.with(base, path, .null))
        #expect(e2?.code == .invalid)
        #expect(e2?.field == field)
    }

    // MARK: Wrong types and bad values

    static let badValueCases: [(JSONValue, [String], JSONValue, String)] = [
        (start, ["event_id"], 5, "event_id"),
        (start, ["event_id"], "not-a-uuid", "event_id"),
        (start, ["event_id"], "", "event_id"),
        (start, ["call"], "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70", "call"),
        (start, ["call"], [], "call"),
        (start, ["call", "id"], "6f1c2a8e3b1d4c2e9a7f0b3c4d5e6f70", "call.id"),
        (start, ["call", "id"], 42, "call.id"),
        (start, ["call", "dialled"], 999, "call.dialled"),
        (start, ["call", "dialled"], "", "call.dialled"),
        (start, ["call", "dialled"], "0800 HOTLINE", "call.dialled"),
        (start, ["call", "dialled"], "+1 555 0100", "call.dialled"),
        (start, ["call", "dialled"], "()", "call.dialled"),
        (start, ["call", "dialled"], "123456789012345678901", "call.dialled"),
        (start, ["call", "dialled"], .string(String(repeating: "1", count: 65)), "call.dialled"),
        (start, ["call", "received_at"], 1_795_546_931, "call.received_at"),
        (start, ["call", "received_at"], "yesterday", "call.received_at"),
        (start, ["call", "received_at"], "2026-02-29T10:00:00Z", "call.received_at"),
        (start, ["call", "answered_at"], "2026-11-24 19:02:15", "call.answered_at"),
        (start, ["call", "workstation"], 7, "call.workstation"),
        (start, ["call", "handler"], "", "call.handler"),
        (start, ["call", "cli"], 447_700_900_123, "call.cli"),
        (start, ["call", "cli"], "+44\u{0007}", "call.cli"),
        (start, ["call", "caller"], "Ann Example", "call.caller"),
        (start, ["call", "caller", "name"], ["first": "Ann"], "call.caller.name"),
        (start, ["call", "caller", "address"], .string(String(repeating: "a", count: 1025)), "call.caller.address"),
        (start, ["call", "anonymous_requested"], "true", "call.anonymous_requested"),
        (start, ["call", "anonymous_requested"], 1, "call.anonymous_requested"),
        (update, ["call_id"], "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f7z", "call_id"),
        (update, ["at"], "2026-11-24T19:05", "at"),
        (update, ["note"], 5, "note"),
        (update, ["note"], "", "note"),
        (update, ["note"], "bell\u{0007}", "note"),
        (update, ["note"], .string(String(repeating: "n", count: 16385)), "note"),
        (update, ["set"], "grade=emergency", "set"),
        (update, ["set", "category"], "Suspicious Activity", "set.category"),
        (update, ["set", "category"], "suspicious_activity", "set.category"),
        (update, ["set", "category"], 3, "set.category"),
        (update, ["set", "location"], "Car park", "set.location"),
        (update, ["set", "location", "lat"], "52.92", "set.location.lat"),
        (update, ["set", "location", "lat"], 90.5, "set.location.lat"),
        (update, ["set", "location", "lon"], -180.01, "set.location.lon"),
        (update, ["set", "location", "text"], .string(String(repeating: "t", count: 4097)), "set.location.text"),
        (update, ["set", "flags"], ["threat_to_life"], "set.flags"),
        (update, ["set", "flags", "threat_to_life"], "true", "set.flags.threat_to_life"),
        (update, ["set", "flags", "vulnerable_person"], 0, "set.flags.vulnerable_person"),
        (update, ["set", "grade"], "urgent", "set.grade"),
        (update, ["set", "grade"], "Emergency", "set.grade"),
        (update, ["set", "marking"], "TOP-SECRET", "set.marking"),
        (update, ["set", "marking"], "official", "set.marking"),
        (update, ["set", "anonymous_requested"], "yes", "set.anonymous_requested"),
        (update, ["set", "cli"], false, "set.cli"),
        (update, ["set", "caller"], [], "set.caller"),
        (update, ["set", "caller", "contact"], 7, "set.caller.contact"),
        (end, ["ended_at"], "2026-11-24T19:10:00", "ended_at"),
        (end, ["outcome"], "eaten-by-grue", "outcome"),
        (end, ["outcome"], "Report-Taken", "outcome"),
        (end, ["outcome"], 3, "outcome"),
        (end, ["outcome"], "", "outcome"),
        (.object(["op": "call.get"]), ["call_id"], "6f1c2a8e", "call_id"),
        (list, ["from"], "2026-11-24", "from"),
        (list, ["route"], 5, "route"),
        (list, ["after_seq"], "10", "after_seq"),
    ]

    @Test(arguments: badValueCases)
    func wrongTypesAndBadValuesAreInvalidNamingTheirPath(base: JSONValue, path: [String], value: JSONValue, field: String) {
        let e = failure(Self.with(base, path, value))
        #expect(e?.code == .invalid)
        #expect(e?.field == field)
        #expect(e?.message.isEmpty == false)
    }

    @Test(
        arguments: [
            (start, ["call", "received_at"], "call.received_at"),
            (start, ["call", "answered_at"], "call.answered_at"),
            (update, ["at"], "at"),
            (end, ["ended_at"], "ended_at"),
            (list, ["from"], "from"),
            (list, ["to"], "to"),
        ] as [(JSONValue, [String], String)])
    func aTimeWithoutAZoneIsInvalidAndSaysSo(base: JSONValue, path: [String], field: String) {
        let e = failure(Self.with(base, path, "2026-11-24T19:02:11"))
        #expect(e?.code == .invalid)
        #expect(e?.field == field)
        #expect(e?.message.contains("no time zone") == true)
    }

    @Test func answeredBeforeReceivedIsInvalid() {
        let e = failure(Self.with(Self.start, ["call", "answered_at"], "2026-11-24T19:02:10.999Z"))
        #expect(e?.code == .invalid)
        #expect(e?.field == "call.answered_at")
    }

    @Test func answeredBeforeReceivedIsJudgedInUTC() {
        // 19:30+01:00 is 18:30Z: before a call received at 19:02:11Z, though it reads later.
        let e = failure(Self.with(Self.start, ["call", "answered_at"], "2026-11-24T19:30:00+01:00"))
        #expect(e?.field == "call.answered_at")
        // 14:02:11-05:00 is 19:02:11Z: answered the instant it was received is fine.
        #expect(request(Self.with(Self.start, ["call", "answered_at"], "2026-11-24T14:02:11-05:00")) != nil)
    }

    @Test func anUpdateNeedsASetOrANote() {
        let neither = Self.with(Self.with(Self.update, ["set"], nil), ["note"], nil)
        let e = failure(neither)
        #expect(e?.code == .invalid)
        #expect(e?.field == "set")

        let emptySet = Self.with(Self.with(Self.update, ["set"], [:]), ["note"], nil)
        #expect(failure(emptySet)?.field == "set")

        let nullNote = Self.with(Self.with(Self.update, ["set"], [:]), ["note"], .null)
        #expect(failure(nullNote)?.field == "set")

        let emptyFlags = Self.with(Self.with(Self.update, ["set"], ["flags": [:]]), ["note"], nil)
        #expect(failure(emptyFlags)?.field == "set")
    }

    @Test func anOutcomeMustBeConfigured() {
        let decoder = RequestDecoder(outcomes: ["dispatched"])
        let d = decode(Self.end, with: decoder)
        let e = failure(d)
        #expect(e?.code == .invalid)
        #expect(e?.field == "outcome")
        #expect(e?.message.contains("dispatched") == true)
        guard case .write(.end(let end)) = request(Self.with(Self.end, ["outcome"], "dispatched"), with: decoder) else { return }
        #expect(end.outcome == "dispatched")
    }

    @Test func latitudeWithoutLongitudeIsInvalid() {
        let latOnly = Self.with(Self.update, ["set", "location"], ["lat": 52.92])
        #expect(failure(latOnly)?.field == "set.location.lon")
        let lonOnly = Self.with(Self.update, ["set", "location"], ["lon": -1.47])
        #expect(failure(lonOnly)?.field == "set.location.lat")
    }

    @Test func notesKeepNewlinesAndTabsAndMayBeLong() {
        let note = String(repeating: "x", count: 16_380) + "\n\tok"
        guard case .write(.update(let u)) = request(Self.with(Self.update, ["note"], .string(note))) else { return }
        #expect(u.note == note)
    }

    @Test func theFirstFaultReportedIsTheEnvelopesUnknownField() {
        // An unknown top-level field is reported before a missing required one.
        var v = Self.with(Self.start, ["event_id"], nil)
        v = Self.with(v, ["colour"], "red")
        #expect(failure(v)?.field == "colour")
    }

    // MARK: Reasons for reads

    static let reads: [JSONValue] = [
        ["op": "call.get", "call_id": .string(callID)], list,
        ["op": "audit.list", "from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z"],
        ["op": "verify"], ["op": "export", "shift": "previous"],
    ]

    @Test func everyReadTakesAReasonAndNoOtherOpDoes() throws {
        let why = "Caller's MP asked; reviewing before the reply"
        for read in Self.reads {
            let op = read["op"]?.stringValue ?? "?"
            #expect(request(read)?.reason == nil, "\(op)")
            #expect(request(Self.with(read, ["reason"], .null))?.reason == nil, "\(op)")
            #expect(request(Self.with(read, ["reason"], .string(why)))?.reason == why, "\(op)")
            // Line breaks are text, as in a note.
            #expect(request(Self.with(read, ["reason"], "Line one\r\nline two"))?.reason == "Line one\r\nline two", "\(op)")
        }
        #expect(
            request(Self.with(Self.reads[0], ["reason"], "why"))
                == .callGet(callID: Self.callID, notesAfter: nil, reason: "why"))
        for other in [Self.hello, ["op": "stats"], ["op": "ping"], Self.end] as [JSONValue] {
            let e = failure(Self.with(other, ["reason"], "why"))
            #expect(e?.code == .invalid, "\(other)")
            #expect(e?.field == "reason", "\(other)")
        }
    }

    @Test(arguments: [
        (JSONValue.string(""), "is blank"), (" \t\n ", "is blank"), (.int(42), "must be a string"),
        (.string(String(repeating: "é", count: 501)), "longer than 1000 bytes"), ("a\u{7}b", "control character"),
        ("a\u{7F}b", "contains U+007F"), ("a\u{9B}2Jb", "contains U+009B"), ("evil\u{202E}txt.exe", "contains U+202E"),
    ])
    func aBadReasonIsInvalidNamingIt(value: JSONValue, says: String) {
        for read in Self.reads {
            let e = failure(Self.with(read, ["reason"], value))
            #expect(e?.code == .invalid, "\(read)")
            #expect(e?.field == "reason", "\(read)")
            #expect(e?.message.contains(says) == true, "\(e?.message ?? "")")
        }
        #expect(request(Self.with(Self.reads[3], ["reason"], .string(String(repeating: "é", count: 500))))?.reason?.utf8.count == 1000)
    }

    @Test func aReasonIsRequiredOnlyWhenEveryRoleThatAllowsTheReadIsListed() {
        let rules = ReasonsRequired([.supervisor: ["call.get", "calls.list", "export"], .auditor: ["call.get"]])
        #expect(rules.isRequired(op: "call.get", allowedBy: [.supervisor]))
        #expect(rules.isRequired(op: "call.get", allowedBy: [.supervisor, .auditor]))
        // Allowed as the handler who took the call, too: no reason needed.
        #expect(!rules.isRequired(op: "call.get", allowedBy: [.supervisor, .handler]))
        #expect(!rules.isRequired(op: "call.get", allowedBy: [.handler]))
        #expect(!rules.isRequired(op: "calls.list", allowedBy: [.supervisor, .auditor]))
        #expect(rules.isRequired(op: "export", allowedBy: [.supervisor]))
        #expect(!rules.isRequired(op: "verify", allowedBy: [.auditor]))
        #expect(!rules.isRequired(op: "call.get", allowedBy: []))
        #expect(!ReasonsRequired().isRequired(op: "call.get", allowedBy: [.supervisor]))
        let e = ReasonsRequired.missing(op: "calls.list", allowedBy: [.supervisor, .auditor])
        #expect(e.code == .invalid)
        #expect(e.field == "reason")
        #expect(
            e.message
                == "\"reason\" is required: as auditor and supervisor you must say why you read this (calls.list); it is kept in the audit log."
        )
    }
}
