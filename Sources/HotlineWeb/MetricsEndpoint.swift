import HotlineCore
import HotlineServer
import HotlineStore
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// `GET /metrics`: the daemon's figures in the Prometheus text exposition format, from
/// swift-prometheus's registry (``DaemonMetrics``). The gauges read from the log are read
/// at most once a second, however often the endpoint is asked.
public enum MetricsEndpoint {
    public static func service(listen: ListenAddress, metrics: DaemonMetrics, source: LiveSource, logger: Logger) -> any Service {
        let refresher = Refresher(metrics: metrics, source: source, logger: logger)
        let router = Router<BasicRequestContext>()
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: await refresher.exposition())))
        }
        router.get("/") { _, _ -> Response in
            HTTPEndpoint.plain(.ok, "hotlined metrics: GET /metrics\n")
        }
        return HTTPEndpoint.service(name: "metrics endpoint", listen: listen, router: router, logger: logger)
    }

    final class Refresher: Sendable {
        let metrics: DaemonMetrics
        let source: LiveSource
        let logger: Logger
        /// The exposition as last made, and when; one refresh at a time.
        private let last = Mutex<(at: ContinuousClock.Instant, text: [UInt8])?>(nil)
        private let turn = TurnLock()

        init(metrics: DaemonMetrics, source: LiveSource, logger: Logger) {
            self.metrics = metrics
            self.source = source
            self.logger = logger
        }

        /// The exposition text, made afresh (the log read again) at most once a second.
        func exposition() async -> [UInt8] {
            var text: [UInt8] = []
            await turn.run {
                if let made = last.withLock({ $0 }), ContinuousClock.now - made.at < .seconds(1) {
                    text = made.text
                    return
                }
                let configuration = source.configuration()
                let now = source.clock()
                let calendar = LiveSource.calendar(configuration)
                let window = calendar.shift(containing: now) ?? calendar.day(containing: now)
                do {
                    let rows = try await source.rows(window)
                    metrics.refresh(
                        rows: rows, connections: source.connections(), storageFault: source.store.storageFault != nil, at: now,
                        configuration: configuration)
                } catch {
                    // The counters are still worth serving; the storage fault gauge says why
                    // the log's are stale.
                    metrics.refresh(
                        rows: LiveRows(), connections: source.connections(), storageFault: true, at: now, configuration: configuration)
                    logger.warning("the metrics endpoint could not read the log: \(error)")
                }
                text = metrics.emit()
                last.withLock { [text] in $0 = (.now, text) }
            }
            return text
        }
    }
}

/// One holder at a time, in async code, without blocking a thread.
final class TurnLock: Sendable {
    private let state = Mutex<(busy: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func run(_ body: () async -> Void) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.busy {
                    s.waiting.append(c)
                    return false
                }
                s.busy = true
                return true
            }
            if now { c.resume() }
        }
        await body()
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiting.isEmpty {
                s.busy = false
                return nil
            }
            return s.waiting.removeFirst()
        }
        next?.resume()
    }
}
