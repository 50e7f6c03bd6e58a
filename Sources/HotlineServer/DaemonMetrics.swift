import HotlineCore
import HotlineStore
import Prometheus

/// The daemon's figures for the metrics endpoint (issue 17), in a swift-prometheus
/// registry: counters and histograms recorded as things happen, gauges set from the log
/// when the endpoint is read (``refresh(rows:connections:storageFault:settings:)``).
/// Names and meanings are in docs/METRICS.md; none carries a caller's identity, a call id
/// or anything a workstation wrote, only configured names (routes, sinks, roles, ops).
public final class DaemonMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    private let eventsWritten: Counter
    private let writesApplied: Counter
    private let syncSeconds: DurationHistogram
    private let syncFailures: Counter
    private let groupCommit: ValueHistogram
    private let storageFault: Gauge
    private let connections: Gauge
    private let oldestUnacked: Gauge

    /// Acknowledgement latency, from the request being read to its answer being ready.
    static let ackBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
    ]
    static let syncBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
    ]
    static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]

    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        eventsWritten = registry.makeCounter(
            name: "hotlined_events_written_total", help: "Call events (start, update, end) made durable and acknowledged.")
        writesApplied = registry.makeCounter(
            name: "hotlined_writes_total", help: "Writes answered after an fsync, applied or refused (invalid, conflict).")
        syncSeconds = registry.makeDurationHistogram(
            name: "hotlined_fsync_seconds", buckets: Self.syncBuckets,
            help: "How long each fsync of the log took (SQLite's WAL; on PostgreSQL, the commit's confirmation).")
        syncFailures = registry.makeCounter(
            name: "hotlined_storage_faults_total",
            help: "Fsyncs that failed: the writes they covered were answered 'storage' and the daemon restarts.")
        groupCommit = registry.makeValueHistogram(
            name: "hotlined_group_commit_events", buckets: Self.batchBuckets,
            help: "Writes made durable together by one fsync (group commit).")
        storageFault = registry.makeGauge(
            name: "hotlined_storage_fault", help: "1 while the log has a storage fault (writes are failing), else 0.")
        connections = registry.makeGauge(name: "hotlined_connections", help: "Workstation and console connections open now.")
        oldestUnacked = registry.makeGauge(
            name: "hotlined_alert_oldest_unacknowledged_seconds",
            help: "Age of the oldest unacknowledged escalation alert (0 when there is none).")
        let build = registry.makeGauge(
            name: "hotlined_build_info", labels: [("version", HotlineVersion.current)], help: "The running hotlined's version.")
        build.set(Double(1))
    }

    /// One fsync of the writer's (``EventWriter/setSyncObserver(_:)``).
    public func observe(_ sync: SyncObservation) {
        syncSeconds.record(sync.duration)
        if sync.events > 0 { groupCommit.record(Double(sync.events)) }
        if sync.durable {
            eventsWritten.increment(by: Int64(sync.written))
            writesApplied.increment(by: Int64(sync.events))
        } else {
            syncFailures.increment()
        }
    }

    /// A write answered, `seconds` after its line was read; `result` is `ok` or the error code.
    func acknowledged(op: String, result: String, after duration: Duration) {
        registry.makeDurationHistogram(
            name: "hotlined_ack_seconds", labels: [("op", op), ("result", result)], buckets: Self.ackBuckets,
            help: "Time from a write's line being read to its answer (ok only once durable), by op and result."
        ).record(duration)
    }

    /// A read answered (or refused), by op and the peer's role (`none` without one).
    func read(op: String, role: String) {
        registry.makeCounter(
            name: "hotlined_reads_total", labels: [("op", op), ("role", role)],
            help: "Read requests (call.get, calls.list, export, audit.list, verify, holds.list, stats), by op and the reader's role."
        ).increment()
    }

    /// A delivery to an alert sink, `delivered` or `failed` (it is retried).
    func delivery(sink: String, delivered: Bool) {
        registry.makeCounter(
            name: "hotlined_alert_deliveries_total", labels: [("sink", sink), ("result", delivered ? "delivered" : "failed")],
            help: "Attempts to deliver an alert to a sink, by sink and result."
        ).increment()
    }

    /// The gauges that are read from the log: `rows` holds the unacknowledged alerts and
    /// open calls, and the calls received in the current shift (or, between shifts, the local day).
    public func refresh(
        rows: LiveRows, connections open: Int, storageFault fault: Bool, at now: Timestamp,
        configuration: Configuration
    ) {
        connections.set(Double(open))
        storageFault.set(fault ? 1.0 : 0.0)
        let oldest = rows.alerts.map(\.raisedAt).min()
        oldestUnacked.set(oldest.map { max(0, now.seconds(since: $0)) } ?? 0)
        for level in 1...max(1, configuration.alerts.maxLevel) {
            registry.makeGauge(
                name: "hotlined_alerts_unacknowledged", labels: [("level", String(level))],
                help: "Escalation alerts not yet acknowledged, by level (every room's on a shared log)."
            ).set(Double(rows.unackedByLevel[level] ?? 0))
        }
        let routes = configuration.routes + [configuration.unrouted]
        for route in routes.map(\.name) {
            registry.makeGauge(
                name: "hotlined_calls_open", labels: [("route", route)], help: "Calls started and not yet ended, by route."
            ).set(Double(rows.openByRoute[route] ?? 0))
        }
        var stats: [String: AnswerStats] = [:]
        for route in routes { stats[route.name] = AnswerStats(standard: route.answerStandard) }
        for call in rows.calls {
            stats[call.route]?.add(receivedAt: call.receivedAt, answeredAt: call.answeredAt, endedAt: call.endedAt)
        }
        for route in routes {
            guard let s = stats[route.name] else { continue }
            let labels = [("route", route.name)]
            for (name, value, help) in [
                ("hotlined_shift_calls_presented", s.presented, "Calls received in the current shift, by route."),
                ("hotlined_shift_calls_answered", s.answered, "Of those, calls answered."),
                ("hotlined_shift_calls_abandoned", s.abandoned, "Of those, calls ended without being answered."),
                ("hotlined_shift_calls_waiting", s.waiting, "Of those, calls neither answered nor ended."),
            ] {
                registry.makeGauge(name: name, labels: labels, help: help).set(Double(value))
            }
            guard let standard = route.answerStandard else { continue }
            registry.makeGauge(
                name: "hotlined_answer_standard_target_ratio", labels: labels,
                help: "The route's answer standard: the share of answered calls to be answered within its time."
            ).set(standard.share)
            registry.makeGauge(
                name: "hotlined_answer_standard_seconds", labels: labels, help: "The route's answer standard: its time."
            ).set(standard.withinSeconds)
            registry.makeGauge(
                name: "hotlined_answer_standard_ratio", labels: labels,
                help: "Share of the current shift's answered calls answered within the standard's time (NaN before any is answered)."
            ).set(s.share(s.withinStandard) ?? .nan)
            registry.makeGauge(
                name: "hotlined_answer_standard_met", labels: labels,
                help: "1 when the current shift meets the route's answer standard so far, 0 when not (NaN before any call is answered)."
            ).set(s.met.map { $0 ? 1.0 : 0.0 } ?? .nan)
        }
    }

    /// The exposition text.
    public func emit() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16_384)
        registry.emit(into: &buffer)
        return buffer
    }
}
