import Foundation
import GRDB
import HotlineCore
@testable import HotlineStore
import Logging
import Testing

/// Coordinates are sealed at rest, and the v6 migration seals those an older version wrote
/// in the clear without breaking the chain (issue 13).
@Suite struct SealedCoordinatesTests {
    static let call = "e5e5e5e5-0000-4000-8000-00000000000e"
    // Distinctive, so that their text is found in the file if it is there at all.
    static let lat = 53.061234, lon = -1.481234
    static let lat2 = 52.923456

    static func contains(_ t: TemporaryStore, _ text: String) throws -> [String] {
        try t.fileBytes().filter { $0.1.contains(bytes: Array(text.utf8)) }.map(\.0)
    }

    @Test func newEventsKeepNoCoordinateInTheClear() throws {
        let t = try TemporaryStore()
        t.commit([Fixture.start(Self.call, dialled: "0800 789 321")])
        let set = t.commitOne(Fixture.update(Self.call, CallChanges(location: Location(lat: Self.lat, lon: Self.lon))))
        #expect(set.seq == 2)
        let body = try t.read { db in try String.fetchOne(db, sql: "SELECT body FROM events WHERE seq = 2") }
        #expect(body?.contains("\"location\":true") == true, "\(body ?? "")")
        #expect(body?.contains("53.06") == false)
        #expect(try Self.contains(t, "53.061234").isEmpty)
        #expect(try Self.contains(t, "1.481234").isEmpty)
        try t.reopen()
        let location = try t.store.call(id: Self.call)?.state.location
        #expect(location == Location(lat: Self.lat, lon: Self.lon))
        #expect(try t.store.verify().ok)
    }

    /// Rows as hotlined wrote them before: the coordinates in the body, the rest sealed, the
    /// chain over that; the migration not yet run. Returns each rewritten row's digest and
    /// hash over its old content.
    @discardableResult
    static func writeAsAnOlderVersion(_ db: Database, keys: KeyRing) throws -> [Data] {
        // Older than the keyed chain too (v7), which comes after.
        try ChainTests.unlinkAsBeforeTheKeyedChain(db)
        try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v6-sealed-coordinates'")
        var previous = Chain.genesis
        var old: [Data] = []
        for row in try Row.fetchAll(db, sql: "SELECT * FROM events ORDER BY seq") {
            let seq: Int64 = row["seq"]
            let callID: String = row["call_id"]
            var body: String = row["body"]
            var secret: Data? = row["secret"]
            var rewritten = false
            if case .object(var event) = try JSONParser.parse(Array(body.utf8)), case .object(var set)? = event["set"],
                set["location"] == true
            {
                let context = "\(callID)/event/\(seq)"
                var free = try keys.openJSON(secret!, context: context).objectValue!
                set["location"] = [
                    "has_text": .bool(free["location_text"] != nil), "lat": free["location_lat"] ?? .null,
                    "lon": free["location_lon"] ?? .null,
                ]
                event["set"] = .object(set)
                body = JSONWriter.string(.object(event))
                free["location_lat"] = nil
                free["location_lon"] = nil
                secret = free.isEmpty ? nil : try keys.sealJSON(.object(free), context: context)
                rewritten = true
            }
            var content = CallStore.eventContent(row, identityCommitment: row["identity_commitment"])
            content.body = body
            content.secret = secret
            previous = Chain.link(previous, content.digest)
            if rewritten { old += [content.digest, previous] }
            try db.execute(
                sql: "UPDATE events SET body = ?, secret = ?, digest = ?, hash = ? WHERE seq = ?",
                arguments: [body, secret, content.digest, previous, seq])
        }
        return old
    }

    @Test func theMigrationSealsWhatAnOlderVersionWroteAndChainsTheLogAgain() throws {
        let t = try TemporaryStore()
        let withText = Fixture.update(
            Self.call, CallChanges(location: Location(text: "Behind the gasworks", lat: Self.lat, lon: Self.lon)),
            note: "A white van")
        let coordinatesOnly = Fixture.update(Self.call, CallChanges(location: Location(lat: Self.lat2, lon: -1.5)))
        let textOnly = Fixture.update(Self.call, CallChanges(location: Location(text: "The station")))
        t.commit([Fixture.start(Self.call, dialled: "0800 789 321"), withText, coordinatesOnly, textOnly])
        t.commit([Fixture.update(Self.call, note: "later")])
        try t.store.audit(AuditEntry(peer: Fixture.supervisor, op: "call.get", at: Fixture.now, detail: ["result": "ok"]))
        // The older version's rows hold the coordinates in the clear; reopening the store
        // runs the migration over them.
        var olderHead = Chain.Head.empty
        var oldHashes: [Data] = []
        try t.reopen { db in
            oldHashes = try Self.writeAsAnOlderVersion(db, keys: t.keys)
            #expect(try String.fetchAll(db, sql: "SELECT body FROM events").contains { $0.contains("53.061234") })
            olderHead = try CallStore.lastEvent(db, keyed: false)
        }
        #expect(oldHashes.count == 6)
        #expect(try Self.contains(t, "53.061234").isEmpty, "coordinates in the clear after the migration")
        #expect(try Self.contains(t, "52.923456").isEmpty, "coordinates in the clear after the migration")
        // No digest or hash over the old content is left: each would let coordinates be
        // found by trying every plausible pair against it.
        for hash in oldHashes {
            #expect(try t.fileBytes().allSatisfy { !$0.1.contains(bytes: Array(hash)) }, "an old digest or hash survives")
        }
        let heads = t.store.heads
        #expect(heads.events.seq == olderHead.seq)
        #expect(heads.events.hash != olderHead.hash)

        // The rewrite is on the audit chain, with the heads before and after.
        let reseal = try #require(
            try t.store.auditEntries(from: Timestamp(microseconds: 0), to: Fixture.ts("2100-01-01T00:00:00Z")).entries
                .first { $0.op == AuditOp.chainReseal })
        #expect(reseal.seq == 2)
        #expect(reseal.role == nil)
        #expect(
            reseal.detail == [
                "events": 3, "from_seq": 2, "head_before": .string(olderHead.description),
                "head_after": .string(heads.events.description), "intact_before": true, "result": "ok",
            ])

        // Everything reads as before, and both chains verify, without a key.
        let detail = try #require(try t.store.call(id: Self.call))
        #expect(detail.state.location == Location(text: "The station"))
        #expect(detail.notes.map(\.text) == ["A white van", "later"])
        #expect(try t.store.verify().ok)
        let offline = try t.read { db in try ChainVerifier.verify(db, eventAnchors: [heads.events]) }
        #expect(offline.ok, "\(offline)")
        // An anchor from before the upgrade no longer matches: the audit entry and the journal
        // say where it ends.
        let stale = try t.read { db in try ChainVerifier.verify(db, eventAnchors: [olderHead]) }
        #expect(!stale.ok)
        // A workstation resending an event from before the upgrade gets its acknowledgement,
        // and one whose location had no text gets it too (no empty ciphertext was made).
        let resent = t.commitOne(withText)
        #expect(resent.ack?["duplicate"] == true, "\(resent)")
        #expect(resent.ack?["seq"] == 2)
        #expect(t.commitOne(coordinatesOnly).ack?["duplicate"] == true)
    }

    /// Chaining again must not launder a change made before the upgrade.
    @Test func tamperingFromBeforeTheUpgradeIsRecordedWithTheResealing() throws {
        let t = try TemporaryStore()
        t.commit([
            Fixture.start(Self.call, dialled: "0800 789 321"),
            Fixture.update(Self.call, CallChanges(location: Location(lat: Self.lat, lon: Self.lon))),
            Fixture.update(Self.call, CallChanges(category: "suspicious-activity")),
        ])
        try t.reopen { db in
            try Self.writeAsAnOlderVersion(db, keys: t.keys)
            // An insider, before the upgrade, changes event 3 without re-hashing.
            try db.execute(sql: "UPDATE events SET peer_uid = 0 WHERE seq = 3")
        }
        let reseal = try #require(
            try t.store.auditEntries(from: Timestamp(microseconds: 0), to: Fixture.ts("2100-01-01T00:00:00Z")).entries
                .first { $0.op == AuditOp.chainReseal })
        #expect(reseal.detail["intact_before"] == false)
        #expect(reseal.detail["first_bad_seq"] == 3)
    }

    @Test func aLocationWithNothingSealedLeavesNoCiphertext() {
        let old =
            #"{"call_id":"c","event_id":"e","has_note":false,"op":"call.update","set":{"location":{"has_text":false,"lat":null,"lon":null}}}"#
        let upgraded = SealedCoordinates.upgrade(body: old, freeText: nil)
        #expect(upgraded?.freeText == nil)
        #expect(upgraded?.body.contains(#""location":true"#) == true)
        #expect(SealedCoordinates.upgrade(body: #"{"op":"call.update","set":{"location":true}}"#, freeText: nil) == nil)
    }

    @Test func aRowChangedAfterTheMigrationIsFound() throws {
        let t = try TemporaryStore()
        t.commit([
            Fixture.start(Self.call, dialled: "0800 789 321"),
            Fixture.update(Self.call, CallChanges(location: Location(lat: Self.lat, lon: Self.lon))),
        ])
        try t.reopen { db in try Self.writeAsAnOlderVersion(db, keys: t.keys) }
        #expect(try t.store.verify().ok)
        // An insider moves a category into the migrated row's body.
        try t.reopen { db in
            let body = try String.fetchOne(db, sql: "SELECT body FROM events WHERE seq = 2")!
            try db.execute(
                sql: "UPDATE events SET body = ? WHERE seq = 2",
                arguments: [body.replacingOccurrences(of: "\"location\":true", with: "\"category\":\"hoax\",\"location\":true")])
        }
        let report = try t.store.verify()
        #expect(!report.ok)
        #expect(report.firstBadSeq == 2, "\(report)")
    }

    @Test func aCiphertextTheKeysCannotOpenStopsTheUpgradeWithAReason() throws {
        let t = try TemporaryStore()
        t.commit([
            Fixture.start(Self.call, dialled: "0800 789 321"),
            Fixture.update(Self.call, CallChanges(location: Location(text: "Somewhere", lat: Self.lat, lon: Self.lon))),
        ])
        try t.store.close()
        let queue = try DatabaseQueue(path: t.path)
        try queue.writeWithoutTransaction { db in
            try Self.writeAsAnOlderVersion(db, keys: t.keys)
            try db.execute(sql: "UPDATE events SET secret = ? WHERE seq = 2", arguments: [Data(repeating: 1, count: 40)])
        }
        try queue.close()
        do {
            _ = try CallStore(path: t.path, keys: t.keys, logger: Logger(label: "test"))
            Issue.record("the upgrade went ahead over a ciphertext it could not open")
        } catch {
            #expect("\(error)".contains("cannot seal the coordinates of event 2"), "\(error)")
        }
    }
}
