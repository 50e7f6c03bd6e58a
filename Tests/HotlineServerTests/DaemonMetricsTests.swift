import Foundation
import HotlineCore
import HotlineStore
import Testing

@testable import HotlineServer

/// The metrics registry (issue 17) without a server: what a refresh sets, and what a
/// reload takes away.
struct DaemonMetricsTests {
    static let now = try! Timestamp(rfc3339: "2026-11-30T10:00:00Z")

    func text(_ metrics: DaemonMetrics) -> String { String(decoding: metrics.emit(), as: UTF8.self) }

    @Test func aRefreshSetsTheLogsGaugesAndARouteRemovedGoes() throws {
        let metrics = DaemonMetrics()
        var configuration = try ConfigurationLoader.load(path: ConfigurationLoaderTests.shippedPath)
        let rows = LiveRows(
            alerts: [], unackedByLevel: [1: 2, 3: 1], oldestUnacked: Self.now.adding(seconds: -90),
            openByRoute: ["emergency": 2, "gone-route": 1],
            calls: [
                LiveCall(route: "emergency", receivedAt: Self.now.adding(seconds: -60), answeredAt: Self.now.adding(seconds: -55)),
                LiveCall(route: "emergency", receivedAt: Self.now.adding(seconds: -50), answeredAt: Self.now.adding(seconds: -20)),
            ])
        metrics.refresh(rows: rows, connections: 3, storageFault: false, at: Self.now, configuration: configuration)
        var t = text(metrics)
        #expect(t.contains("hotlined_alerts_unacknowledged{level=\"1\"} 2.0"))
        #expect(t.contains("hotlined_alerts_unacknowledged{level=\"3\"} 1.0"))
        #expect(t.contains("hotlined_alert_oldest_unacknowledged_seconds 90.0"))
        #expect(t.contains("hotlined_calls_open{route=\"gone-route\"} 1.0"), "open calls on a route no longer configured still count")
        #expect(t.contains("hotlined_answer_standard_ratio{route=\"emergency\"} 0.5"))
        #expect(t.contains("hotlined_answer_standard_met{route=\"emergency\"} 0.0"))
        #expect(t.contains("hotlined_connections 3.0"))
        #expect(t.contains("hotlined_ack_seconds_count{op=\"call.start\",result=\"storage\"} 0"), "failure series exist from the start")

        // A reload takes the emergency route's standard away and lowers max_level.
        configuration.routes = configuration.routes.map {
            var r = $0; r.answerStandard = nil; return r
        }
        configuration.alerts.maxLevel = 2
        metrics.refresh(
            rows: LiveRows(unackedByLevel: [1: 1]), connections: 0, storageFault: true, at: Self.now, configuration: configuration)
        t = text(metrics)
        #expect(!t.contains("hotlined_answer_standard_met{route=\"emergency\"}"), "no stale standard left firing a rule")
        #expect(!t.contains("hotlined_alerts_unacknowledged{level=\"3\"}"))
        #expect(!t.contains("route=\"gone-route\""))
        #expect(t.contains("hotlined_alerts_unacknowledged{level=\"2\"} 0.0"))
        #expect(t.contains("hotlined_storage_fault 1.0"))
        #expect(t.contains("hotlined_alert_oldest_unacknowledged_seconds 0.0"))
    }

    @Test func fsyncsAreCountedByWhatTheyMadeDurable() {
        let metrics = DaemonMetrics()
        metrics.observe(SyncObservation(duration: .milliseconds(2), durable: true, events: 5, written: 4))
        metrics.observe(SyncObservation(duration: .milliseconds(1), durable: true))
        metrics.observe(SyncObservation(duration: .milliseconds(9), durable: false, events: 3, written: 3))
        let t = text(metrics)
        #expect(t.contains("hotlined_events_written_total 4\n"))
        #expect(t.contains("hotlined_writes_total 5\n"))
        #expect(t.contains("hotlined_storage_faults_total 1\n"))
        #expect(t.contains("hotlined_fsync_seconds_count 3\n"))
        #expect(t.contains("hotlined_group_commit_events_count 2\n"), "an fsync covering no write is not a group commit")
    }
}
