import Foundation
import GRDB
import HotlineCore
import HotlineStore
import Logging
import Testing

/// The audit log (who read what, and the audited writes) and retention purges, below the
/// socket: what is stored, how it pages, and that purging keeps the chain verifiable.
@Suite struct AuditAndRetentionTests {
    let t: TemporaryStore
    init() throws { t = try TemporaryStore() }

    static let callA = "a1a1a1a1-0000-4000-8000-00000000000a"
    static let callB = "b2b2b2b2-0000-4000-8000-00000000000b"
    static let callC = "c3c3c3c3-0000-4000-8000-00000000000c"

    func entries() throws -> [AuditEntry] {
        try t.store.auditEntries(from: Timestamp(microseconds: 0), to: Fixture.ts("2100-01-01T00:00:00Z")).entries
    }

    @Test func anAuditEntryIsStoredAsGivenAndNumberedInOrder() throws {
        let first = try t.store.audit(
            AuditEntry(
                peer: Fixture.supervisor, op: "call.get", at: Fixture.now,
                detail: ["call_ids": [.string(Self.callA)], "result": "ok"]))
        let second = try t.store.audit(
            AuditEntry(peer: Fixture.handler, op: "calls.list", at: Fixture.now.adding(seconds: 1), detail: ["result": "forbidden"]))
        #expect(first.seq == 1)
        #expect(second.seq == 2)
        #expect(try entries() == [first, second])
        #expect(
            first.json == [
                "seq": 1, "at": "2026-11-24T19:05:00Z", "uid": 1002, "pid": 4243, "role": "supervisor", "op": "call.get",
                "call_ids": [.string(Self.callA)], "result": "ok",
            ])
        #expect(t.store.heads.audit.seq == 2)
    }

    @Test func aReasonIsSealedForItsOwnEntryAndReadBackOnlyThere() throws {
        let why = "Complaint from Ann Example of 1 High Street: reviewing how her call was handled"
        let stored = try t.store.audit(
            AuditEntry(
                peer: Fixture.supervisor, op: "call.get", at: Fixture.now,
                detail: ["call_ids": [.string(Self.callA)], "result": "ok"], reason: why))
        let plain = try t.store.audit(
            AuditEntry(peer: Fixture.supervisor, op: "call.get", at: Fixture.now, detail: ["result": "ok"]))
        #expect(try entries() == [stored, plain])
        #expect(try entries().first?.json["reason"] == .string(why))
        #expect(try entries().last?.json["reason"] == nil)
        // Not in the clear anywhere in the file; chained as its ciphertext, so verify holds.
        try t.store.syncLog()
        for (file, bytes) in try t.fileBytes() {
            #expect(!bytes.contains(bytes: Array("Ann Example".utf8)), "the reason is in clear in \(file)")
        }
        let sealed = try t.read { db in
            try String.fetchOne(db, sql: "SELECT json_extract(detail, '$.reason_sealed') FROM audit WHERE seq = 1")
        }
        #expect(sealed != nil)
        #expect(try t.store.verify().ok)

        // Moved to another entry it opens nowhere (the context names the entry), and the rest
        // of the log still reads; verify reports the moved entry.
        try t.reopen { db in
            try db.execute(
                sql: "UPDATE audit SET detail = json_set(detail, '$.reason_sealed', ?) WHERE seq = 2", arguments: [sealed])
        }
        let moved = try entries()
        #expect(moved.map(\.reason) == [why, nil])
        #expect(moved.map(\.reasonUnreadable) == [nil, .altered])
        #expect(moved.last?.json["reason_unreadable"] == "altered")
        #expect(moved.last?.json[AuditEntry.sealedReasonKey] == nil)
        #expect(try t.store.verify().firstBadAuditSeq == 2)
    }

    @Test func aReasonUnderAKeyNoLongerHeldIsMarkedUnreadableNotAFailure() throws {
        try t.store.audit(
            AuditEntry(peer: Fixture.supervisor, op: "calls.list", at: Fixture.now, detail: ["result": "ok"], reason: "Weekly review"))
        try t.store.close()
        let other = try KeyRing(hexKeys: [String(repeating: "ab", count: 32)])
        let store = try CallStore(path: t.path, keys: other, logger: Logger(label: "hotlined.test.store"))
        defer { try? store.close() }
        let read = try store.auditEntries(from: Timestamp(microseconds: 0), to: Fixture.ts("2100-01-01T00:00:00Z")).entries
        #expect(read.map(\.reasonUnreadable) == [.keyRetired])
        #expect(read.first?.reason == nil)
        #expect(read.first?.detail == ["result": "ok"])
    }

    @Test func auditListPagesWithoutSplittingAMicrosecond() throws {
        // Five entries at t0, three at t1, two at t2.
        let t0 = Fixture.now, t1 = t0.adding(seconds: 1), t2 = t0.adding(seconds: 2)
        for at in [t0, t0, t0, t0, t0, t1, t1, t1, t2, t2] {
            try t.store.audit(AuditEntry(peer: Fixture.supervisor, op: "call.get", at: at, detail: [:]))
        }
        let end = t0.adding(seconds: 60)
        let page1 = try t.store.auditEntries(from: t0, to: end, limit: 7)
        #expect(page1.entries.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(page1.nextFrom == t1)
        let page2 = try t.store.auditEntries(from: t1, to: end, limit: 7)
        #expect(page2.entries.map(\.seq) == [6, 7, 8, 9, 10])
        #expect(page2.nextFrom == nil)
        // More entries in one microsecond than a page: that microsecond comes whole.
        let crowded = try t.store.auditEntries(from: t0, to: end, limit: 3)
        #expect(crowded.entries.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(crowded.nextFrom == t1)
        // `to` is exclusive.
        #expect(try t.store.auditEntries(from: t0, to: t1).entries.count == 5)
    }

    /// Entries with long details (a handler's calls.list of 1,000 calls) end a page by bytes
    /// too, so an auditor's `audit.list` stays small however the entries were made (issue 12).
    @Test func auditListPagesByBytesToo() throws {
        let ids: JSONValue = .array((0..<100).map { _ in .string(UUIDText.random()) })  // ~3.9 KB of detail
        for i in 0..<10 {
            try t.store.audit(
                AuditEntry(peer: Fixture.handler, op: "calls.list", at: Fixture.now.adding(seconds: Double(i)), detail: ["call_ids": ids]))
        }
        let end = Fixture.now.adding(seconds: 60)
        var from = Fixture.now
        var pages: [[Int64]] = []
        while pages.count < 20 {
            let page = try t.store.auditEntries(from: from, to: end, limit: 5000, maxBytes: 10_000)
            pages.append(page.entries.map(\.seq))
            guard let next = page.nextFrom else { break }
            from = next
        }
        // Three entries reach 10,000 bytes: the fourth starts the next page.
        #expect(pages == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]])
        // One entry larger than the cap is a page of its own, never an empty page.
        #expect(try t.store.auditEntries(from: Fixture.now, to: end, limit: 5000, maxBytes: 100).entries.map(\.seq) == [1])
    }

    /// Every change of grade or marking after the start is audited with its event (issue
    /// 16): raising as `call.reclassify`, lowering a marking as `marking.lower` with the
    /// reason it must give, sealed in the entry.
    @Test func everyChangeOfGradeOrMarkingIsAuditedWithTheEvent() throws {
        t.commit([Fixture.start(Self.callA, dialled: "0800 789 321")])
        #expect(try entries().isEmpty, "the start is not a change")
        let raised = t.commitOne(Fixture.update(Self.callA, CallChanges(marking: .secret)))
        #expect(raised.ack?["marking"] == "SECRET")
        #expect(t.commitOne(Fixture.update(Self.callA, CallChanges(marking: .official)), by: Fixture.supervisor).error?.field == "reason")
        let lowered = t.commitOne(
            Fixture.update(Self.callA, CallChanges(marking: .official), reason: "declassified by the duty inspector"),
            by: Fixture.supervisor)
        #expect(lowered.ack?["marking"] == "OFFICIAL")
        let audit = try entries()
        #expect(audit.map(\.op) == [AuditOp.reclassified, AuditOp.markingLowered])
        #expect(audit[0].uid == Fixture.handler.uid)
        #expect(
            audit[0].detail == [
                "call_ids": [.string(Self.callA)], "seq": .int(raised.seq ?? -1), "from": "OFFICIAL-SENSITIVE", "to": "SECRET",
                "result": "ok", "handler": "4471",
            ])
        #expect(audit[1].uid == Fixture.supervisor.uid)
        #expect(audit[1].role == .supervisor)
        #expect(audit[1].reason == "declassified by the duty inspector")
        #expect(
            audit[1].detail == [
                "call_ids": [.string(Self.callA)], "seq": .int(lowered.seq ?? -1), "from": "SECRET", "to": "OFFICIAL", "result": "ok",
                "handler": "4471",
            ])
        // A handler's attempt is refused and leaves no entry; an update that changes
        // neither leaves none either.
        t.commit([Fixture.update(Self.callA, CallChanges(marking: .secret))])
        #expect(t.commitOne(Fixture.update(Self.callA, CallChanges(marking: .official), reason: "x")).error?.code == .forbidden)
        t.commit([Fixture.update(Self.callA, CallChanges(category: "other"))])
        #expect(try entries().map(\.op) == [AuditOp.reclassified, AuditOp.markingLowered, AuditOp.reclassified])
        // The reason is sealed: not in the entry's stored detail in the clear.
        let stored = try t.read { try String.fetchAll($0, sql: "SELECT detail FROM audit") }
        #expect(!stored.joined().contains("duty inspector"))
        #expect(try t.store.verify().ok)
    }

    @Test func anAlertAcknowledgementIsAuditedOnce() throws {
        let outcome = t.commit([Fixture.start(Self.callA, dialled: "999")])
        let alert = try #require(outcome.alerts.first)
        let acked = try t.store.acknowledgeAlert(id: alert.id, by: Fixture.supervisor, at: Fixture.now.adding(seconds: 9))
        #expect(acked?.ackedAt == Fixture.now.adding(seconds: 9))
        let again = try t.store.acknowledgeAlert(id: alert.id, by: Fixture.supervisor, at: Fixture.now.adding(seconds: 20))
        #expect(again?.ackedAt == Fixture.now.adding(seconds: 9))
        #expect(try t.store.acknowledgeAlert(id: UUIDText.random(), by: Fixture.supervisor, at: Fixture.now) == nil)
        let audit = try entries()
        #expect(audit.map(\.op) == ["alert.ack"])
        #expect(audit.first?.detail == ["alert_id": .string(alert.id), "call_ids": [.string(Self.callA)], "level": 1, "result": "ok"])
    }

    // MARK: - Retention

    /// Three ended calls and one open: A on the hotline ended 40 days ago, B on 101 ended
    /// 40 days ago, C on 101 ended 5 days ago, and an open hotline call.
    /// Each batch is recorded when its calls ended: retention counts from the later of the
    /// workstation's `ended_at` and the daemon's own time of recording.
    func writeCalls(open: String) {
        let identity = CallerIdentity(cli: "07700900999", name: "Carol Retained")
        t.commit(
            [
                Fixture.start(Self.callA, dialled: "0800 789 321", at: "2026-10-01T10:00:00Z", identity: identity),
                Fixture.update(Self.callA, at: "2026-10-01T10:01:00Z", note: "purple van seen twice"),
                Fixture.end(Self.callA, at: "2026-10-15T10:05:00Z"),
                Fixture.start(Self.callB, dialled: "101", at: "2026-10-15T11:00:00Z"),
                Fixture.end(Self.callB, at: "2026-10-15T11:05:00Z"),
            ], now: Fixture.ts("2026-10-15T11:06:00Z"))
        t.commit(
            [
                Fixture.start(Self.callC, dialled: "101", at: "2026-11-19T11:00:00Z"),
                Fixture.end(Self.callC, at: "2026-11-19T11:05:00Z"),
                Fixture.start(open, dialled: "0800 789 321", at: "2026-09-01T10:00:00Z"),
            ], now: Fixture.ts("2026-11-19T11:06:00Z"))
    }

    @Test func aBackDatedEndIsKeptUntilTheDaemonsOwnRecordOfItIsOldEnough() throws {
        // Received and ended "in September" by the workstation's clock, recorded today.
        t.commit([
            Fixture.start(Self.callA, dialled: "101", at: "2026-09-01T10:00:00Z"),
            Fixture.end(Self.callA, at: "2026-09-01T10:05:00Z"),
        ])
        let rules = [RetentionRule(purgeAfterDays: 30)]
        #expect(try t.store.purge(rules: rules, now: Fixture.now, uid: 0, pid: 1).calls == 0)
        #expect(try t.store.purge(rules: rules, now: Fixture.now.adding(seconds: 30 * 86_400), uid: 0, pid: 1).calls == 1)
    }

    @Test func retentionPurgesWhatTheFirstMatchingRuleSaysAndNothingElse() throws {
        let open = UUIDText.random()
        writeCalls(open: open)
        let rules = [
            RetentionRule(route: "anti-terrorist-hotline", marking: .officialSensitive, purgeAfterDays: 30),
            RetentionRule(route: "non-emergency", purgeAfterDays: 31),
        ]
        let now = Fixture.now  // 2026-11-24: A and B ended 40 days ago, C 5 days ago
        // Call A's ciphertexts (its note, its caller's identity): none may outlive the purge.
        let sealed = try t.read { db in
            try Data.fetchAll(
                db,
                sql: """
                    SELECT secret FROM events WHERE call_id = ?1 AND secret IS NOT NULL
                    UNION ALL SELECT secret FROM event_identity WHERE call_id = ?1
                    UNION ALL SELECT identity FROM calls WHERE call_id = ?1
                    """, arguments: [Self.callA])
        }
        #expect(sealed.count == 3)
        let report = try t.store.purge(rules: rules, now: now, uid: 0, pid: 1)
        #expect(report.calls == 2)
        #expect(report.events == 5)
        #expect(report.auditSeqs == [1])
        #expect(try t.store.call(id: Self.callA)?.state.id == nil)
        #expect(try t.store.call(id: Self.callB)?.state.id == nil)
        #expect(try t.store.call(id: Self.callC)?.state.id != nil)
        #expect(try t.store.call(id: open)?.state.id != nil)  // never ended: never purged

        // Nothing of the purged calls is left in the files: no byte run of their ciphertexts.
        for (file, bytes) in try t.fileBytes() {
            for blob in sealed {
                for chunk in [UInt8](blob).chunks(of: 16) {
                    #expect(!bytes.contains(bytes: chunk), "a ciphertext of a purged call is still in \(file)")
                }
            }
        }
        let audit = try entries()
        #expect(audit.count == 1)
        #expect(audit.first?.op == AuditOp.retentionPurge)
        #expect(audit.first?.role == nil)
        #expect(Set(audit.first?.detail["call_ids"]?.arrayValue?.compactMap(\.stringValue) ?? []) == [Self.callA, Self.callB])
        #expect(audit.first?.detail["events"] == 5)

        // The events stay as tombstones; the chain still verifies, and so does a restart's.
        let tombstones = try t.read { db in
            try Row.fetchAll(db, sql: "SELECT body, ack, secret, purged_by FROM events WHERE purged_by IS NOT NULL")
        }
        #expect(tombstones.count == 5)
        #expect(tombstones.allSatisfy { ($0["body"] as String) == "" && ($0["secret"] as Data?) == nil })
        let verified = try t.store.verify()
        #expect(verified.ok, "\(verified.problems)")
        #expect(verified.events == 8)
        try t.reopen()
        #expect(try t.store.verify().ok)

        // A second run finds nothing more to do.
        #expect(try t.store.purge(rules: rules, now: now, uid: 0, pid: 1).calls == 0)
        #expect(try entries().count == 1)
    }

    /// Issue 13 (review): what a tombstone keeps is vouched for by its purge's entry, and a
    /// purged call put back whole from a backup is found.
    @Test func aTombstoneChangedOrAPurgedCallPutBackIsTampering() throws {
        writeCalls(open: UUIDText.random())
        let rules = [RetentionRule(route: "anti-terrorist-hotline", marking: .officialSensitive, purgeAfterDays: 30)]
        let backup = try t.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, body, ack, secret FROM events WHERE call_id = ?", arguments: [Self.callA])
        }
        #expect(try t.store.purge(rules: rules, now: Fixture.now, uid: 0, pid: 1).calls == 1)
        let purge = try #require(try entries().first)
        #expect(purge.detail["tombstones"]?.stringValue?.count == 64)
        #expect(try t.store.verify().ok)
        let first = try #require(backup.first?["seq"] as Int64?)

        // Who wrote a tombstoned event, changed: its digest stands for content that is gone.
        try t.reopen { db in try db.execute(sql: "UPDATE events SET peer_uid = 0 WHERE seq = ?", arguments: [first + 1]) }
        let changed = try t.store.verify()
        #expect(changed.firstBadSeq == first)
        #expect(
            changed.problems.contains { $0.contains("purged in audit entry \(purge.seq) were changed after it") }, "\(changed.problems)")
        try t.reopen { db in try db.execute(sql: "UPDATE events SET peer_uid = 1001 WHERE seq = ?", arguments: [first + 1]) }
        #expect(try t.store.verify().ok)

        // Its id is spent: a new call under it would read as the purged one put back.
        let reused = t.commitOne(Fixture.start(Self.callA, dialled: "101"))
        #expect(reused.error?.code == .conflict, "\(reused)")
        #expect(reused.error?.message.contains("was purged by retention") == true)
        #expect(try t.store.verify().ok)

        // The call put back from the backup: content restored, tombstone marks removed.
        try t.reopen { db in
            for row in backup {
                try db.execute(
                    sql: "UPDATE events SET body = ?, ack = ?, secret = ?, purged_by = NULL WHERE seq = ?",
                    arguments: [row["body"], row["ack"], row["secret"], row["seq"]])
            }
        }
        let restored = try t.store.verify()
        #expect(restored.firstBadSeq == first)
        #expect(restored.problems.contains { $0.contains("is of a call retention purged, yet is whole") }, "\(restored.problems)")
    }

    @Test func contentRemovedWithoutAnAuditedPurgeIsTampering() throws {
        let open = UUIDText.random()
        writeCalls(open: open)
        try t.store.audit(AuditEntry(peer: Fixture.supervisor, op: "call.get", at: Fixture.now, detail: [:]))
        // An insider blanks call C's events and points them at an audit entry that is no purge.
        var configuration = GRDB.Configuration()
        configuration.foreignKeysEnabled = false
        let queue = try DatabaseQueue(path: t.path, configuration: configuration)
        try queue.write { db in
            try db.execute(
                sql: "UPDATE events SET body = '', ack = '', secret = NULL, purged_by = 1 WHERE call_id = ?",
                arguments: [Self.callC])
        }
        try queue.close()
        let report = try t.store.verify()
        #expect(report.firstBadSeq == 6)
        #expect(report.problems.first?.contains("no retention purge") == true)
    }

    @Test func aPurgedCallPutBackFromABackupIsFound() throws {
        writeCalls(open: UUIDText.random())
        let backup = try DatabaseQueue(path: t.path)
        try backup.inDatabase { db in try db.execute(sql: "VACUUM INTO ?", arguments: [t.path + ".backup"]) }
        try backup.close()
        try t.store.purge(rules: [RetentionRule(route: "non-emergency", purgeAfterDays: 30)], now: Fixture.now, uid: 0, pid: 1)
        #expect(try t.store.verify().ok)
        // The backup is attached and call B's event contents and projection copied back.
        var configuration = GRDB.Configuration()
        configuration.foreignKeysEnabled = false
        let queue = try DatabaseQueue(path: t.path, configuration: configuration)
        try queue.inDatabase { db in
            try db.execute(sql: "ATTACH DATABASE ? AS old", arguments: [t.path + ".backup"])
            try db.execute(
                sql: """
                    UPDATE events SET body = (SELECT body FROM old.events o WHERE o.seq = events.seq),
                                      ack = (SELECT ack FROM old.events o WHERE o.seq = events.seq)
                    WHERE call_id = ?
                    """, arguments: [Self.callB])
            try db.execute(sql: "INSERT INTO calls SELECT * FROM old.calls WHERE call_id = ?", arguments: [Self.callB])
        }
        try queue.close()
        let report = try t.store.verify()
        #expect(!report.ok)
        #expect(report.firstBadSeq == 4)
        #expect(report.problems.first?.contains("restored") == true, "\(report.problems)")
    }

    @Test func noRulesOrNoMatchingRuleKeepsEverything() throws {
        writeCalls(open: UUIDText.random())
        #expect(try t.store.purge(rules: [], now: Fixture.now, uid: 0, pid: 1).calls == 0)
        let report = try t.store.purge(
            rules: [RetentionRule(route: "emergency", purgeAfterDays: 1)], now: Fixture.now, uid: 0, pid: 1)
        #expect(report == PurgeReport())
        #expect(try entries().isEmpty)
        #expect(try t.store.counts().calls == 4)
    }
}

extension AuditAndRetentionTests {
    /// An insider removes a hold so that retention takes the call, then puts the row back:
    /// the holds table agrees with the audit log again, yet verify finds the purge of a
    /// call the audit log says was held. A hold row edited by hand is found too.
    @Test func aHeldCallPurgedBehindTheDaemonsBackIsFound() throws {
        t.commit(
            [
                Fixture.start(Self.callA, dialled: "101", at: "2026-09-01T10:00:00Z"), Fixture.end(Self.callA, at: "2026-09-01T10:05:00Z"),
                Fixture.start(Self.callB, dialled: "101", at: "2026-09-01T11:00:00Z"), Fixture.end(Self.callB, at: "2026-09-01T11:05:00Z"),
            ], now: Fixture.ts("2026-09-01T11:06:00Z"))
        _ = try t.store.placeHold(callID: Self.callA, by: Fixture.supervisor, reason: "Inquest", at: Fixture.now)
        _ = try t.store.placeHold(callID: Self.callB, by: Fixture.supervisor, reason: "Complaint", at: Fixture.now)
        #expect(try t.store.verify().ok)
        var saved: [DatabaseValue] = []
        try t.reopen { db in
            saved = Array(try Row.fetchOne(db, sql: "SELECT * FROM holds WHERE call_id = ?", arguments: [Self.callA])!.databaseValues)
            try db.execute(sql: "DELETE FROM holds WHERE call_id = ?", arguments: [Self.callA])
            try db.execute(sql: "UPDATE holds SET held_by = 0 WHERE call_id = ?", arguments: [Self.callB])
        }
        #expect(try t.store.purge(rules: [RetentionRule(purgeAfterDays: 30)], now: Fixture.now, uid: 0, pid: 1).calls == 1)
        try t.reopen { db in
            try db.execute(sql: "INSERT INTO holds VALUES (?, ?, ?, ?, ?, ?)", arguments: StatementArguments(saved))
        }
        let report = try t.store.verify()
        #expect(!report.ok)
        #expect(
            report.problems.contains { $0.contains("call \(Self.callA) was purged by retention") && $0.contains("while on legal hold") })
        #expect(report.problems.contains { $0.contains("call \(Self.callB)'s legal hold was changed in the holds table") })
    }
}
