import HotlineCore
import Testing

/// Issue 16's protocol additions, each optional for a version-1 client: `reason`,
/// `set.outcome`, an end without an outcome, the silent-call flags, legal hold, and the
/// export of a month.
extension RequestDecoderTests {
    @Test func anUpdateCarriesAReasonAndAnOutcomeAndTheSilentFlags() throws {
        var value = Self.with(Self.update, ["reason"], "caller confirmed no danger")
        value = Self.with(value, ["set", "outcome"], "report-taken")
        value = Self.with(value, ["set", "flags"], ["silent": true, "pressed_55": true])
        guard case .write(.update(let u))? = request(value) else { return }
        #expect(u.reason == "caller confirmed no danger")
        #expect(u.changes.outcome == "report-taken")
        #expect(u.changes.flags == ["silent": true, "pressed_55": true])
        // The reason is sealed at rest with the note, never in the clear body.
        #expect(WriteEvent.update(u).freeText?["reason"] == "caller confirmed no danger")
        #expect(!JSONWriter.string(WriteEvent.update(u).publicContent).contains("no danger"))
        #expect(failure(Self.with(Self.update, ["set", "outcome"], "lost"))?.field == "set.outcome")
        #expect(failure(Self.with(Self.update, ["reason"], "  "))?.field == "reason")
        #expect(failure(Self.with(Self.update, ["set", "flags"], ["pressed_56": true]))?.field == "set.flags.pressed_56")
    }

    @Test func anEndMayComeWithoutAnOutcome() throws {
        guard case .write(.end(let e))? = request(Self.with(Self.end, ["outcome"], nil)) else { return }
        #expect(e.outcome == nil)
        #expect(WriteEvent.end(e).publicContent["outcome"] == nil)
        // A version-1 end, with its outcome, reads as it always did.
        guard case .write(.end(let v1))? = request(Self.end) else { return }
        #expect(v1.outcome == "report-taken")
        #expect(failure(Self.with(Self.end, ["outcome"], "lost"))?.field == "outcome")
    }

    @Test func holdsAndMonthsDecode() throws {
        #expect(
            request(["op": "call.hold", "call_id": .string(Self.callID), "reason": "Subject access request 2026/117"])
                == .callHold(callID: Self.callID, reason: "Subject access request 2026/117"))
        #expect(
            request(["op": "call.release", "call_id": .string(Self.callID), "reason": "Case closed"])
                == .callRelease(callID: Self.callID, reason: "Case closed"))
        #expect(failure(["op": "call.hold", "call_id": .string(Self.callID)])?.field == "reason")
        #expect(failure(["op": "call.hold", "call_id": "nope", "reason": "x"])?.field == "call_id")
        #expect(request(["op": "holds.list"]) == .holdsList())
        #expect(request(["op": "export", "month": "2026-11"]) == .export(ExportQuery(window: .month("2026-11"))))
        #expect(failure(["op": "export", "month": "2026-13"])?.field == "month")
        #expect(failure(["op": "export", "month": "2026-11", "shift": "previous"])?.field == "month")
        // Each goes out as it came in.
        for r: Request in [
            .callHold(callID: Self.callID, reason: "r"), .callRelease(callID: Self.callID, reason: "r"), .holdsList(reason: "audit"),
            .export(ExportQuery(window: .month("2026-10"))),
        ] {
            #expect(request(r.json) == r)
        }
    }
}
