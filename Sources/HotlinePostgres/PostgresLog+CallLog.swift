import Foundation
import HotlineCore
import HotlineStore
import Synchronization

/// The log on PostgreSQL behind the daemon's storage seam. What SQLite needs for durability
/// (an fdatasync after the commit, a file system to watch) has no counterpart here: a commit
/// returns once it is on the synchronous standbys, and a failure is the server's, for the
/// next batch to try again (reconnecting, to a promoted standby after a failover).
extension PostgresLog: CallLog {
    /// The commit was the sync.
    public func syncLog() throws {}
    /// Nothing makes this process unable to write again: a failed commit is retried by the
    /// next batch, on a new session.
    public var syncFailure: String? { nil }
    public func whenSyncFails() async -> String? {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        return nil
    }
    public func noteStorageFault(_ reason: String) { fault.withLock { $0 = reason } }
    public var canWriteAfterRestart: Bool { true }
    public var hasIdleWork: Bool { false }
    public func doIdleWork() {}
    /// No read is ever stopped for an erasure: erased rows are gone at the commit (SECURITY.md).
    public func wasStoppedForErasure(_ error: any Error) -> Bool { false }

    public var isInBoundedWait: Bool { writerActivity.isWaitingWithinDeadline }

    /// Leads (re-escalation, sink delivery) while the lease holds; renews it every
    /// ``leadRenewal``, well inside the lease, and between renewals answers from the last.
    public func mayDoSharedWork() -> Bool {
        let due = leadAsked { last in last.map { ContinuousClock.now - $0 >= Self.leadRenewal } ?? true }
        return due ? leadership.tryToLead() : leadership.isLeader
    }

    /// How often the lead is asked for or renewed (the lease is ``PostgresLeadership/lease``).
    static let leadRenewal: Duration = .seconds(2)

    public func resignSharedWork() { leadership.resign() }

    public func followAlerts(_ deliver: @escaping @Sendable (Alert) -> Void) async {
        await alertsFromOtherRooms(includingOwn: true, deliver)
    }
}
