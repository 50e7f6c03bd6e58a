import CSpawn
import Dispatch
import Glibc
import NIOPosix
import Synchronization

/// Bulk reads (`calls.list`, `call.get`, exports, `verify`, `audit.list`) and the encoding
/// of their answers (up to a MiB or so each) give way to everything else on a machine of two
/// cores: each of their threads runs at a lower priority (nice 10), so a workstation's
/// write, the writer and the event loops get the CPU first whenever both want it, and bulk
/// reads still use all of it when nothing else does. Raising one's own nice value needs no
/// privilege (going back does). A lowered thread must never take SQLite's write lock: a
/// writer kept waiting on a thread at nice 10 would hold up every acknowledgement, so the
/// bulk reads' audit entries are written elsewhere (`Dispatcher.audited`).
public enum BulkThreads {
    public static let niceness: Int32 = 10

    /// Lowers the priority of every one of `pool`'s `threads` threads (exactly its number of
    /// threads): each is given a job that lowers its own and then waits until all have, so
    /// no thread runs two of them.
    /// Returns how many threads it lowered (fewer if the pool stopped or setpriority failed).
    @discardableResult
    public static func lowerPriority(of pool: NIOThreadPool, threads: Int) -> Int {
        let lowered = DispatchGroup()
        let release = DispatchSemaphore(value: 0)
        let count = Count()
        for _ in 0..<threads {
            lowered.enter()
            pool.submit { state in
                // A pool not running runs the job at once, here: nothing to lower, and no
                // waiting (it would wait for itself).
                guard case .active = state else {
                    lowered.leave()
                    return
                }
                if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(hotline_gettid()), niceness) == 0 {
                    count.value.add(1, ordering: .relaxed)
                }
                lowered.leave()
                release.wait()
            }
        }
        lowered.wait()
        for _ in 0..<threads { release.signal() }
        return count.value.load(ordering: .relaxed)
    }

    private final class Count: Sendable {
        let value = Atomic<Int>(0)
    }
}
