import Dispatch
import Foundation
import GRDB
import HotlineCore
@testable import HotlineStore
import Synchronization
import Testing

/// The heads the writer chains onto, when a batch fails while another thread commits an
/// audit entry (issue 13).
@Suite struct ChainHeadsTests {
    static let call = "d4d4d4d4-0000-4000-8000-00000000000d"
    static let note = String(repeating: "The caller described the vehicle again. ", count: 40)

    static func entry(_ n: Int) -> AuditEntry {
        AuditEntry(peer: Fixture.supervisor, op: "call.get", at: Fixture.now.adding(seconds: Double(n)), detail: ["result": "ok"])
    }

    final class Box: Sendable {
        let results = Mutex<[Result<WriteAck, HotlineError>]>([])
    }

    /// A batch waiting for the writer while a read's audit entry commits, then failing (the
    /// database is full), must not put back the audit head from before that entry: the next
    /// entry would chain onto it, and `verify` would report tampering that never happened.
    @Test func aBatchThatFailsWhileAReadIsAuditedLeavesBothChainsWhole() throws {
        let t = try TemporaryStore(maxBytes: 131_072)
        t.commit([Fixture.start(Self.call, dialled: "0800 789 321")])
        // An entry first, so that the audit table has a page with room once notes fill the file.
        try t.store.audit(Self.entry(0))
        var full = false
        for _ in 0..<400 where !full {
            full = t.commit((0..<8).map { _ in Fixture.update(Self.call, note: Self.note) })
                .results.contains { $0.error?.code == .storage }
        }
        #expect(full, "the database never filled up")

        // The writer is busy with a read's audit entry; a batch that will fail waits for it.
        let store = t.store
        let policy = t.policy
        let box = Box()
        let waiting = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            waiting.wait()
            let outcome = store.commit(
                (0..<8).map { _ in Fixture.submission(Fixture.update(Self.call, note: Self.note)) }, policy: policy,
                now: Fixture.now)
            box.results.withLock { $0 = outcome.results }
            done.signal()
        }
        try store.pool.writeWithoutTransaction { db in
            waiting.signal()
            // Long enough for the batch to be waiting for the writer (were it not, the test
            // would pass without the fix, never fail with it).
            Thread.sleep(forTimeInterval: 0.3)
            try db.inTransaction {
                _ = try store.appendAudit(Self.entry(1), db)
                return .commit
            }
        }
        done.wait()
        let results = box.results.withLock { $0 }
        #expect(results.count == 8 && results.allSatisfy { $0.error?.code == .storage }, "\(results)")

        // The next read's entry chains onto entry 1, and both chains verify.
        let next = try store.audit(Self.entry(2))
        #expect(next.seq == 3)
        let report = try store.verify()
        #expect(report.ok, "\(report)")
    }
}
