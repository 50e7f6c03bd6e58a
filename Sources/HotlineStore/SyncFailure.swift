import GRDB
import Synchronization

/// Whether this process may still acknowledge anything. The first failed fsync, whoever
/// meets it (``CallStore/syncLog()``, a checkpoint, a WAL truncation), sets it for good:
/// Linux reports a write-back error once, to each open file, and may mark the pages it
/// could not write as clean, so a later fsync can succeed while data is missing from the
/// disk. Nothing is acknowledged and nothing is checkpointed after it; a restart recovers
/// the log from what is on disk (docs/RELIABILITY.md).
final class SyncFailure: Sendable {
    private let latch = Latch<String>()

    /// Why writes stopped, or nil while they may go on.
    var reason: String? { latch.value }

    /// Records the failure `cause` describes unless one is recorded already; returns the
    /// reason in force.
    @discardableResult
    func record(_ cause: String) -> String {
        let reason =
            "\(cause): what the kernel could not write may be lost, so nothing more is acknowledged until "
            + "hotlined restarts and recovers the log from disk"
        return latch.set(reason)
    }

    /// Waits until a failure is recorded and returns its reason; nil when the waiting task
    /// is cancelled first. Returns at once if one already is.
    func failure() async -> String? { await latch.wait() }

    /// Records `error` when it is SQLite saying that an fsync failed; returns the reason in
    /// force then, nil for any other error.
    @discardableResult
    func record(ifFsyncError error: any Error, during what: String) -> String? {
        guard let error = error as? DatabaseError,
            error.extendedResultCode == .SQLITE_IOERR_FSYNC || error.extendedResultCode == .SQLITE_IOERR_DIR_FSYNC
        else { return nil }
        return record("an fsync failed during \(what) (\(error.message ?? "\(error)"))")
    }
}
