import Foundation
import GRDB
import HotlineCore
import HotlineStore
import Testing

/// A subscriber's backlog as the store counts it and reads it back a page at a time, and
/// the sink outbox as the alert centre takes from it.
@Suite struct AlertBacklogTests {
    let t: TemporaryStore
    init() throws { t = try TemporaryStore() }

    /// Raises `count` emergency-line alerts, `perBatch` to a transaction (one raise time each).
    @discardableResult
    func raise(_ count: Int, perBatch: Int = 1, from start: Timestamp = Fixture.now, alerting: AlertSettings = AlertSettings())
        -> [Alert]
    {
        var alerts: [Alert] = []
        var now = start
        while alerts.count < count {
            let events = (0..<min(perBatch, count - alerts.count)).map { _ in Fixture.start(UUIDText.random(), dialled: "999") }
            let outcome = t.store.commit(
                events.map { Fixture.submission($0) }, policy: t.policy, alerting: alerting, now: now)
            alerts += outcome.alerts
            now = now.adding(seconds: 1)
        }
        return alerts
    }

    /// Every page of `backlog`, `size` at a time, as a subscriber reads them.
    func pages(_ backlog: AlertBacklog, size: Int) throws -> [[Alert]] {
        var pages: [[Alert]] = []
        var last: Alert? = nil
        var read = 0
        while read < backlog.count {
            let page = try t.store.alertBacklogPage(backlog, after: last, limit: min(size, backlog.count - read))
            if page.isEmpty { break }
            pages.append(page)
            read += page.count
            last = page.last
        }
        return pages
    }

    @Test func pagesGoOldestFirstWithoutRepeatOrGap() throws {
        // Batches of three share a raise time: within one, the order is seq's.
        raise(11, perBatch: 3)
        let everything = try t.store.unacknowledgedAlerts()
        #expect(everything.count == 11)
        let backlog = try t.store.alertBacklog()
        #expect(backlog.count == 11)
        for size in [1, 2, 3, 4, 11, 50] {
            let got = try pages(backlog, size: size)
            #expect(got.allSatisfy { $0.count <= size })
            #expect(got.flatMap { $0 }.map(\.id) == everything.map(\.id), "pages of \(size)")
        }
        #expect(try t.store.alertBacklogPage(backlog, after: everything.last, limit: 5).isEmpty)
    }

    @Test func alertsRaisedAfterTheCountAreNotInIt() throws {
        let before = raise(4)
        let backlog = try t.store.alertBacklog()
        let first = try t.store.alertBacklogPage(backlog, after: nil, limit: 2)
        // Raised later, even with an earlier raise time (a clock stepped back): live, not backlog.
        raise(3, from: Fixture.now.adding(seconds: -3600))
        raise(3, from: Fixture.now.adding(seconds: 3600))
        let rest = try t.store.alertBacklogPage(backlog, after: first.last, limit: 10)
        #expect((first + rest).map(\.id) == before.map(\.id))
        #expect(try t.store.alertBacklog().count == 10)
    }

    @Test func alertsAcknowledgedAfterTheCountStayInItAcknowledged() throws {
        let alerts = raise(6)
        // Acknowledged before the count: not in it.
        _ = try t.store.acknowledgeAlert(id: alerts[1].id, by: Fixture.supervisor, at: Fixture.now.adding(seconds: 60))
        let backlog = try t.store.alertBacklog()
        #expect(backlog.count == 5)
        let first = try t.store.alertBacklogPage(backlog, after: nil, limit: 2)
        #expect(first.map(\.id) == [alerts[0].id, alerts[2].id])
        // Acknowledged after it, one not yet read and one read: the one not yet read still
        // comes (it was owed when counted), with its acknowledgement; nothing comes twice.
        // The clock here is behind the first acknowledgement, as after a step back.
        let acked = try #require(
            try t.store.acknowledgeAlert(id: alerts[4].id, by: Fixture.supervisor, at: Fixture.now.adding(seconds: 30)))
        _ = try t.store.acknowledgeAlert(id: alerts[2].id, by: Fixture.supervisor, at: Fixture.now.adding(seconds: 31))
        let rest = try t.store.alertBacklogPage(backlog, after: first.last, limit: 10)
        #expect(rest.map(\.id) == [alerts[3].id, alerts[4].id, alerts[5].id])
        #expect(rest.first { $0.id == alerts[4].id }?.ackedAt == acked.ackedAt)
        // The same two at a time.
        let second = try t.store.alertBacklogPage(backlog, after: first.last, limit: 2)
        let third = try t.store.alertBacklogPage(backlog, after: second.last, limit: 2)
        #expect((second + third).map(\.id) == rest.map(\.id))
        // A new count leaves all three acknowledged ones out.
        #expect(try t.store.alertBacklog().count == 3)
    }

    @Test func acknowledgementTimesOnlyGoForward() throws {
        let alerts = raise(3)
        let later = Fixture.now.adding(seconds: 100)
        let a = try t.store.acknowledgeAlert(id: alerts[0].id, by: Fixture.supervisor, at: later)
        let b = try t.store.acknowledgeAlert(id: alerts[1].id, by: Fixture.supervisor, at: Fixture.now.adding(seconds: 50))
        let c = try t.store.acknowledgeAlert(id: alerts[2].id, by: Fixture.supervisor, at: later)
        #expect(a?.ackedAt == later)
        #expect(b?.ackedAt == Timestamp(microseconds: later.microseconds + 1))
        #expect(c?.ackedAt == Timestamp(microseconds: later.microseconds + 2))
        // After a restart the last one is read back from the file.
        try t.reopen()
        let more = raise(1)
        let d = try t.store.acknowledgeAlert(id: more[0].id, by: Fixture.supervisor, at: Fixture.now)
        #expect(d?.ackedAt == Timestamp(microseconds: later.microseconds + 3))
    }

    @Test func aPageStartsInTheIndexOfUnacknowledgedAlerts() throws {
        raise(3)
        let plan = try t.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    EXPLAIN QUERY PLAN SELECT * FROM alerts WHERE acked_at IS NULL AND seq <= 9
                    AND raised_at >= 5 AND (raised_at, seq, alert_id) > (5, 1, 'x')
                    ORDER BY raised_at, seq, alert_id LIMIT 10
                    """
            ).map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("alerts_unacked") && $0.contains("raised_at>") }, "\(plan)")
    }

    // MARK: - The sink outbox

    @Test func dueDeliveriesLeaveOutBusySinksAndDeliveriesUnderWay() throws {
        let sinks = AlertSettings(sinks: [
            AlertSink(name: "pager", kind: .command, levels: [1], argv: ["/bin/true"]),
            AlertSink(name: "board", kind: .journal, levels: [1]),
        ])
        raise(3, alerting: sinks)
        let later = Fixture.now.adding(seconds: 10)
        let all = try t.store.dueDeliveries(now: later)
        #expect(all.count == 6)
        let pager = all.filter { $0.sink == "pager" }
        #expect(try t.store.dueDeliveries(now: later, excludingSinks: ["pager"]).map(\.sink) == ["board", "board", "board"])
        let rest = try t.store.dueDeliveries(now: later, excludingIDs: [pager[0].id, pager[1].id])
        #expect(rest.count == 4)
        #expect(!rest.contains { $0.id == pager[0].id || $0.id == pager[1].id })
        #expect(try t.store.dueDeliveries(now: later, limit: 2, excludingSinks: ["pager", "board"]).isEmpty)
    }
}
