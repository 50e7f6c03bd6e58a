import Foundation
import HotlineCore
import HotlineStore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import UnixSignals

// The daemon's parts, each a swift-service-lifecycle `Service`. ``HotlineService`` lists
// them in the order the ServiceGroup starts them; a graceful shutdown (SIGTERM, SIGINT, or a
// failed fdatasync) stops them in the reverse order, each once the one after it has
// returned: the socket first (answering what is in flight), then the jobs, then the writer,
// and the log last.

/// Runs `body`, which blocks (SQLite, a thread's join), on `pool`'s threads, never on the
/// cooperative pool. It runs even when the calling task is cancelled (NIO's async
/// `runIfActive` would skip it): what a shutdown cancels must still be recorded, stopped
/// and closed.
func offPool<T: Sendable>(_ pool: NIOThreadPool, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await pool.runIfActive(eventLoop: MultiThreadedEventLoopGroup.singleton.any(), body).get()
}

/// The log itself: at shutdown, once everything that reads or writes it has stopped, the
/// reader pools are stopped, the last chain anchor journalled and the log closed.
struct StorageService: Service {
    let store: any CallLog
    /// Every pool reads run on, stopped before the log closes.
    let pools: [NIOThreadPool]
    let anchors: ChainAnchorJournal
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        for pool in pools { try? await pool.shutdownGracefully() }
        let store = self.store
        // The last anchor, once nothing more is written (an audited read finishing late
        // included) and all of it is on disk: an anchor past what a failed sync left would
        // read as rows deleted from the end.
        if store.syncFailure == nil, (try? await offPool(NIOThreadPool.singleton) { try store.syncLog() }) != nil {
            anchors.journal("at stop")
        }
        if let failure = store.syncFailure {
            // Closing would checkpoint: copy into the database file whatever the page cache
            // now holds of the WAL, which after a failed fdatasync may not be what is on
            // disk. Left as a crash leaves it, the next start recovers what is on disk.
            logger.critical("leaving the database unclosed for the next start to recover: \(failure)")
        } else {
            do {
                try await offPool(NIOThreadPool.singleton) { try store.close() }
            } catch {
                logger.error("closing the database failed", metadata: ["error": "\(error)"])
            }
        }
        logger.info("stopped", metadata: MessageID.stopped.loggerMetadata())
    }
}

/// The writer (started before the group, so that nothing offered to it waits for the group):
/// at shutdown it commits what is queued and stops.
struct WriterService: Service {
    let writer: EventWriter

    func run() async throws {
        try? await gracefulShutdown()
        let writer = self.writer
        // stop() joins the writer's threads: not on the cooperative pool.
        try? await offPool(NIOThreadPool.singleton) { writer.stop() }
    }
}

/// Journals where both chains end (`MESSAGE_ID` chainHead): anchors kept outside the
/// database, so that a log rewritten from some row on (hashes recomputed) is still caught
/// by `hotlinectl verify --anchors`.
struct ChainAnchorJournal: Sendable {
    let store: any CallLog
    let logger: Logger

    func journal(_ when: String, _ given: ChainHeads? = nil) {
        let heads = given ?? store.heads
        logger.notice(
            "chain heads \(when): events \(heads.events), audit \(heads.audit)",
            metadata: MessageID.chainHead.loggerMetadata([
                "events_head": "\(heads.events)", "audit_head": "\(heads.audit)",
            ]))
    }
}

/// The chain heads at start, and whenever `chain_anchors` says they are due (every so many
/// rows, or so many seconds while anything was written), once they are durable.
struct ChainAnchorService: Service {
    let anchors: ChainAnchorJournal
    let writer: EventWriter
    let configuration: @Sendable () -> Configuration

    func run() async throws {
        anchors.journal("at start")
        try? await cancelWhenGracefulShutdown { try await publish() }
    }

    private func publish() async throws {
        let store = anchors.store
        var published = store.heads
        var at = ContinuousClock.now
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(1))
            let heads = store.heads
            let rows = (heads.events.seq - published.events.seq) + (heads.audit.seq - published.audit.seq)
            let seconds = Double((ContinuousClock.now - at).components.seconds)
            guard configuration().chainAnchors.isDue(rows: rows, seconds: seconds) else { continue }
            // Only heads that are on disk: an anchor past what a power cut left would read
            // as rows deleted from the end.
            let writer = self.writer
            let durable = await withCheckedContinuation { done in writer.whenDurable { done.resume(returning: $0) } }
            guard durable else { continue }
            anchors.journal("now", heads)
            published = heads
            at = ContinuousClock.now
        }
    }
}

/// Purges what the retention rules say is due: once at start, then every `interval` (a
/// day). Each purge is audited; the journal says what went.
struct RetentionService: Service {
    let store: any CallLog
    /// Where a purge runs: not the urgent readers (urgent reads never wait behind it), not
    /// the bulk readers (lower priority, and they must never hold the write lock): with the
    /// audit writes.
    let pool: NIOThreadPool
    let interval: Duration
    let configuration: @Sendable () -> Configuration
    let clock: @Sendable () -> Timestamp
    let anchors: ChainAnchorJournal
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let rules = configuration().retention
                if !rules.isEmpty {
                    let store = self.store
                    let now = clock()
                    do {
                        let report = try await offPool(pool) {
                            try store.purge(rules: rules, now: now, uid: getuid(), pid: getpid())
                        }
                        if report.calls > 0 {
                            logger.notice(
                                "retention purged \(report.calls) ended calls (\(report.events) events)",
                                metadata: MessageID.retentionPurged.loggerMetadata([
                                    "audit_seqs": "\(report.auditSeqs.map(String.init).joined(separator: ","))"
                                ]))
                            anchors.journal("after retention")
                        }
                    } catch {
                        // Soon, not tomorrow: the fault (a full disk, a lock) is usually brief.
                        logger.error("retention could not purge; trying again in an hour: \(error)")
                        try await Task.sleep(for: min(interval, .seconds(3600)))
                        continue
                    }
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}

/// `STATUS=` every `interval`, and watchdog pings while the writer goes round its loop (a
/// hung writer stops the pings and systemd restarts the daemon: `WatchdogSec=`).
struct StatusService: Service {
    let status: StatusLine
    let notifier: any ServiceNotifier
    let writer: EventWriter
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: interval) } catch { return }
                        notifier.status(await status.text())
                    }
                }
                if let period = notifier.watchdogInterval {
                    group.addTask { await pingWatchdog(every: period / 2, tolerance: period / 2) }
                }
                await group.waitForAll()
            }
        }
    }

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
}

/// After a failed fdatasync nothing more can be acknowledged by this process
/// (``CallLog/syncLog()``): this returns, which shuts the group down gracefully (answering
/// what is in flight `storage`), and the exit status (``HotlineService/exitStatus``) has
/// systemd start a fresh process. While the file system is read-only a fresh one could not
/// open the database, so this one stays, serving what needs no write, until it is writable.
struct RestartOnSyncFailure: Service {
    let store: any CallLog
    let notifier: any ServiceNotifier
    /// Records that the process is to exit for a restart.
    let requestRestart: @Sendable () -> Void
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            // Woken by the failure itself; only while the file system is read-only is its
            // state looked at again, every second.
            guard let failure = await store.whenSyncFails() else { return }
            while !store.canWriteAfterRestart {
                try await Task.sleep(for: .seconds(1))
            }
            logger.critical(
                "shutting down so that systemd restarts hotlined: \(failure)", metadata: MessageID.storageFailure.loggerMetadata())
            notifier.status("STORAGE FAULT: \(failure); restarting")
            requestRestart()
        }
    }
}

/// Re-reads the configuration on SIGHUP. A bad one is refused: the running one stays, the
/// journal says why, and so does `STATUS=` until a good one is loaded.
struct ReloadService: Service {
    let hangups: UnixSignalsSequence
    let reload: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in hangups { await reload() }
        }
    }
}

/// The workstation socket: bound (or adopted from systemd) and announced ready when it
/// starts; at shutdown, stops accepting and answers what is in flight.
struct SocketService: Service {
    let ready: Latch<Bool>
    let server: HotlineServer
    let listen: HotlineService.Listen
    let notifier: any ServiceNotifier
    let status: StatusLine
    let logger: Logger

    func run() async throws {
        switch listen {
        case .path(let path): try await server.bind(path: path)
        case .descriptor(let fd): try await server.adopt(descriptor: fd)
        }
        logger.info(
            "hotlined \(HotlineVersion.current) ready",
            metadata: MessageID.started.loggerMetadata(["database": "\(status.store.location)"]))
        notifier.ready(status: await status.text())
        ready.set(true)
        try? await gracefulShutdown()
        notifier.stopping()
        logger.info("shutting down: no new connections; answering what is in flight")
        await server.shutdown()
    }
}

/// The one line `STATUS=` shows: connections, events, open calls and unacknowledged alerts,
/// and any fault. Counted on the urgent reader threads, not the cooperative pool.
struct StatusLine: Sendable {
    let store: any CallLog
    let dispatcher: Dispatcher

    func text(prefix: String = "") async -> String {
        let store = self.store
        let counts = try? await offPool(dispatcher.readers) { try store.counts() }
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
}

/// A service that starts only once the socket is served and systemd told `READY=1`
/// (`ready`), as every job did before the services were split: no status, watchdog
/// ping, reload, anchor, purge or escalation before it. If the group shuts down first, it
/// never starts.
struct AfterReady: Service {
    /// Set once the socket is served and systemd told `READY=1`.
    let ready: Latch<Bool>
    let service: any Service

    func run() async throws {
        let isReady = await cancelWhenGracefulShutdown { await ready.wait() }
        guard isReady != nil, !Task.isShuttingDownGracefully else { return }
        try await service.run()
    }
}
