import Foundation
import HotlineCore
import HotlineStore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The daemon: its parts as swift-service-lifecycle services (Services.swift), in the order
/// the ServiceGroup starts them and, reversed, stops them on a graceful shutdown (SIGTERM,
/// SIGINT, or a failed fdatasync): the socket stops accepting and answers what is in flight,
/// the jobs stop, the writer commits what is queued, and the log closes last. Meanwhile the
/// service manager is kept told: ready, live status, watchdog pings from the writer's
/// heartbeat, and reloads on SIGHUP.
public final class HotlineService: Sendable {
    public enum Listen: Sendable {
        case path(String)
        case descriptor(CInt)
    }

    let server: HotlineServer
    let dispatcher: Dispatcher
    let writer: EventWriter
    let store: any CallLog
    let readers: NIOThreadPool
    let listen: Listen
    let logger: Logger
    let notifier: any ServiceNotifier
    let loadConfiguration: @Sendable () throws -> Configuration
    let statusInterval: Duration
    let alertCenter: AlertCenter?
    let retentionInterval: Duration
    let restartRequested = Mutex(false)
    /// The metrics endpoint and the wallboard, when configured (HotlineWeb), and the pool
    /// they read the log on.
    let endpoints: [any Service]
    let endpointPool: NIOThreadPool?

    public init(
        server: HotlineServer, dispatcher: Dispatcher, writer: EventWriter, store: any CallLog, readers: NIOThreadPool,
        listen: Listen, logger: Logger, notifier: any ServiceNotifier = SilentNotifier(),
        statusInterval: Duration = .seconds(5), alertCenter: AlertCenter? = nil,
        retentionInterval: Duration = .seconds(86_400), endpoints: [any Service] = [], endpointPool: NIOThreadPool? = nil,
        loadConfiguration: @escaping @Sendable () throws -> Configuration
    ) {
        self.endpoints = endpoints
        self.endpointPool = endpointPool
        self.alertCenter = alertCenter
        self.retentionInterval = retentionInterval
        self.server = server
        self.dispatcher = dispatcher
        self.writer = writer
        self.store = store
        self.readers = readers
        self.listen = listen
        self.logger = logger
        self.notifier = notifier
        self.statusInterval = statusInterval
        self.loadConfiguration = loadConfiguration
    }

    var status: StatusLine { StatusLine(store: store, dispatcher: dispatcher) }

    /// The services, in the order they start; `hangups` is SIGHUP, trapped before any of
    /// them starts (its default action would end the daemon).
    public func services(hangups: UnixSignalsSequence) -> [any Service] {
        let anchors = ChainAnchorJournal(store: store, logger: logger)
        let ready = Latch<Bool>()
        let dispatcher = self.dispatcher
        let configuration: @Sendable () -> Configuration = { dispatcher.configuration }
        // Each pool once, however many roles it plays.
        var pools: [NIOThreadPool] = []
        for pool in [readers, dispatcher.bulkReaders, dispatcher.bulkEncoders, dispatcher.auditWriters] + [endpointPool].compactMap(\.self)
        where !pools.contains(where: { $0 === pool }) {
            pools.append(pool)
        }
        // Started in this order (all at once: ServiceGroup does not wait for one to be ready
        // before the next), stopped in the reverse, each once the one after it has returned.
        // The jobs after the socket wait for READY=1 (AfterReady), so on a SIGTERM they stop
        // first, then STOPPING=1 and the socket's drain, then the writer, then the log, as
        // the daemon always has.
        let jobs: [any Service] =
            (alertCenter.map { [$0] } ?? []) + [
                RetentionService(
                    store: store, pool: dispatcher.auditWriters, interval: retentionInterval, configuration: configuration,
                    clock: dispatcher.clock, anchors: anchors, logger: logger),
                // Journals the heads "at start" once ready, then whenever they are due.
                ChainAnchorService(anchors: anchors, writer: writer, configuration: configuration),
                RestartOnSyncFailure(
                    store: store, notifier: notifier, requestRestart: { self.restartRequested.withLock { $0 = true } }, logger: logger),
                ReloadService(hangups: hangups) { await self.reload() },
                StatusService(status: status, notifier: notifier, writer: writer, interval: statusInterval, logger: logger),
            ] + endpoints
        let services: [any Service] =
            [
                StorageService(store: store, pools: pools, anchors: anchors, logger: logger),
                WriterService(writer: writer),
                SocketService(ready: ready, server: server, listen: listen, notifier: notifier, status: status, logger: logger),
            ] + jobs.map { AfterReady(ready: ready, service: $0) }
        return services
    }

    /// What the process should exit with once the group has stopped: 74 (EX_IOERR, which the
    /// unit's `Restart=on-failure` restarts) when it stopped itself after a failed
    /// fdatasync, else 0 (a stop that was asked for).
    public var exitStatus: Int32 { restartRequested.withLock { $0 } ? 74 : 0 }

    /// Re-reads the configuration. A bad one is refused: the running one stays, the
    /// journal says why, and so does `STATUS=` until a good one is loaded.
    public func reload() async {
        notifier.reloading()
        do {
            let configuration = try loadConfiguration()
            let running = dispatcher.configuration
            dispatcher.reload(configuration)
            dispatcher.configurationProblem = nil
            logger.notice("configuration reloaded", metadata: MessageID.configurationReloaded.loggerMetadata())
            // What a reload cannot change under a running daemon, it says so.
            var needRestart: [String] = []
            if configuration.paths != running.paths { needRestart.append("paths") }
            if configuration.storage != running.storage { needRestart.append("storage") }
            if configuration.metrics != running.metrics { needRestart.append("metrics") }
            if configuration.wallboard != running.wallboard { needRestart.append("wallboard") }
            let limits = (configuration.limits, running.limits)
            if limits.0.maxBatchEvents != limits.1.maxBatchEvents { needRestart.append("limits.max_batch_events") }
            if limits.0.maxDatabaseBytes != limits.1.maxDatabaseBytes { needRestart.append("limits.max_database_bytes") }
            if limits.0.maxQueuedWrites != limits.1.maxQueuedWrites { needRestart.append("limits.max_queued_writes") }
            if limits.0.bulkReadThreads != limits.1.bulkReadThreads { needRestart.append("limits.bulk_read_threads") }
            if !needRestart.isEmpty {
                logger.warning("\(needRestart.joined(separator: ", ")) changed: that takes effect at the next restart")
            }
        } catch {
            dispatcher.configurationProblem = "new configuration rejected, running the previous one: \(error)"
            logger.error(
                "configuration rejected on reload; keeping the running one: \(error)",
                metadata: MessageID.configurationRejected.loggerMetadata())
        }
        notifier.ready(status: await status.text())
    }
}

extension MessageID {
    /// The event's `message_id` with `extra` metadata.
    public func loggerMetadata(_ extra: Logger.Metadata = [:]) -> Logger.Metadata {
        var m = extra
        m["message_id"] = .string(rawValue)
        return m
    }
}
