import Foundation
import HotlineServer
import NIOPosix
import Synchronization
import Testing

/// The bulk readers' threads give way to the rest of the daemon (nice 10), each of them.
@Suite struct BulkThreadsTests {
    /// The calling thread's nice value, from /proc (field 19 of its stat line).
    static func ownNiceness() -> Int? {
        guard let stat = try? String(contentsOfFile: "/proc/thread-self/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        // After the command: state is field 3, so field N is at N - 3.
        return Int(fields[19 - 3])
    }

    @Test func everyThreadOfThePoolRunsAtTheLowerPriority() throws {
        let threads = 3
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        defer { try? pool.syncShutdownGracefully() }
        #expect(BulkThreads.lowerPriority(of: pool, threads: threads) == threads)
        // Jobs that each hold their thread until all have run, so every thread runs one.
        let seen = Mutex<[Int?]>([])
        let arrived = DispatchGroup()
        let release = DispatchSemaphore(value: 0)
        for _ in 0..<threads {
            arrived.enter()
            pool.submit { _ in
                seen.withLock { $0.append(Self.ownNiceness()) }
                arrived.leave()
                release.wait()
            }
        }
        #expect(arrived.wait(timeout: .now() + 30) == .success)
        for _ in 0..<threads { release.signal() }
        #expect(seen.withLock { $0 } == Array(repeating: Int(BulkThreads.niceness), count: threads))
        // The thread that asked is untouched.
        #expect(Self.ownNiceness() != Int(BulkThreads.niceness))
    }

    /// A pool that is not running lowers nothing and does not wait for itself.
    @Test func aPoolNotRunningLowersNothingAndReturns() throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        try pool.syncShutdownGracefully()
        #expect(BulkThreads.lowerPriority(of: pool, threads: 2) == 0)
        #expect(Self.ownNiceness() != Int(BulkThreads.niceness))
    }
}
