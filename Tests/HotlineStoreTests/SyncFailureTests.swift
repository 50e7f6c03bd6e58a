import Foundation
import GRDB
import HotlineCore
@testable import HotlineStore
import Testing

/// After a failed fsync nothing more is acknowledged by the process (CallStore.syncLog(),
/// docs/RELIABILITY.md). The fault itself is staged against the daemon in
/// StorageFaultTests; here, what the store does once it is recorded.
@Suite struct SyncFailureTests {
    static let call = "5a1e0000-0000-4000-8000-000000000001"

    @Test func onlySQLiteFsyncErrorsCountAsAFailedFsync() {
        let failure = SyncFailure()
        #expect(failure.record(ifFsyncError: DatabaseError(resultCode: .SQLITE_FULL), during: "a checkpoint") == nil)
        #expect(failure.record(ifFsyncError: DatabaseError(resultCode: .SQLITE_BUSY), during: "a checkpoint") == nil)
        #expect(failure.reason == nil)
        let first = failure.record(ifFsyncError: DatabaseError(resultCode: .SQLITE_IOERR_FSYNC), during: "a checkpoint")
        #expect(first != nil && first == failure.reason)
        #expect(first?.contains("a checkpoint") == true)
        // The first failure stands.
        #expect(failure.record(ifFsyncError: DatabaseError(resultCode: .SQLITE_IOERR_DIR_FSYNC), during: "a WAL truncation") == first)
        #expect(failure.reason == first)
    }

    @Test func afterAFailedFsyncEveryWriteIsRefusedAndNothingIsStored() throws {
        let t = try TemporaryStore()
        let start = Fixture.start(Self.call, dialled: "999")
        guard case .success = t.commitOne(start) else { Issue.record("the first event was refused"); return }
        let alert = try #require(try t.store.unacknowledgedAlerts().first)
        let before = try t.store.counts().events
        t.store.syncFailed.record("fdatasync of the WAL failed (Input/output error)")

        // A new event, and the resend of one already acknowledged: both `storage`, since a
        // resend would be answered from a row that may not be on disk.
        for event in [Fixture.update(Self.call, note: "after the failure"), start] {
            guard case .failure(let error) = t.commitOne(event) else {
                Issue.record("acknowledged after a failed fsync: \(event.eventID)")
                continue
            }
            #expect(error.code == .storage)
        }
        #expect(throws: CallStore.StorageFault.self) { try t.store.syncLog() }
        #expect(throws: CallStore.StorageFault.self) {
            try t.store.acknowledgeAlert(id: alert.id, by: Fixture.supervisor, at: Fixture.now)
        }
        #expect(throws: CallStore.StorageFault.self) {
            try t.store.audit(AuditEntry(peer: Fixture.supervisor, op: "call.get", at: Fixture.now, detail: [:]))
        }
        #expect(t.store.storageFault?.contains("fdatasync of the WAL failed") == true)
        // Reads go on, and nothing was stored.
        #expect(try t.store.counts().events == before)
        #expect(try t.store.alert(id: alert.id)?.ackedAt == nil)
    }
}
