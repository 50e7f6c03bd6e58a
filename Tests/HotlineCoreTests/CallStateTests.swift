import HotlineCore
import Testing

/// A call's projection as `calls.list` (summary) and `call.get` (detail) return it.
@Suite struct CallStateTests {
    static func ts(_ text: String) -> Timestamp {
        do { return try Timestamp(rfc3339: text) } catch { fatalError("bad test timestamp \(text)") }
    }

    static var state: CallState {
        CallState(
            id: "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70", dialled: "0800789321", route: "anti-terrorist-hotline",
            routeAnonymity: .allowed, routeGrade: .priority, grade: .emergency, marking: .secret, escalated: true,
            threatAlertRaised: true, category: "suspicious-activity",
            location: Location(text: "Station car park", lat: 52.92, lon: -1.47), flags: ["threat_to_life": true],
            outcome: "report-taken", receivedAt: ts("2026-11-24T19:02:11Z"), answeredAt: ts("2026-11-24T19:02:15Z"),
            endedAt: ts("2026-11-24T19:07:25.500Z"), workstation: "WS-07", handler: "4471", ownerUID: 1001,
            identity: CallerIdentity(cli: "+447700900123", name: "Ann Example", contact: "07700 900123", address: "1 High St"),
            firstSeq: 10, lastSeq: 14
        )
    }

    @Test func theSummaryHasNoIdentifyingFieldAndNoFreeText() {
        #expect(
            CallSummary(Self.state).json
                == [
                    "call_id": "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70", "dialled": "0800789321", "route": "anti-terrorist-hotline",
                    "grade": "emergency", "marking": "SECRET", "anonymous": false, "escalated": true,
                    "received_at": "2026-11-24T19:02:11Z", "first_seq": 10, "last_seq": 14, "category": "suspicious-activity",
                    "outcome": "report-taken", "answered_at": "2026-11-24T19:02:15Z", "ended_at": "2026-11-24T19:07:25.500Z",
                    "workstation": "WS-07", "handler": "4471", "flags": ["threat_to_life": true], "channel": "voice",
                    "relay": nil, "form_reference": nil,
                ]
        )
        let text = JSONWriter.string(CallSummary(Self.state).json)
        for secret in [
            "+447700900123", "Ann Example", "07700 900123", "1 High St", "Station car park", "cli", "caller", "notes", "location",
        ] {
            #expect(!text.contains(secret), "summary leaks \(secret)")
        }
    }

    @Test func theDetailAddsIdentityLocationAndHandlingTime() {
        let detail = CallRecord(Self.state, notes: [], alerts: [], recordedAt: nil).json
        #expect(detail["id"] == "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70")
        #expect(detail["anonymous_requested"] == false)
        #expect(detail["cli"] == "+447700900123")
        #expect(detail["caller"] == ["name": "Ann Example", "contact": "07700 900123", "address": "1 High St"])
        #expect(detail["location"] == ["text": "Station car park", "lat": 52.92, "lon": -1.47])
        #expect(detail["handling_seconds"] == .double(310.5))
        #expect(detail["grade"] == "emergency")
    }

    @Test func anAnonymousCallsDetailHasNoIdentity() {
        var s = Self.state
        s.anonymous = true
        s.identity = CallerIdentity()
        s.location = nil
        let detail = CallRecord(s, notes: [], alerts: [], recordedAt: nil).json
        #expect(detail["cli"] == .null)
        #expect(detail["caller"] == .null)
        #expect(detail["location"] == .null)
        #expect(detail["anonymous"] == true)
    }

    @Test func handlingTimeIsFromAnswerOrReceiptAndOnlyOnceEnded() {
        var s = Self.state
        #expect(s.handlingSeconds == 310.5)
        s.answeredAt = nil
        #expect(s.handlingSeconds == 314.5)
        s.endedAt = nil
        #expect(s.handlingSeconds == nil)
        #expect(s.isOpen)
        #expect(CallRecord(s, notes: [], alerts: [], recordedAt: nil).json["handling_seconds"] == .null)
        #expect(CallSummary(s).json["ended_at"] == .null)
    }
}
