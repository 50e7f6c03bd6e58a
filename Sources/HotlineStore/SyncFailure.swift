import GRDB
import Synchronization

/// Whether this process may still acknowledge anything. The first failed fsync, whoever
/// meets it (``CallStore/syncLog()``, a checkpoint, a WAL truncation), sets it for good:
/// Linux reports a write-back error once, to each open file, and may mark the pages it
/// could not write as clean, so a later fsync can succeed while data is missing from the
/// disk. Nothing is acknowledged and nothing is checkpointed after it; a restart recovers
/// the log from what is on disk (docs/RELIABILITY.md).
final class SyncFailure: Sendable {
    private let state = Mutex<String?>(nil)
    /// Those waiting for a failure (``failure()``), by a key of their own.
    private let waiters = Mutex<(next: Int, waiting: [Int: CheckedContinuation<String?, Never>])>((0, [:]))

    /// Why writes stopped, or nil while they may go on.
    var reason: String? { state.withLock { $0 } }

    /// Records the failure `cause` describes unless one is recorded already; returns the
    /// reason in force.
    @discardableResult
    func record(_ cause: String) -> String {
        let reason =
            "\(cause): what the kernel could not write may be lost, so nothing more is acknowledged until "
            + "hotlined restarts and recovers the log from disk"
        let (inForce, first) = state.withLock { current -> (String, Bool) in
            let first = current == nil
            if first { current = reason }
            return (current ?? reason, first)
        }
        if first {
            let woken = waiters.withLock { w in
                defer { w.waiting = [:] }
                return Array(w.waiting.values)
            }
            for waiter in woken { waiter.resume(returning: inForce) }
        }
        return inForce
    }

    /// Waits until a failure is recorded and returns its reason; nil when the waiting task
    /// is cancelled first. Returns at once if one already is.
    func failure() async -> String? {
        let key = waiters.withLock { w -> Int in
            w.next += 1
            return w.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
                let now = state.withLock { current -> String? in
                    // Registered under the state's lock: a failure recorded after this
                    // wakes it, one recorded before is returned at once.
                    if current == nil { waiters.withLock { $0.waiting[key] = continuation } }
                    return current
                }
                if let now {
                    continuation.resume(returning: now)
                } else if Task.isCancelled, let mine = waiters.withLock({ $0.waiting.removeValue(forKey: key) }) {
                    mine.resume(returning: nil)
                }
            }
        } onCancel: {
            waiters.withLock { $0.waiting.removeValue(forKey: key) }?.resume(returning: nil)
        }
    }

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
