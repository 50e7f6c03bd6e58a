import Foundation
import GRDB
import HotlineCore
@testable import HotlineStore
import Testing

/// The reads a workstation can repeat at will are served by an index, not a scan (issue
/// 12): what SQLite's planner says of the statements the store runs.
@Suite struct QueryPlanTests {
    let t: TemporaryStore
    init() throws { t = try TemporaryStore() }

    static let callA = "0a0a0a0a-0000-4000-8000-00000000000a"
    static let callB = "0b0b0b0b-0000-4000-8000-00000000000b"
    static let callC = "0c0c0c0c-0000-4000-8000-00000000000c"

    static func plan(_ db: Database, _ sql: String, _ arguments: StatementArguments) throws -> String {
        try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments)
            .map { $0["detail"] as String }.joined(separator: "; ")
    }

    static let day = CallsQuery(from: Fixture.ts("2026-11-24T00:00:00Z"), to: Fixture.ts("2026-11-25T00:00:00Z"))

    /// A handler's `calls.list` (limited to its own calls) is a range of `calls_by_owner`,
    /// with or without a route and `after_seq`; a supervisor's stays on `calls_by_received`.
    @Test(arguments: [
        day,
        CallsQuery(from: day.from, to: day.to, afterSeq: 1042),
        CallsQuery(from: day.from, to: day.to, route: "emergency", limit: 1000, afterSeq: 7),
    ])
    func aHandlersListIsServedByTheOwnerIndex(query: CallsQuery) throws {
        t.commit([Fixture.start(Self.callA), Fixture.start(Self.callB)])
        t.commit([Fixture.start(Self.callC)], by: Fixture.otherHandler)
        let owner = CallStore.listCallsStatement(query, ownerUID: Fixture.handler.uid)
        let everyone = CallStore.listCallsStatement(query, ownerUID: nil)
        let (ownerPlan, everyonePlan) = try t.read { db in
            (try Self.plan(db, owner.sql, owner.arguments), try Self.plan(db, everyone.sql, everyone.arguments))
        }
        #expect(ownerPlan.contains("USING INDEX calls_by_owner (owner_uid=? AND received_at>? AND received_at<?)"), "\(ownerPlan)")
        #expect(!ownerPlan.contains("SCAN"), "\(ownerPlan)")
        #expect(everyonePlan.contains("USING INDEX calls_by_received"), "\(everyonePlan)")
        // And each handler's list is what it was: the calls of the whole list it started.
        let all = try t.store.listCalls(query).calls
        for peer in [Fixture.handler, Fixture.otherHandler, Fixture.supervisor] {
            #expect(
                try t.store.listCalls(query, ownerUID: peer.uid).calls.map(\.id)
                    == all.filter { $0.ownerUID == peer.uid }.map(\.id))
        }
        if query == Self.day {
            #expect(try t.store.listCalls(query, ownerUID: Fixture.handler.uid).calls.map(\.id) == [Self.callA, Self.callB])
            #expect(try t.store.listCalls(query, ownerUID: Fixture.otherHandler.uid).calls.map(\.id) == [Self.callC])
        }
    }

    @Test func theOwnerIndexIsANamedMigration() throws {
        let applied = try t.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(applied.contains("v5-calls-by-owner"))
        #expect(applied.contains("v4-alerts-escalating"))
        #expect(applied.firstIndex(of: "v5-calls-by-owner")! > applied.firstIndex(of: "v4-alerts-escalating")!)
    }

    /// A page of notes is a range of `events_by_call` from the cursor, in index order: no
    /// scan of the call's other events, no sort.
    @Test func aPageOfNotesIsARangeOfTheCallsIndex() throws {
        let plan = try t.read { db in try Self.plan(db, CallStore.notesPageSQL, [Self.callA, 42, 1001]) }
        #expect(plan.contains("USING INDEX events_by_call (call_id=? AND seq>?)"), "\(plan)")
        #expect(!plan.contains("TEMP B-TREE"), "\(plan)")
        #expect(!plan.contains("SCAN"), "\(plan)")
    }
}
