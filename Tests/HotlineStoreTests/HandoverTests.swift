import Foundation
import HotlineCore
import HotlineStore
import Testing

/// The handover's two lists at their edges: a call is open at the instant if it had not
/// ended by then; one that ended by then (the instant itself included) without an outcome
/// is on the other list, whichever shift it ended in, until it is given one.
@Suite struct HandoverTests {
    let t: TemporaryStore

    init() throws { t = try TemporaryStore() }

    @Test func theListsAtTheirEdges() throws {
        let asOf = Fixture.ts("2026-11-24T07:00:00Z")
        let ids = (0..<6).map { String(format: "00000000-0000-4000-8000-%012d", $0) }
        var end = Fixture.end(ids[0], at: "2026-11-24T07:00:00Z")
        if case .end(var e) = end { e.outcome = nil; end = .end(e) }
        var early = Fixture.end(ids[1], at: "2026-11-20T10:00:00Z")
        if case .end(var e) = early { e.outcome = nil; early = .end(e) }
        t.commit([
            Fixture.start(ids[0], at: "2026-11-24T06:00:00Z"), end,  // ended at the instant, no outcome
            Fixture.start(ids[1], at: "2026-11-20T09:00:00Z"), early,  // four days before, no outcome
            Fixture.start(ids[2], at: "2026-11-24T06:00:00Z"), Fixture.end(ids[2], at: "2026-11-24T07:00:01Z"),  // open at 07:00
            Fixture.start(ids[3], at: "2026-11-24T06:00:00Z"), Fixture.end(ids[3], at: "2026-11-24T06:59:59Z"),  // ended, outcome
            Fixture.start(ids[4], at: "2026-11-24T07:00:00Z"),  // received at the instant: the next shift's
            Fixture.start(ids[5], at: "2026-11-23T02:00:00Z"),  // open for a day and more
        ])
        let h = try t.store.handover(from: Fixture.ts("2026-11-23T23:00:00Z"), to: asOf, asOf: asOf, limit: 10)
        #expect(h.open.map(\.callID) == [ids[5], ids[2]])
        #expect(h.open.map(\.openSeconds) == [29 * 3600, 3600])
        #expect(h.withoutOutcome.map(\.callID) == [ids[1], ids[0]])
        #expect((h.openCount, h.withoutOutcomeCount) == (2, 2))
        // Given an outcome, it leaves the list.
        t.commit([Fixture.update(ids[1], at: "2026-11-24T08:00:00Z", CallChanges(outcome: "no-further-action"))])
        #expect(try t.store.handover(from: asOf, to: asOf, asOf: asOf, limit: 10).withoutOutcome.map(\.callID) == [ids[0]])
    }
}
