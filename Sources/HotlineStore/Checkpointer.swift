import Foundation
import GRDB
import Logging
import Synchronization

/// Copies the WAL back into the database from a connection of its own, so that the writer
/// never pays for a checkpoint inside a commit that workstations are waiting on, only, now
/// and then under writes that never pause, for the last few frames of one.
final class Checkpointer: Sendable {
    private let queue: DatabaseQueue
    private let logger: Logger
    private let syncFailure: SyncFailure
    private let stopped = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    /// WAL pages beyond which the writer is asked to start the WAL over (see `run`).
    let restartAbove: Int
    /// Set when the WAL has grown past `restartAbove`; the writer restarts it between two
    /// batches and clears it (``CallStore/restartWALIfAsked()``).
    let restartWanted = Atomic<Bool>(false)
    /// How often the WAL is copied back; and how often while it grows fast.
    static let interval = DispatchTimeInterval.milliseconds(200)
    static let busyInterval = DispatchTimeInterval.milliseconds(20)
    /// The database file, read-only, to sync what the checkpoints copied into it; closed by
    /// ``closeDatabaseDescriptor()``.
    private let database: Int32
    /// When the WAL last was found past twice its bound and the journal was told.
    private let lastWarning = Mutex<ContinuousClock.Instant?>(nil)

    init(path: String, logger: Logger, syncFailure: SyncFailure, restartAbove: Int = 16_384) throws {
        self.restartAbove = restartAbove
        var config = GRDB.Configuration()
        config.busyMode = .timeout(1)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        queue = try DatabaseQueue(path: path, configuration: config)
        database = open(path, O_RDONLY | O_CLOEXEC)
        self.logger = logger
        self.syncFailure = syncFailure
        let thread = Thread { [self] in self.run() }
        thread.name = "hotlined-checkpoint"
        thread.start()
    }

    private func run() {
        var interval = Self.interval
        while stopped.wait(timeout: .now() + interval) == .timedOut {
            // After a failed fsync the WAL may lack frames the page cache still holds:
            // copying them into the database would mix what is on disk with what is not.
            if syncFailure.reason != nil { continue }
            // The writer is about to restart the WAL: a checkpoint now would only take the
            // lock it needs.
            if restartWanted.load(ordering: .relaxed) { continue }
            do {
                let frames = try queue.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                // While writes never pause, a passive checkpoint never catches up with the
                // writer, so SQLite never starts the WAL over and it grows for ever (a write
                // flood from 64 connections: 3.4 GiB in 20 s). Past `restartAbove` pages the
                // writer is asked to finish the copy itself between two batches, where it
                // holds no lock anyone else waits for, and start the WAL over. What it then
                // does holds up every write, so this thread does the slow parts first: it
                // copies often while the WAL grows fast (what is left is a few ms of frames),
                // and syncs what it copied (the writer's sync has little left to write).
                interval = frames.walFrameCount > restartAbove / 8 ? Self.busyInterval : Self.interval
                if frames.walFrameCount > restartAbove {
                    if database >= 0, fdatasync(database) != 0 {
                        let reason = syncFailure.record(
                            "an fsync failed during a checkpoint (fdatasync of the database: \(String(cString: strerror(errno))))")
                        logger.critical("a checkpoint's fsync failed; no more checkpoints: \(reason)")
                        continue
                    }
                    restartWanted.store(true, ordering: .relaxed)
                }
                if frames.walFrameCount / 2 > restartAbove,
                    lastWarning.withLock({ last in
                        guard last.map({ ContinuousClock.now - $0 > .seconds(10) }) ?? true else { return false }
                        last = .now
                        return true
                    })
                {
                    logger.warning(
                        "the WAL holds \(frames.walFrameCount) pages, past twice its bound of \(restartAbove); a long read may be holding it"
                    )
                }
            } catch {
                if syncFailure.record(ifFsyncError: error, during: "a checkpoint") != nil {
                    logger.critical("a checkpoint's fsync failed; no more checkpoints: \(error)")
                } else {
                    logger.debug("checkpoint deferred: \(error)")
                }
            }
        }
        finished.signal()
    }

    func stop() {
        stopped.signal()
        finished.wait()
    }

    /// Closes the descriptor of the database file. Only once SQLite's own connections are
    /// closed: closing any descriptor of a file drops every POSIX lock this process holds
    /// on it, SQLite's included.
    func closeDatabaseDescriptor() {
        if database >= 0 { close(database) }
    }
}
