import Foundation
import HotlineCore
import HotlineStore
import Prometheus
import Synchronization

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

    /// A metric's whole name (units included, as Prometheus spells them) and its help.
    static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        eventsWritten = registry.makeCounter(
            descriptor: Self.named("hotlined_events_written_total", "Call events (start, update, end) made durable and acknowledged."))
        writesApplied = registry.makeCounter(
            descriptor: Self.named("hotlined_writes_total", "Writes answered after an fsync, applied or refused (invalid, conflict)."))
        syncSeconds = registry.makeDurationHistogram(
            descriptor: Self.named(
                "hotlined_fsync_seconds", "How long each fsync of the log took (SQLite's WAL; on PostgreSQL, the commit's confirmation)."),
            buckets: Self.syncBuckets)
        syncFailures = registry.makeCounter(
            descriptor: Self.named(
                "hotlined_storage_faults_total",
                "Fsyncs that failed: the writes they covered were answered 'storage' and the daemon restarts."))
        groupCommit = registry.makeValueHistogram(
            descriptor: Self.named("hotlined_group_commit_events", "Writes made durable together by one fsync (group commit)."),
            buckets: Self.batchBuckets)
        storageFault = registry.makeGauge(
            descriptor: Self.named("hotlined_storage_fault", "1 while the log has a storage fault (writes are failing), else 0."))
        connections = registry.makeGauge(descriptor: Self.named("hotlined_connections", "Workstation and console connections open now."))
        oldestUnacked = registry.makeGauge(
            descriptor: Self.named(
                "hotlined_alert_oldest_unacknowledged_seconds", "Age of the oldest unacknowledged escalation alert (0 when there is none).")
        )
        // Every write op's ok and failure series from the start, at zero: a rule on the
        // increase of failures sees the first one (a series born at 1 shows no increase).
        for op in ["call.start", "call.update", "call.end"] {
            for result in ["ok", "storage", "unavailable"] { acknowledged(op: op, result: result, after: nil) }
        }
        registry.makeGauge(
            descriptor: Self.named("hotlined_start_time_seconds", "When this hotlined process started, in seconds since 1970.")
        ).set(Date().timeIntervalSince1970)
        let build = registry.makeGauge(
            descriptor: Self.named("hotlined_build_info", "The running hotlined's version."), labels: [("version", HotlineVersion.current)])
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
    func acknowledged(op: String, result: String, after duration: Duration?) {
        let histogram = registry.makeDurationHistogram(
            descriptor: Self.named(
                "hotlined_ack_seconds", "Time from a write's line being read to its answer (ok only once durable), by op and result."),
            labels: [("op", op), ("result", result)], buckets: Self.ackBuckets)
        if let duration { histogram.record(duration) }
    }

    /// A read answered (or refused), by op and the peer's role (`none` without one).
    func read(op: String, role: String) {
        registry.makeCounter(
            descriptor: Self.named(
                "hotlined_reads_total",
                "Read requests (call.get, calls.list, export, audit.list, verify, holds.list, stats), by op and the reader's role."),
            labels: [("op", op), ("role", role)]
        ).increment()
    }

    /// A delivery to an alert sink, `delivered` or `failed` (it is retried).
    func delivery(sink: String, delivered: Bool) {
        registry.makeCounter(
            descriptor: Self.named("hotlined_alert_deliveries_total", "Attempts to deliver an alert to a sink, by sink and result."),
            labels: [("sink", sink), ("result", delivered ? "delivered" : "failed")]
        ).increment()
    }

    /// The gauges read from the log, as last set: those not set again by the next refresh
    /// (a route or level a reload removed) are taken out of the registry, not left stale.
    private let logGauges = Mutex<[String: Gauge]>([:])

    /// The gauges that are read from the log: `rows` holds the unacknowledged alerts and
    /// open calls, and the calls received in the current shift (or, between shifts, the local day).
    public func refresh(
        rows: LiveRows, connections open: Int, storageFault fault: Bool, at now: Timestamp,
        configuration: Configuration
    ) {
        connections.set(Double(open))
        storageFault.set(fault ? 1.0 : 0.0)
        oldestUnacked.set(Double(rows.oldestUnacked.map { max(0, now.seconds(since: $0)) } ?? 0))
        var set: [String: Gauge] = [:]
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
            let g = registry.makeGauge(descriptor: Self.named(name, help), labels: labels)
            g.set(value)
            set[name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"] = g
        }
        let levels = Set(1...max(1, configuration.alerts.maxLevel)).union(rows.unackedByLevel.keys)
        for level in levels.sorted() {
            gauge(
                "hotlined_alerts_unacknowledged", "Escalation alerts not yet acknowledged, by level (every room's on a shared log).",
                [("level", String(level))], Double(rows.unackedByLevel[level] ?? 0))
        }
        let configured = configuration.routes + [configuration.unrouted]
        let stats = AnswerStats.byRoute(rows.calls, routes: configured)
        // Every route the log names, configured or not (a route a reload removed still has
        // its open calls).
        let names = Set(configured.map(\.name)).union(rows.openByRoute.keys).union(stats.keys)
        for route in names.sorted() {
            gauge(
                "hotlined_calls_open", "Calls started and not yet ended, by route.", [("route", route)],
                Double(rows.openByRoute[route] ?? 0))
        }
        for (route, s) in stats.sorted(by: { $0.key < $1.key }) {
            let labels = [("route", route)]
            gauge("hotlined_shift_calls_presented", "Calls received in the current shift, by route.", labels, Double(s.presented))
            gauge("hotlined_shift_calls_answered", "Of those, calls answered.", labels, Double(s.answered))
            gauge("hotlined_shift_calls_abandoned", "Of those, calls ended without being answered.", labels, Double(s.abandoned))
            gauge("hotlined_shift_calls_waiting", "Of those, calls neither answered nor ended.", labels, Double(s.waiting))
            guard let standard = s.standard else { continue }
            gauge(
                "hotlined_answer_standard_target_ratio",
                "The route's answer standard: the share of answered calls to be answered within its time.", labels, standard.share)
            gauge("hotlined_answer_standard_seconds", "The route's answer standard: its time.", labels, standard.withinSeconds)
            gauge(
                "hotlined_answer_standard_ratio",
                "Share of the current shift's answered calls answered within the standard's time (NaN before any is answered).",
                labels, s.share(s.withinStandard) ?? .nan)
            gauge(
                "hotlined_answer_standard_met",
                "1 when the current shift meets the route's answer standard so far, 0 when not (NaN before any call is answered).",
                labels, s.met.map { $0 ? 1.0 : 0.0 } ?? .nan)
        }
        let gone = logGauges.withLock { last -> [Gauge] in
            defer { last = set }
            return last.filter { set[$0.key] == nil }.map(\.value)
        }
        for g in gone { registry.unregisterGauge(g) }
    }

    /// The exposition text.
    public func emit() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16_384)
        registry.emit(into: &buffer)
        return buffer
    }
}
