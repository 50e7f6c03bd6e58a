import HotlineCore
import Testing

/// Every request, answer and push of the protocol: encoded as the daemon (or a client)
/// sends it and decoded back to the same value, and an answer that cannot be read named at
/// the member at fault.
@Suite struct WireTests {
    static let t0 = Timestamp(microseconds: 1_764_010_931_123_456)
    static let t1 = Timestamp(microseconds: 1_764_010_935_000_000)
    static let callID = "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70"
    static let eventID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

    static func roundTrip<T: WireValue>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        // Through the text of a line, as it crosses the socket.
        let line = JSONWriter.string(value.json)
        let decoded = try T(json: try JSONParser.parse(Array(line.utf8)))
        #expect(decoded == value, "\(line)", sourceLocation: sourceLocation)
    }

    static var state: CallState {
        CallState(
            id: callID, dialled: "0800789321", route: "anti-terrorist-hotline", routeAnonymity: .allowed, routeGrade: .priority,
            grade: .emergency, marking: .secret, escalated: true, threatAlertRaised: true, category: "suspicious-activity",
            location: Location(text: "Station car park", lat: 52.92, lon: -1.47), flags: ["threat_to_life": true],
            outcome: "report-taken", receivedAt: t0, answeredAt: t1, endedAt: t1.adding(seconds: 310.5), workstation: "WS-07",
            handler: "4471", ownerUID: 1001,
            identity: CallerIdentity(cli: "+447700900123", name: "Ann Example", contact: "07700 900123", address: "1 High St"),
            firstSeq: 10, lastSeq: 14)
    }

    static var alert: Alert {
        Alert(id: eventID, callID: callID, seq: 10, route: "emergency", grade: .emergency, reason: .emergencyLine, level: 2, raisedAt: t0)
    }

    @Test func writeAcknowledgementsRoundTripAndKeepTheirStoredShape() throws {
        let start = WriteAck(
            callID: Self.callID, seq: 7, route: "emergency", grade: "emergency", marking: "OFFICIAL", anonymous: false,
            escalated: true, alertID: Self.eventID, routeAnonymity: "forbidden", routeGrade: "emergency")
        try Self.roundTrip(start)
        try Self.roundTrip(
            WriteAck(
                callID: Self.callID, seq: 8, route: "anti-terrorist-hotline", grade: "priority", marking: "OFFICIAL-SENSITIVE",
                anonymous: true, escalated: false, stripped: ["cli", "caller.name"], notice: "Kept anonymous.", duplicate: true))
        // Acks are stored and chained: their members are fixed, alert_id and stripped always present.
        #expect(
            JSONWriter.string(start.json)
                == #"{"alert_id":"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","anonymous":false,"call_id":"6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70","escalated":true,"grade":"emergency","marking":"OFFICIAL","route":"emergency","route_anonymity":"forbidden","route_grade":"emergency","seq":7,"stripped":[]}"#
        )
        let update = WriteAck(
            callID: Self.callID, seq: 9, route: "emergency", grade: "emergency", marking: "OFFICIAL", anonymous: false,
            escalated: false)
        #expect(update.json["alert_id"] == .null)
        #expect(update.json["duplicate"] == nil)
    }

    @Test func callsAndTheirPartsRoundTrip() throws {
        try Self.roundTrip(CallSummary(Self.state))
        var open = Self.state
        open.answeredAt = nil
        open.endedAt = nil
        open.category = nil
        open.flags = [:]
        try Self.roundTrip(CallSummary(open))
        let notes = [
            Note(at: Self.t0, by: "4471", text: "Caller saw a white van,\nparked twice.", uid: 1001, recordedAt: Self.t1),
            Note(at: Self.t1, by: "WS-07", text: "Second note"),
        ]
        var acked = Self.alert
        acked.ackedAt = Self.t1
        let record = CallRecord(Self.state, notes: notes, alerts: [Self.alert, acked], recordedAt: Self.t1)
        try Self.roundTrip(record)
        try Self.roundTrip(CallGetAnswer(call: record, notesNext: 42))
        try Self.roundTrip(CallGetAnswer(call: CallRecord(open, notes: [], alerts: [], recordedAt: nil), notesNext: nil))
        var anonymous = Self.state
        anonymous.identity = CallerIdentity()
        anonymous.location = nil
        try Self.roundTrip(CallRecord(anonymous, notes: [], alerts: [], recordedAt: nil))
        var cliOnly = Self.state
        cliOnly.identity = CallerIdentity(cli: "999")
        try Self.roundTrip(CallRecord(cliOnly, notes: [], alerts: [], recordedAt: nil))
        try Self.roundTrip(CallsListAnswer(calls: [CallSummary(Self.state), CallSummary(open)], nextAfterSeq: 15))
        try Self.roundTrip(CallsListAnswer(calls: [], nextAfterSeq: nil))
    }

    @Test func theDetailCarriesEverySummaryMemberAndTheCallsOwn() {
        let summary = CallSummary(Self.state).json.objectValue ?? [:]
        let detail = CallRecord(Self.state, notes: [], alerts: [], recordedAt: nil).json.objectValue ?? [:]
        for (key, value) in summary { #expect(detail[key] == value, "\(key)") }
        #expect(
            Set(detail.keys).subtracting(summary.keys)
                == [
                    "id", "owner_uid", "anonymous_requested", "location", "cli", "caller", "handling_seconds", "notes", "alerts", "history",
                    "hold", "held",
                ])
    }

    @Test func alertsPushesAndTheirAnswersRoundTrip() throws {
        try Self.roundTrip(AlertView(Self.alert))
        try Self.roundTrip(Push.alert(AlertView(Self.alert)))
        try Self.roundTrip(Push.disconnect(reason: "The configuration was reloaded; reconnect and subscribe again."))
        #expect(Self.alert.pushFrame == ["push": "alert", "alert": AlertView(Self.alert).json])
        try Self.roundTrip(AlertAckAnswer(alertID: Self.eventID, ackedAt: Self.t1))
        try Self.roundTrip(SubscribeAnswer(backlog: 3))
        try Self.roundTrip(HelloAnswer(server: "hotlined 1.0", protocolVersion: 1, role: "supervisor", roles: ["handler", "supervisor"]))
        try Self.roundTrip(HelloAnswer(server: "hotlined 1.0", protocolVersion: 1, role: nil, roles: []))
        #expect(throws: AnswerError("push", "as \"confetti\", not a push this client knows")) {
            try Push(json: ["push": "confetti"])
        }
    }

    @Test func statsVerifyExportAndAuditRoundTrip() throws {
        try Self.roundTrip(
            StatsAnswer(
                uptimeSeconds: 5, connections: 2, events: 100, calls: 40, callsOpen: 3, alertsUnacked: 1, writerBacklog: 0,
                subscribers: 1))
        let faulty = StatsAnswer(
            uptimeSeconds: 5, connections: 2, events: 100, calls: 40, callsOpen: 3, alertsUnacked: 1, writerBacklog: 0,
            subscribers: 1, storageFault: "The disk is full.")
        try Self.roundTrip(faulty)
        #expect(faulty.counters.map(\.name) == faulty.json.objectValue?.keys.sorted())

        let intact = VerifyAnswer(
            intact: true, events: 10, auditEntries: 3, head: "10:" + String(repeating: "a", count: 64),
            auditHead: "3:" + String(repeating: "b", count: 64), problems: [], keyedChain: "checked")
        try Self.roundTrip(intact)
        #expect(intact.json["ok"] == true)
        let tampered = VerifyAnswer(
            intact: false, events: 10, auditEntries: 3, head: "10:" + String(repeating: "a", count: 64),
            auditHead: "3:" + String(repeating: "b", count: 64), problems: ["event 4 was changed"], keyedChain: "not_checked",
            firstBadSeq: 4, firstBadAuditSeq: 2, badCalls: [Self.callID])
        try Self.roundTrip(tampered)
        // verify answers "ok": false for a tampered log, and it is still an answer, not an error.
        let line = Response(req: "v1", result: .success(tampered.json)).json
        #expect(line["ok"] == false)
        #expect(try Response(json: line).answer(as: VerifyAnswer.self) == tampered)

        let window = ShiftWindow(name: "night", date: "2026-11-23", from: Self.t0, to: Self.t1, timezone: "Europe/London")
        try Self.roundTrip(window)
        try Self.roundTrip(ShiftWindow(name: nil, date: nil, from: Self.t0, to: Self.t1, timezone: "UTC"))
        let row = ExportRow(summary: CallSummary(Self.state), alerts: [AlertView(Self.alert)])
        try Self.roundTrip(row)
        #expect(row.json["handling_seconds"] == .double(310.5))
        try Self.roundTrip(ExportAnswer(shift: window, calls: [row], nextAfterSeq: 10))
        try Self.roundTrip(ExportAnswer(shift: window, calls: [], nextAfterSeq: nil))
        #expect(ExportCall(row).alerts.first?.level == 2)

        let read = AuditEntry(
            seq: 12, at: Self.t0, uid: 1002, pid: 4242, role: .supervisor, op: "call.get",
            detail: ["call_ids": [.string(Self.callID)], "notes_after": 3, "notes_next": 9, "result": "ok"],
            reason: "Complaint 77 review")
        try Self.roundTrip(read)
        #expect(read.callIDs == [Self.callID])
        #expect(read.notesAfter == 3 && read.notesNext == 9 && read.result == "ok")
        let purge = AuditEntry(
            seq: 13, at: Self.t1, uid: 0, pid: 1, role: nil, op: AuditOp.retentionPurge, detail: ["calls": 4, "result": "ok"],
            reasonUnreadable: .keyRetired)
        try Self.roundTrip(purge)
        try Self.roundTrip(AuditListAnswer(entries: [read, purge], nextFrom: Self.t1))
        try Self.roundTrip(AuditListAnswer(entries: [], nextFrom: nil))
    }

    @Test func errorsAndTheEnvelopeRoundTrip() throws {
        try Self.roundTrip(HotlineError(.invalid, "\"call.dialled\" has no digits.", field: "call.dialled"))
        try Self.roundTrip(HotlineError.shuttingDown)
        let refused = Response(req: 7, result: .failure(HotlineError(.forbidden, "Only auditors may read the audit log.")))
        #expect(
            refused.json == ["req": 7, "ok": false, "error": ["code": "forbidden", "message": "Only auditors may read the audit log."]])
        #expect(try Response(json: refused.json) == refused)
        let ok = Response(req: "a", result: .success(SubscribeAnswer(backlog: 2).json))
        #expect(ok.json == ["req": "a", "ok": true, "backlog": 2])
        #expect(try Response(json: ok.json).answer(as: SubscribeAnswer.self) == SubscribeAnswer(backlog: 2))
        #expect(throws: HotlineError(.forbidden, "Only auditors may read the audit log.")) {
            try refused.answer(as: AuditListAnswer.self)
        }
        // A code this client does not know is kept in the message, not lost.
        let newer = try HotlineError(json: ["code": "rate_limited", "message": "Slow down."])
        #expect(newer.message == "rate_limited: Slow down.")
    }

    @Test func anUnreadableAnswerIsNamedAtTheMemberAtFault() throws {
        var calls = CallsListAnswer(calls: [CallSummary(Self.state), CallSummary(Self.state)], nextAfterSeq: nil).json
        guard case .object(var m) = calls, case .array(var list) = m["calls"], case .object(var second) = list[1] else {
            Issue.record("not an object")
            return
        }
        second["received_at"] = "yesterday"
        list[1] = .object(second)
        m["calls"] = .array(list)
        calls = .object(m)
        #expect(throws: AnswerError("calls.1.received_at", "as \"yesterday\", not an RFC 3339 time")) {
            try CallsListAnswer(json: calls)
        }
        #expect(throws: AnswerError("call", "missing")) { try CallGetAnswer(json: ["notes_next": 3]) }
        #expect(throws: AnswerError("backlog", "as a string, not an integer")) { try SubscribeAnswer(json: ["backlog": "3"]) }
        let record = CallRecord(Self.state, notes: [Note(at: Self.t0, by: "4471", text: "x")], alerts: [], recordedAt: nil)
        guard case .object(var r) = record.json else { return }
        r["notes"] = [["at": .string(Self.t0.rfc3339), "text": "x"]]
        #expect(throws: AnswerError("call.notes.0.by", "missing")) {
            try CallGetAnswer(json: ["call": .object(r)])
        }
        // A newer daemon's extra members are passed over.
        var extra = SubscribeAnswer(backlog: 1).json.objectValue ?? [:]
        extra["shiny_new_member"] = true
        #expect(try SubscribeAnswer(json: .object(extra)) == SubscribeAnswer(backlog: 1))
    }

    /// Every request a client can build is read back by the daemon's decoder as itself.
    @Test(arguments: WireTests.requests)
    func requestsRoundTripThroughTheDaemonsDecoder(_ request: Request) throws {
        // Updates and ends take their workstation and handler from the connection's hello.
        let decoder = RequestDecoder(outcomes: ["dispatched", "report-taken"], workstation: "WS-07", handler: "4471")
        let line = JSONWriter.string(request.json)
        let decoded = decoder.decode(line: Array(line.utf8))
        #expect(try decoded.result.get() == request, "\(line)")
        #expect(decoded.op == request.op)
    }

    static let requests: [Request] = [
        .hello(Request.Hello(workstation: "WS-07", handler: "4471")),
        .hello(Request.Hello()),
        .ping, .stats, .alertsSubscribe,
        .alertAck(alertID: eventID),
        .write(
            .start(
                CallStart(
                    eventID: eventID, callID: callID, dialled: "999", receivedAt: t0, answeredAt: t1, workstation: "WS-01",
                    handler: "77", identity: CallerIdentity(cli: "+447700900123", name: "Ann"), anonymousRequested: false))),
        .write(
            .start(
                CallStart(eventID: eventID, callID: callID, dialled: "0800789321", receivedAt: t0, workstation: "WS-07", handler: "4471"))),
        .write(
            .update(
                CallUpdate(
                    eventID: eventID, callID: callID, at: t1,
                    changes: CallChanges(
                        category: "suspicious-activity", location: Location(text: "Car park", lat: 52.9, lon: -1.4),
                        flags: ["threat_to_life": true, "vulnerable_person": false], grade: .emergency, marking: .secret,
                        anonymousRequested: true, identity: CallerIdentity(contact: "07700 900456", address: "1 High St")),
                    note: "Saw a van.\r\nTwice.", workstation: "WS-07", handler: "4471"))),
        .write(.update(CallUpdate(eventID: eventID, callID: callID, at: t1, note: "Only a note", workstation: "WS-07", handler: "4471"))),
        .write(.end(CallEnd(eventID: eventID, callID: callID, endedAt: t1, outcome: "dispatched", workstation: "WS-07", handler: "4471"))),
        .callGet(callID: callID),
        .callGet(callID: callID, notesAfter: 40, reason: "Review"),
        .callsList(CallsQuery(from: t0, to: t1)),
        .callsList(CallsQuery(from: t0, to: t1, route: "emergency", limit: 5, afterSeq: 9), reason: "Complaint 77"),
        .auditList(from: t0, to: t1),
        .auditList(from: t0, to: t1, reason: "Quarterly audit"),
        .verify(), .verify(reason: "Monthly check"),
        .export(ExportQuery(window: .shift("previous"))),
        .export(ExportQuery(window: .range(from: t0, to: t1), afterSeq: 12, limit: 50), reason: "Shift report"),
    ]

    @Test func aReadAsksAgainWithItsReasonAndOtherRequestsAreUnchanged() {
        #expect(Request.verify().with(reason: "why") == .verify(reason: "why"))
        #expect(
            Request.callGet(callID: Self.callID, notesAfter: 3).with(reason: "r")
                == .callGet(callID: Self.callID, notesAfter: 3, reason: "r"))
        #expect(Request.stats.with(reason: "r") == .stats)
    }
}
