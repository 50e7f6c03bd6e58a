import Foundation
import GRDB
import Logging

/// Copies the WAL back into the database from a connection of its own, so that the writer
/// never pays for a checkpoint inside a commit that workstations are waiting on.
final class Checkpointer: @unchecked Sendable {
    private let queue: DatabaseQueue
    private let logger: Logger
    private let syncFailure: SyncFailure
    private let stopped = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    /// WAL pages beyond which the WAL is copied back in full and truncated (see `run`).
    let truncateAbove: Int
    /// When the WAL last could not be truncated and the journal was told.
    private var lastWarning: ContinuousClock.Instant?

    init(path: String, logger: Logger, syncFailure: SyncFailure, truncateAbove: Int = 16_384) throws {
        self.truncateAbove = truncateAbove
        var config = GRDB.Configuration()
        config.busyMode = .timeout(1)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        queue = try DatabaseQueue(path: path, configuration: config)
        self.logger = logger
        self.syncFailure = syncFailure
        let thread = Thread { [self] in self.run() }
        thread.name = "hotlined-checkpoint"
        thread.start()
    }

    private func run() {
        while stopped.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
            // After a failed fsync the WAL may lack frames the page cache still holds:
            // copying them into the database would mix what is on disk with what is not.
            if syncFailure.reason != nil { continue }
            do {
                let frames = try queue.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                // While writes never pause, passive checkpoints never let the WAL start over
                // and it grows for ever (a write flood from 64 connections: 3.4 GiB in 20 s).
                // Past `truncateAbove` pages, take the write lock briefly to copy the rest and
                // truncate: writers wait at most the 50 ms busy timeout, and a long read that
                // holds the WAL makes the attempt give up and try again next round.
                if frames.walFrameCount > truncateAbove {
                    // A failed fsync here is thrown on, to the rule below, like the passive one's.
                    let truncated = try queue.writeWithoutTransaction { db -> Bool in
                        try db.execute(sql: "PRAGMA busy_timeout = 50")
                        defer { try? db.execute(sql: "PRAGMA busy_timeout = 1000") }
                        do {
                            _ = try db.checkpoint(.truncate)
                            return true
                        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
                            return false
                        }
                    }
                    if !truncated, lastWarning.map({ ContinuousClock.now - $0 > .seconds(10) }) ?? true {
                        lastWarning = .now
                        logger.warning(
                            "the WAL holds \(frames.walFrameCount) pages and could not be truncated; a long read may be holding it")
                    }
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
}
