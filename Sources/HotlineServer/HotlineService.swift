import Foundation
import HotlineCore
import HotlineStore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The daemon as a swift-service-lifecycle ``Service``: serves until a graceful shutdown
/// (SIGTERM, SIGINT), then stops accepting, answers what is in flight, commits what is
/// queued and closes the database. Meanwhile it keeps the service manager told: ready,
/// live status, watchdog pings from the writer's heartbeat, and reloads on SIGHUP.
public final class HotlineService: Service, Sendable {
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

    public init(
        server: HotlineServer, dispatcher: Dispatcher, writer: EventWriter, store: any CallLog, readers: NIOThreadPool,
        listen: Listen, logger: Logger, notifier: any ServiceNotifier = SilentNotifier(),
        statusInterval: Duration = .seconds(5), alertCenter: AlertCenter? = nil,
        retentionInterval: Duration = .seconds(86_400),
        loadConfiguration: @escaping @Sendable () throws -> Configuration
    ) {
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

    public func run() async throws {
        // Trap SIGHUP before telling systemd we are ready: its default action would end us.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        switch listen {
        case .path(let path): try await server.bind(path: path)
        case .descriptor(let fd): try await server.adopt(descriptor: fd)
        }
        logger.info(
            "hotlined \(HotlineVersion.current) ready", metadata: MessageID.started.loggerMetadata(["database": "\(store.location)"]))
        notifier.ready(status: statusLine())
        logChainHeads("at start")

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.reportStatus() }
            if let interval = notifier.watchdogInterval {
                group.addTask { await self.pingWatchdog(every: interval / 2, tolerance: interval / 2) }
            }
            group.addTask { await self.reloadOnHangUp(hangups) }
            group.addTask { await self.applyRetention() }
            group.addTask { await self.publishChainHeads() }
            if let alertCenter {
                group.addTask { await alertCenter.run() }
            }
            group.addTask {
                try? await gracefulShutdown()
            }
            group.addTask { await self.stopOnSyncFailure() }
            // The first to finish is the shutdown signal; the others are then cancelled.
            await group.next()
            group.cancelAll()
        }

        notifier.stopping()
        logger.info("shutting down: no new connections; answering what is in flight")
        await server.shutdown()
        writer.stop()
        // Readers first, so that no read holds the database while it is closed.
        try? await readers.shutdownGracefully()
        try? await dispatcher.bulkReaders.shutdownGracefully()
        if dispatcher.bulkEncoders !== dispatcher.bulkReaders { try? await dispatcher.bulkEncoders.shutdownGracefully() }
        if dispatcher.auditWriters !== readers { try? await dispatcher.auditWriters.shutdownGracefully() }
        // The last anchor, once nothing more is written (an audited read finishing late
        // included) and all of it is on disk: an anchor past what a failed sync left would
        // read as rows deleted from the end.
        if store.syncFailure == nil, (try? store.syncLog()) != nil { logChainHeads("at stop") }
        if let failure = store.syncFailure {
            // Closing would checkpoint: copy into the database file whatever the page cache
            // now holds of the WAL, which after a failed fdatasync may not be what is on
            // disk. Left as a crash leaves it, the next start recovers what is on disk.
            logger.critical("leaving the database unclosed for the next start to recover: \(failure)")
        } else {
            do {
                try store.close()
            } catch {
                logger.error("closing the database failed", metadata: ["error": "\(error)"])
            }
        }
        logger.info("stopped", metadata: MessageID.stopped.loggerMetadata())
    }

    /// Connections, events, open calls and unacknowledged alerts, for `STATUS=`.
    func statusLine(prefix: String = "") -> String {
        let counts = try? store.counts()
        var line = "\(dispatcher.connectionCount) connections"
        if let counts {
            line += ", \(counts.events) events, \(counts.callsOpen) open calls, \(counts.alertsUnacked) unacknowledged alerts"
        } else {
            line += ", database unreadable"
        }
        if let fault = store.storageFault { line = "STORAGE FAULT: \(fault); " + line }
        if let problem = dispatcher.configurationProblem { line += "; \(problem)" }
        return prefix + line
    }

    /// After a failed fdatasync nothing more can be acknowledged by this process
    /// (``CallStore/syncLog()``): shut down, answering what is in flight `storage`, so that
    /// the exit status (``exitStatus``) has systemd start a fresh one. While the file system
    /// is read-only a fresh one could not open the database, so this one stays, serving
    /// what needs no write, until the file system is writable again.
    private func stopOnSyncFailure() async {
        while !Task.isCancelled {
            if let failure = store.syncFailure, store.canWriteAfterRestart {
                logger.critical(
                    "shutting down so that systemd restarts hotlined: \(failure)",
                    metadata: MessageID.storageFailure.loggerMetadata())
                notifier.status("STORAGE FAULT: \(failure); restarting")
                restartRequested.withLock { $0 = true }
                return
            }
            do { try await Task.sleep(for: .milliseconds(200)) } catch { return }
        }
    }

    /// What the process should exit with once ``run()`` returns: 74 (EX_IOERR, which the
    /// unit's `Restart=on-failure` restarts) when it stopped itself after a failed
    /// fdatasync, else 0 (a stop that was asked for).
    public var exitStatus: Int32 { restartRequested.withLock { $0 } ? 74 : 0 }

    private func reportStatus() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: statusInterval) } catch { return }
            notifier.status(statusLine())
        }
    }

    /// Pings only while the writer goes round its loop: a hung writer stops the pings and
    /// systemd restarts the daemon (WatchdogSec=).
    private func pingWatchdog(every period: Duration, tolerance: Duration) async {
        while !Task.isCancelled {
            let age = ContinuousClock.now - writer.lastHeartbeat
            if age < tolerance {
                notifier.watchdog()
            } else {
                logger.error("the writer has not moved for \(age); withholding the watchdog ping")
            }
            do { try await Task.sleep(for: period) } catch { return }
        }
    }

    /// Journals where both chains end: anchors kept outside the database, so that a log
    /// rewritten from some row on (hashes recomputed) is still caught by
    /// `hotlinectl verify --anchor SEQ:HASH`.
    func logChainHeads(_ when: String, _ given: ChainHeads? = nil) {
        let heads = given ?? store.heads
        logger.notice(
            "chain heads \(when): events \(heads.events), audit \(heads.audit)",
            metadata: MessageID.chainHead.loggerMetadata([
                "events_head": "\(heads.events)", "audit_head": "\(heads.audit)",
            ]))
    }

    /// Journals the chain heads whenever `chain_anchors` says they are due (every so many
    /// rows, or so many seconds while anything was written), so that an auditor holds anchors
    /// published before any rewrite of the file (`hotlinectl verify --anchors`).
    private func publishChainHeads() async {
        var published = store.heads
        var at = ContinuousClock.now
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
            let heads = store.heads
            let rows = (heads.events.seq - published.events.seq) + (heads.audit.seq - published.audit.seq)
            let seconds = Double((ContinuousClock.now - at).components.seconds)
            guard dispatcher.configuration.chainAnchors.isDue(rows: rows, seconds: seconds) else { continue }
            // Only heads that are on disk: an anchor past what a power cut left would read
            // as rows deleted from the end.
            let writer = self.writer
            let durable = await withCheckedContinuation { done in writer.whenDurable { done.resume(returning: $0) } }
            guard durable else { continue }
            logChainHeads("now", heads)
            published = heads
            at = ContinuousClock.now
        }
    }

    /// Purges what the retention rules say is due: once at start, then every
    /// `retentionInterval` (a day). Each purge is audited; the journal says what went.
    private func applyRetention() async {
        while !Task.isCancelled {
            let rules = dispatcher.configuration.retention
            if !rules.isEmpty {
                let store = self.store
                let now = dispatcher.clock()
                do {
                    // A purge can take a while: not on the urgent readers, so urgent reads never wait
                    // behind it, and not on the bulk readers, which run at a lower priority and
                    // must never hold the write lock (BulkThreads): with the audit writes.
                    let report = try await dispatcher.auditWriters.runIfActive {
                        try store.purge(rules: rules, now: now, uid: getuid(), pid: getpid())
                    }
                    if report.calls > 0 {
                        logger.notice(
                            "retention purged \(report.calls) ended calls (\(report.events) events)",
                            metadata: MessageID.retentionPurged.loggerMetadata([
                                "audit_seqs": "\(report.auditSeqs.map(String.init).joined(separator: ","))"
                            ]))
                        logChainHeads("after retention")
                    }
                } catch {
                    // Soon, not tomorrow: the fault (a full disk, a lock) is usually brief.
                    logger.error("retention could not purge; trying again in an hour: \(error)")
                    do { try await Task.sleep(for: min(retentionInterval, .seconds(3600))) } catch { return }
                    continue
                }
            }
            do { try await Task.sleep(for: retentionInterval) } catch { return }
        }
    }

    private func reloadOnHangUp(_ signals: UnixSignalsSequence) async {
        for await _ in signals {
            reload()
        }
    }

    /// Re-reads the configuration. A bad one is refused: the running one stays, the
    /// journal says why, and so does `STATUS=` until a good one is loaded.
    public func reload() {
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
        notifier.ready(status: statusLine())
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
