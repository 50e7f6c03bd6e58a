import AsyncHTTPClient
import Foundation
import HotlineCore
import HotlineStore
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Re-escalates unacknowledged alerts and delivers the sink outbox (journal, command,
/// webhook), with retries and backoff. A service beside the server; a slow or broken sink
/// delays nothing but its own deliveries. Its reads and writes of the log run on a thread
/// of its own, never on the cooperative pool.
public final class AlertCenter: Service, Sendable {
    let store: any CallLog
    let hub: AlertHub
    let logger: Logger
    let configuration: @Sendable () -> Configuration
    let http: HTTPClient
    let clock: @Sendable () -> Timestamp
    /// Deliveries under way: their ids, and how many to each sink.
    private let inFlight = Mutex(InFlight())
    let tick: Duration
    /// Where the log is read and written: SQLite blocks.
    let pool = NIOThreadPool(numberOfThreads: 1)
    /// Deliveries counted by sink and result, when the metrics endpoint is configured.
    let metrics: DaemonMetrics?

    public init(
        store: any CallLog, hub: AlertHub, logger: Logger, tick: Duration = .milliseconds(100),
        configuration: @escaping @Sendable () -> Configuration,
        clock: @escaping @Sendable () -> Timestamp = SystemClock.now, metrics: DaemonMetrics? = nil
    ) {
        self.metrics = metrics
        self.store = store
        self.hub = hub
        self.logger = logger
        self.tick = tick
        self.configuration = configuration
        self.clock = clock
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
    }

    /// Escalates and delivers until the group shuts down (or the task is cancelled); then
    /// waits for the deliveries under way.
    public func run() async {
        pool.start()
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                // Alerts raised or escalated through another daemon on the log (another
                // room's, on PostgreSQL) reach this one's consoles too; the hub skips those
                // it pushed already.
                let (store, hub) = (self.store, self.hub)
                group.addTask { await store.followAlerts { hub.publishFromLog([$0]) } }
                await self.escalateAndDeliver()
                group.cancelAll()
            }
        }
        // The lead goes to another daemon at once, not when its lease runs out.
        let store = self.store
        _ = try? await offPool(pool) { store.resignSharedWork() }
        try? await http.shutdown()
        try? await pool.shutdownGracefully()
    }

    /// How long a delivery is claimed from the other daemons on the log: longer than any
    /// sink may take, so that only a daemon lost mid-delivery has its deliveries done again.
    func claimSeconds(_ config: Configuration) -> Double {
        max(60, 2 * (config.alerts.sinks.map(\.timeoutSeconds).max() ?? 0))
    }

    private func escalateAndDeliver() async {
        // A discarding group: a plain task group keeps every finished child until its result
        // is read, and this one lives as long as the daemon (the soak found ~2.8 KiB held
        // for every alert delivered).
        await withDiscardingTaskGroup { deliveries in
            while !Task.isCancelled {
                let config = configuration()
                let now = clock()
                do {
                    let (store, hub) = (self.store, self.hub)
                    // Done once across the daemons on the log: by the one that leads.
                    guard try await offPool(pool, { store.mayDoSharedWork() }) else {
                        try await Task.sleep(for: tick)
                        continue
                    }
                    let raised = try await offPool(pool) {
                        try hub.publishEscalations {
                            try store.escalateDue(now: now, settings: config.alerts) { config.ackSeconds(route: $0) }
                        }
                    }
                    if !raised.isEmpty {
                        for alert in raised {
                            logger.warning(
                                "alert \(alert.id) not acknowledged: raised to level \(alert.level)",
                                metadata: MessageID.callEscalated.loggerMetadata([
                                    "call_id": "\(alert.callID)", "alert_id": "\(alert.id)", "level": "\(alert.level)",
                                    "route": "\(alert.route)",
                                ]))
                        }
                    }
                    // At most max_deliveries_per_sink to one sink at once; the rest stay due
                    // in the outbox, unclaimed, for a later tick. Sinks at their cap are left
                    // out of the query, so they cannot crowd the others out of its page.
                    let cap = config.limits.maxDeliveriesPerSink
                    let busy = inFlight.withLock { $0 }
                    let claimFor = claimSeconds(config)
                    let due = try await offPool(pool) {
                        try store.claimDeliveries(
                            now: now, limit: 100, excludingSinks: busy.sinks(atCap: cap), excludingIDs: busy.ids, for: claimFor)
                    }
                    var notStarted: [Int64] = []
                    for delivery in due {
                        if claim(delivery, cap: cap) {
                            deliveries.addTask { await self.deliver(delivery, config: config) }
                        } else {
                            notStarted.append(delivery.id)
                        }
                    }
                    if !notStarted.isEmpty {
                        // Over the sink's cap this tick: due again now, for this daemon or another.
                        try await offPool(pool) { [notStarted] in try store.unclaimDeliveries(notStarted, dueAt: now) }
                    }
                } catch {
                    logger.error("alert escalation or delivery failed: \(error)")
                }
                do { try await Task.sleep(for: tick) } catch { break }
            }
            // Leaving the group waits for the deliveries under way.
        }
    }

    struct InFlight {
        var ids: Set<Int64> = []
        var perSink: [String: Int] = [:]

        func sinks(atCap cap: Int) -> [String] { perSink.filter { $0.value >= cap }.map(\.key) }
    }

    private func claim(_ delivery: AlertDelivery, cap: Int) -> Bool {
        inFlight.withLock { state in
            guard !state.ids.contains(delivery.id), state.perSink[delivery.sink, default: 0] < cap else { return false }
            state.ids.insert(delivery.id)
            state.perSink[delivery.sink, default: 0] += 1
            return true
        }
    }

    private func release(_ delivery: AlertDelivery) {
        inFlight.withLock { state in
            state.ids.remove(delivery.id)
            let left = state.perSink[delivery.sink, default: 1] - 1
            state.perSink[delivery.sink] = left > 0 ? left : nil
        }
    }

    private func deliver(_ delivery: AlertDelivery, config: Configuration) async {
        defer { release(delivery) }
        guard let sink = config.alerts.sinks.first(where: { $0.name == delivery.sink }) else {
            // The sink was removed from the configuration: nothing left to deliver to.
            _ = try? await record { store, now in try store.markDelivered(delivery.id, at: now) }
            logger.notice("dropping a delivery to sink \(delivery.sink), which is no longer configured")
            return
        }
        let body: JSONValue = [
            "delivery_id": .string("\(delivery.alertID)/\(delivery.level)/\(delivery.sink)"),
            "sink": .string(sink.name), "alert": delivery.payload,
        ]
        var sent = false
        do {
            switch sink.kind {
            case .journal: deliverToJournal(delivery)
            case .command: try await AlertCommand.run(sink: sink, input: JSONWriter.bytes(body) + [0x0A])
            case .webhook: try await post(body, to: sink)
            }
            sent = true
            metrics?.delivery(sink: sink.name, delivered: true)
            try await record { store, now in try store.markDelivered(delivery.id, at: now) }
        } catch {
            if !sent { metrics?.delivery(sink: sink.name, delivered: false) }
            let wait = min(300.0, pow(2.0, Double(delivery.attempts)))
            logger.warning(
                "delivering alert \(delivery.alertID) level \(delivery.level) to \(sink.name) failed (attempt \(delivery.attempts + 1)); retrying in \(Int(wait)) s: \(error)"
            )
            let reason = "\(error)"
            _ = try? await record { store, now in try store.markFailed(delivery.id, error: reason, retryAt: now.adding(seconds: wait)) }
        }
    }

    /// Records a delivery's outcome in the log, off the cooperative pool.
    private func record(_ body: @escaping @Sendable (any CallLog, Timestamp) throws -> Void) async throws {
        let (store, now) = (self.store, clock())
        try await offPool(pool) { try body(store, now) }
    }

    private func deliverToJournal(_ delivery: AlertDelivery) {
        let a = delivery.payload
        // An alert queued before issue 18 has no channel: it was a voice call's.
        let channel = a["channel"]?.stringValue ?? CallChannel.voice.rawValue
        let by = channel == CallChannel.voice.rawValue ? "" : " by \(channel)"
        logger.critical(
            "ALERT level \(delivery.level): \(a["reason"]?.stringValue ?? "") on \(a["route"]?.stringValue ?? "")\(by) call \(a["call_id"]?.stringValue ?? "")",
            metadata: MessageID.alertRaised.loggerMetadata([
                "alert_id": "\(delivery.alertID)", "call_id": "\(a["call_id"]?.stringValue ?? "")",
                "route": "\(a["route"]?.stringValue ?? "")", "grade": "\(a["grade"]?.stringValue ?? "")",
                "reason": "\(a["reason"]?.stringValue ?? "")", "level": "\(delivery.level)", "channel": "\(channel)",
            ]))
    }

    struct WebhookRefused: Error, CustomStringConvertible {
        var status: UInt
        var description: String { "the webhook answered HTTP \(status)" }
    }

    private func post(_ body: JSONValue, to sink: AlertSink) async throws {
        var request = HTTPClientRequest(url: sink.url ?? "")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "hotlined/\(HotlineVersion.current)")
        request.body = .bytes(ByteBuffer(bytes: JSONWriter.bytes(body)))
        let response = try await http.execute(request, timeout: .milliseconds(Int64(sink.timeoutSeconds * 1000)))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else { throw WebhookRefused(status: response.status.code) }
    }
}
