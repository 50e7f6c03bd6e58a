import Foundation
import GRDB
import Logging

/// Copies the WAL back into the database from a connection of its own, so that the writer
/// never pays for a checkpoint inside a commit that workstations are waiting on.
final class Checkpointer: @unchecked Sendable {
    private let queue: DatabaseQueue
    private let logger: Logger
    private let stopped = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    /// WAL frames (pages) beyond which a checkpoint is run.
    static let threshold = 1000

    init(path: String, logger: Logger) throws {
        var config = GRDB.Configuration()
        config.busyMode = .timeout(1)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        queue = try DatabaseQueue(path: path, configuration: config)
        self.logger = logger
        let thread = Thread { [self] in self.run() }
        thread.name = "hotlined-checkpoint"
        thread.start()
    }

    private func run() {
        while stopped.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
            do {
                let frames = try queue.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                // A WAL that keeps growing means readers hold it; a restart follows the next
                // complete checkpoint on its own.
                if frames.walFrameCount > Self.threshold * 20 {
                    logger.warning("the WAL holds \(frames.walFrameCount) pages; a long read may be holding it back")
                }
            } catch {
                logger.debug("checkpoint deferred: \(error)")
            }
        }
        finished.signal()
    }

    func stop() {
        stopped.signal()
        finished.wait()
    }
}
