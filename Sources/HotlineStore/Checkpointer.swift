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
    /// WAL frames (pages) beyond which a checkpoint is run.
    static let threshold = 1000

    init(path: String, logger: Logger, syncFailure: SyncFailure) throws {
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
                // A WAL that keeps growing means readers hold it; a restart follows the next
                // complete checkpoint on its own.
                if frames.walFrameCount > Self.threshold * 20 {
                    logger.warning("the WAL holds \(frames.walFrameCount) pages; a long read may be holding it back")
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
