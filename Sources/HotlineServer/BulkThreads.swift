import CSpawn
import Dispatch
import Glibc
import NIOPosix
import Synchronization

/// The bulk readers (exports, `verify`, `calls.list`, `call.get` and the encoding of their
/// answers) give way to everything else on a machine of two cores: each of their threads
/// runs at a lower priority (nice 10), so a workstation's write, the writer and the event
/// loops get the CPU first whenever both want it, and bulk reads still use all of it when
/// nothing else does. Raising one's own nice value needs no privilege.
public enum BulkThreads {
    public static let niceness: Int32 = 10

    /// Lowers the priority of every one of `pool`'s `threads` threads: each is given a job
    /// that lowers its own and then waits until all have, so no thread runs two of them.
    /// Returns how many threads it lowered (fewer if the pool stopped or setpriority failed).
    @discardableResult
    public static func lowerPriority(of pool: NIOThreadPool, threads: Int) -> Int {
        let lowered = DispatchGroup()
        let release = DispatchSemaphore(value: 0)
        let count = Count()
        for _ in 0..<threads {
            lowered.enter()
            pool.submit { state in
                if case .active = state, setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(hotline_gettid()), niceness) == 0 {
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
