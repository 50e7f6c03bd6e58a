import Foundation
import GRDB
import HotlineCore
@testable import HotlineStore
import Synchronization
import Testing

/// `CallStore.commit(_:policy:now:)`: group commit with one savepoint per event, idempotent
/// resends, alerts in the same transaction, erasure of identity, and the reads that follow
/// (PROTOCOL.md sections 5, 6, 7 and 9).
@Suite struct CallStoreWriteTests {
    let t: TemporaryStore
    init() throws { t = try TemporaryStore() }

    static let callA = "0a0a0a0a-0000-4000-8000-00000000000a"
    static let callB = "0b0b0b0b-0000-4000-8000-00000000000b"
    static let callX = "0e0e0e0e-0000-4000-8000-00000000000e"

    /// The acknowledgement of a fresh call on 101 (route `non-emergency`) with no alert.
    /// A `call.start`'s acknowledgement on 101: the route's rules it started under are in it.
    static func nonEmergencyAck(_ callID: String, seq: Int64) -> JSONValue {
        [
            "call_id": .string(callID), "seq": .int(seq), "route": "non-emergency", "grade": "scheduled",
            "marking": "OFFICIAL", "anonymous": false, "escalated": false, "alert_id": nil, "stripped": [],
            "route_anonymity": "allowed", "route_grade": "scheduled",
        ]
    }

    // MARK: - One bad event in a batch

    /// The writer commits with synchronous=NORMAL (no fsync in the commit); durability comes
    /// from syncLog(), which must sync the WAL that holds the commits.
    @Test func commitsAreMadeDurableBySyncingTheLog() throws {
        let t = try TemporaryStore()
        #expect(try t.store.writerSynchronous() == 1)
        #expect(t.commitOne(Fixture.start(Self.callA)).seq == 1)
        #expect(FileManager.default.fileExists(atPath: t.store.path + "-wal"))
        try t.store.syncLog()
    }

    @Test func aFailingEventInTheMiddleOfABatchTakesNothingElseWithIt() throws {
        let startA = UUIDText.random(), neverStarted = UUIDText.random(), startB = UUIDText.random()
        let lowering = UUIDText.random(), endA = UUIDText.random()
        let outcome = t.commit([
            Fixture.start(Self.callA, dialled: "101", eventID: startA),
            Fixture.update(Self.callX, CallChanges(category: "noise"), eventID: neverStarted),
            Fixture.start(Self.callB, dialled: "0800 789 321", eventID: startB),
            // A handler may raise a marking but never lower it.
            Fixture.update(Self.callB, CallChanges(marking: .official), eventID: lowering),
            Fixture.end(Self.callA, eventID: endA),
        ])

        #expect(outcome.results.count == 5)
        #expect(outcome.results[0].ack == Self.nonEmergencyAck(Self.callA, seq: 1))
        #expect(outcome.results[1].error?.code == .conflict)
        #expect(outcome.results[1].error?.field == "call_id")
        #expect(outcome.results[2].seq == 2)
        #expect(outcome.results[2].ack?["marking"] == "OFFICIAL-SENSITIVE")
        #expect(outcome.results[3].error?.code == .forbidden)
        #expect(outcome.results[3].error?.field == "set.marking")
        #expect(outcome.results[4].seq == 3)
        #expect(outcome.alerts.isEmpty)

        let events = try t.read { db in try Row.fetchAll(db, sql: "SELECT seq, event_id, op FROM events ORDER BY seq") }
        let calls = try t.read { db in
            try Row.fetchAll(db, sql: "SELECT call_id, marking, outcome, first_seq, last_seq FROM calls ORDER BY call_id")
        }
        #expect(events.map { $0["seq"] as Int64 } == [1, 2, 3])
        #expect(events.map { $0["event_id"] as String } == [startA, startB, endA])
        #expect(events.map { $0["op"] as String } == ["call.start", "call.start", "call.end"])
        #expect(calls.map { $0["call_id"] as String } == [Self.callA, Self.callB])
        #expect(calls[0]["outcome"] as String? == "report-taken")
        #expect(calls[0]["first_seq"] as Int64 == 1)
        #expect(calls[0]["last_seq"] as Int64 == 3)
        #expect(calls[1]["marking"] as String == "OFFICIAL-SENSITIVE")
        #expect(calls[1]["last_seq"] as Int64 == 2)

        // A refused event left its event_id unused: once the call exists, it is stored.
        let later = t.commit([
            Fixture.start(Self.callX),
            Fixture.update(Self.callX, CallChanges(category: "noise"), eventID: neverStarted),
        ])
        #expect(later.results.map(\.seq) == [4, 5])
        #expect(later.results[1].ack?["duplicate"] == nil)
    }

    @Test func aSecondStartOfTheSameCallIsAConflictAndTheRestOfTheBatchIsStored() throws {
        let outcome = t.commit([
            Fixture.start(Self.callA),
            Fixture.start(Self.callA, dialled: "999"),
            Fixture.start(Self.callB),
        ])
        #expect(outcome.results[0].seq == 1)
        #expect(outcome.results[1].error?.code == .conflict)
        #expect(outcome.results[1].error?.field == "call.id")
        #expect(outcome.results[2].seq == 2)
        // The refused 999 start raised no alert: its savepoint took the alert with it.
        #expect(outcome.alerts.isEmpty)
        #expect(try t.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM alerts") } == 0)
        #expect(try t.store.call(id: Self.callA)?.state.route == "non-emergency")
    }

    // MARK: - Idempotency

    @Test func aDuplicateEventIDInTheSameBatchAnswersTheFirstAcknowledgement() throws {
        let eventA = UUIDText.random()
        let outcome = t.commit([
            Fixture.start(Self.callA, eventID: eventA),
            Fixture.start(Self.callB),
            Fixture.start(Self.callA, eventID: eventA),
        ])
        #expect(outcome.results[0].ack == Self.nonEmergencyAck(Self.callA, seq: 1))
        #expect(outcome.results[1].seq == 2)
        #expect(outcome.results[2].ack == Self.nonEmergencyAck(Self.callA, seq: 1).with("duplicate", true))
        #expect(try t.store.counts().events == 2)

        // And in a later batch, after the next event took seq 3.
        let later = t.commit([Fixture.end(Self.callB), Fixture.start(Self.callA, eventID: eventA)])
        #expect(later.results[0].seq == 3)
        #expect(later.results[1].ack == Self.nonEmergencyAck(Self.callA, seq: 1).with("duplicate", true))
        #expect(try t.store.counts().events == 3)
    }

    @Test func theSameEventIDWithOtherContentIsAConflictOnEventID() throws {
        let eventA = UUIDText.random()
        #expect(t.commitOne(Fixture.start(Self.callA, eventID: eventA)).seq == 1)

        let others: [WriteEvent] = [
            Fixture.start(Self.callA, dialled: "102", eventID: eventA),
            Fixture.start(Self.callA, at: "2026-11-24T19:02:12Z", eventID: eventA),
            Fixture.start(Self.callB, eventID: eventA),
            Fixture.start(Self.callA, anonymousRequested: false, eventID: eventA),
            Fixture.start(Self.callA, eventID: eventA, handler: "9999"),
            Fixture.update(Self.callA, CallChanges(category: "noise"), eventID: eventA),
            Fixture.end(Self.callA, eventID: eventA),
        ]
        for (i, event) in others.enumerated() {
            let error = t.commitOne(event).error
            #expect(error?.code == .conflict, "variant \(i)")
            #expect(error?.field == "event_id", "variant \(i)")
            #expect(error?.message.contains("seq 1") == true, "variant \(i): \(error?.message ?? "")")
        }
        #expect(try t.store.counts().events == 1)
        #expect(try t.store.counts().calls == 1)
    }

    @Test func resendsCompareIdentityAndFreeTextToo() throws {
        let identity = CallerIdentity(cli: "+447700900123", name: "Ann Example")
        let startEvent = UUIDText.random(), noteEvent = UUIDText.random(), placeEvent = UUIDText.random()
        let place = Location(text: "Car park behind the station", lat: 52.92, lon: -1.47)
        let outcome = t.commit([
            Fixture.start(Self.callA, identity: identity, eventID: startEvent),
            Fixture.update(Self.callA, note: "Caller saw a white van", eventID: noteEvent),
            Fixture.update(Self.callA, CallChanges(location: place), eventID: placeEvent),
        ])
        #expect(outcome.results.map(\.seq) == [1, 2, 3])

        func answer(_ event: WriteEvent) -> Result<WriteAck, HotlineError> { t.commitOne(event) }

        // The same content again: the original answer.
        #expect(
            answer(Fixture.start(Self.callA, identity: identity, eventID: startEvent)).ack
                == outcome.results[0].ack?.with("duplicate", true))
        #expect(
            answer(Fixture.update(Self.callA, note: "Caller saw a white van", eventID: noteEvent)).ack
                == outcome.results[1].ack?.with("duplicate", true))
        #expect(
            answer(Fixture.update(Self.callA, CallChanges(location: place), eventID: placeEvent)).ack
                == outcome.results[2].ack?.with("duplicate", true))

        // Other identity or other free text under the same event_id: conflict.
        let conflicting: [WriteEvent] = [
            Fixture.start(Self.callA, identity: CallerIdentity(cli: "+447700900999", name: "Ann Example"), eventID: startEvent),
            Fixture.start(Self.callA, identity: CallerIdentity(cli: "+447700900123"), eventID: startEvent),
            Fixture.start(Self.callA, eventID: startEvent),
            Fixture.update(Self.callA, note: "Caller saw a white car", eventID: noteEvent),
            Fixture.update(Self.callA, eventID: noteEvent),
            Fixture.update(
                Self.callA, CallChanges(location: Location(text: "Bus stop", lat: 52.92, lon: -1.47)), eventID: placeEvent),
        ]
        for (i, event) in conflicting.enumerated() {
            let error = answer(event).error
            #expect(error?.code == .conflict, "variant \(i)")
            #expect(error?.field == "event_id", "variant \(i)")
        }
        #expect(try t.store.counts().events == 3)
        #expect(try t.store.call(id: Self.callA)?.state.identity == identity)
    }

    /// PROTOCOL.md section 5: "with other content it is conflict". An event stored without
    /// identifying fields, sent again with some, is other content; answering it as a
    /// duplicate silently drops the caller's number.
    @Test func aResendThatAddsIdentityToAnEventStoredWithoutIsAConflict() throws {
        let startEvent = UUIDText.random(), updateEvent = UUIDText.random()
        #expect(
            t.commit([
                Fixture.start(Self.callA, eventID: startEvent),
                Fixture.update(Self.callA, CallChanges(category: "noise"), eventID: updateEvent),
            ]).results.map(\.seq) == [1, 2])

        let withCLI = t.commitOne(Fixture.start(Self.callA, identity: CallerIdentity(cli: "+447700900123"), eventID: startEvent))
        #expect(withCLI.error?.code == .conflict)
        #expect(withCLI.error?.field == "event_id")

        let withName = t.commitOne(
            Fixture.update(Self.callA, CallChanges(category: "noise", identity: CallerIdentity(name: "Ann")), eventID: updateEvent))
        #expect(withName.error?.code == .conflict)
        #expect(withName.error?.field == "event_id")
    }

    // MARK: - Alerts

    @Test func a999StartRaisesOneAlertStoredInTheSameTransaction() throws {
        let start999 = UUIDText.random()
        let outcome = t.commit([
            Fixture.start(Self.callA, dialled: "999", eventID: start999),
            Fixture.start(Self.callB, dialled: "101"),
        ])
        #expect(outcome.alerts.count == 1)
        let alert = try #require(outcome.alerts.first)
        #expect(alert.callID == Self.callA)
        #expect(alert.seq == 1)
        #expect(alert.route == "emergency")
        #expect(alert.grade == .emergency)
        #expect(alert.reason == .emergencyLine)
        #expect(alert.level == 1)
        #expect(alert.raisedAt == Fixture.now)
        #expect(alert.ackedAt == nil)
        #expect(UUIDText.normalise(alert.id) == alert.id)

        #expect(
            outcome.results[0].ack == [
                "call_id": .string(Self.callA), "seq": 1, "route": "emergency", "grade": "emergency", "marking": "OFFICIAL",
                "anonymous": false, "escalated": true, "alert_id": .string(alert.id), "stripped": [],
                "route_anonymity": "forbidden", "route_grade": "emergency",
            ])
        #expect(outcome.results[1].ack == Self.nonEmergencyAck(Self.callB, seq: 2))

        let rows = try t.read { db in
            try Row.fetchAll(db, sql: "SELECT alert_id, call_id, seq, route, grade, reason, level, raised_at, acked_at FROM alerts")
        }
        #expect(rows.count == 1)
        #expect(rows.first?["alert_id"] as String? == alert.id)
        #expect(rows.first?["call_id"] as String? == Self.callA)
        #expect(rows.first?["seq"] as Int64? == 1)
        #expect(rows.first?["reason"] as String? == "emergency-line")
        #expect(rows.first?["raised_at"] as Int64? == Fixture.now.microseconds)
        #expect(rows.first?["acked_at"] as Int64? == nil)
        #expect(try t.store.call(id: Self.callA)?.alerts == [alert])
        #expect(try t.store.call(id: Self.callB)?.alerts == [])
        #expect(try t.store.counts().alertsUnacked == 1)

        // A resend raises nothing new.
        let resent = t.commit([Fixture.start(Self.callA, dialled: "999", eventID: start999)])
        #expect(resent.results[0].ack?["alert_id"] == .string(alert.id))
        #expect(resent.results[0].ack?["duplicate"] == true)
        #expect(resent.alerts.isEmpty)
        #expect(try t.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM alerts") } == 1)
    }

    @Test func threatToLifeRaisesOneAlertPerCall() throws {
        #expect(t.commitOne(Fixture.start(Self.callA, dialled: "0800 789 321")).ack?["grade"] == "priority")
        let threat = CallChanges(flags: ["threat_to_life": true])
        let outcome = t.commit([
            Fixture.update(Self.callA, threat),
            Fixture.update(Self.callA, threat),
            Fixture.update(Self.callA, CallChanges(flags: ["threat_to_life": false])),
            Fixture.update(Self.callA, threat),
        ])
        #expect(outcome.results.map(\.seq) == [2, 3, 4, 5])
        #expect(outcome.alerts.count == 1)
        let alert = try #require(outcome.alerts.first)
        #expect(alert.reason == .threatToLife)
        #expect(alert.seq == 2)
        #expect(alert.grade == .emergency)
        #expect(alert.route == "anti-terrorist-hotline")
        #expect(outcome.results[0].ack?["alert_id"] == .string(alert.id))
        #expect(outcome.results[0].ack?["grade"] == "emergency")
        #expect(outcome.results[0].ack?["escalated"] == true)
        for later in outcome.results.dropFirst() {
            #expect(later.ack?["alert_id"] == .null)
            #expect(later.ack?["escalated"] == true)
        }

        // Another batch, flagged again: still the one alert.
        #expect(t.commit([Fixture.update(Self.callA, threat)]).alerts.isEmpty)
        let stored = try t.read { db in
            try String.fetchAll(db, sql: "SELECT alert_id FROM alerts WHERE call_id = ?", arguments: [Self.callA])
        }
        #expect(stored == [alert.id])

        // Another call on another route gets its own.
        t.commit([Fixture.start(Self.callB, dialled: "101")])
        let other = t.commit([Fixture.update(Self.callB, threat)])
        #expect(other.alerts.map(\.callID) == [Self.callB])
        #expect(other.alerts.map(\.reason) == [.threatToLife])
        #expect(try t.store.counts().alertsUnacked == 2)
    }

    // MARK: - Anonymity

    /// Issue 13: a reader holding a snapshot from before an erasure keeps the WAL (and the
    /// identity's ciphertext in it) from being truncated; once it lets go, the next batch
    /// truncates it, though the writer never falls idle.
    @Test func anErasureHeldUpByAReaderIsFinishedByTheNextBatch() throws {
        let identity = CallerIdentity(cli: "+447700900123", name: "Harriet Quimby-Smythe")
        t.commit([Fixture.start(Self.callA, dialled: "0800 789 321", identity: identity)])
        let sealed = try #require(try t.read { db in try Data.fetchOne(db, sql: "SELECT secret FROM event_identity") })
        let store = t.store
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? store.pool.read { db in
                _ = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event_identity")  // the snapshot is taken
                holding.signal()
                release.wait()
            }
            done.signal()
        }
        holding.wait()
        #expect(t.commitOne(Fixture.update(Self.callA, CallChanges(anonymousRequested: true))).ack?["anonymous"] == true)
        #expect(t.store.isScrubPending, "the reader should have held the truncation up")
        #expect(try t.fileBytes().contains { $0.1.contains(bytes: Array(sealed.prefix(16))) })
        release.signal()
        done.wait()
        // Another call's write, no idle moment in between: the truncation is done with it.
        t.commit([Fixture.start(Self.callB, dialled: "101")])
        #expect(!t.store.isScrubPending)
        #expect(try t.walSize() == 0)
        for chunk in [UInt8](sealed).chunks(of: 16) {
            #expect(try t.fileBytes().allSatisfy { !$0.1.contains(bytes: chunk) }, "the erased identity's ciphertext is still on disk")
        }
    }

    /// Issue 13, item 6: a read of the daemon's own that keeps running (a `verify` of a large
    /// log) no longer keeps an erased identity's ciphertext in the WAL for as long as it runs:
    /// after `erasureGrace` it is interrupted, and the next try truncates the WAL.
    @Test func aBusyReadHoldingTheWALIsInterruptedSoThatAnErasureFinishes() throws {
        let identity = CallerIdentity(cli: "+447700900123", name: "Harriet Quimby-Smythe")
        t.commit([Fixture.start(Self.callA, dialled: "0800 789 321", identity: identity)])
        t.commit((0..<300).map { Fixture.update(Self.callA, note: "note \($0)") })
        let sealed = try #require(try t.read { db in try Data.fetchOne(db, sql: "SELECT secret FROM event_identity") })
        let store = t.store
        let started = DispatchSemaphore(value: 0)
        let outcome = Mutex<(rows: Int, error: String?)>((0, nil))
        let done = DispatchSemaphore(value: 0)
        // A read that steps through the log slowly, as a verify of millions of rows does:
        // 300 rows, 20 ms each, would hold its snapshot for six seconds.
        DispatchQueue.global().async {
            do {
                try store.pool.read { db in
                    let rows = try Row.fetchCursor(db, sql: "SELECT seq FROM events ORDER BY seq")
                    started.signal()
                    while try rows.next() != nil {
                        outcome.withLock { $0.rows += 1 }
                        usleep(20_000)
                    }
                }
            } catch {
                outcome.withLock { $0.error = "\(error)" }
            }
            done.signal()
        }
        started.wait()
        let erased = ContinuousClock.now
        #expect(t.commitOne(Fixture.update(Self.callA, CallChanges(anonymousRequested: true))).ack?["anonymous"] == true)
        #expect(t.store.isScrubPending, "the read should have held the truncation up")
        // Writes go on (a control room at work), each batch trying the truncation again.
        while t.store.isScrubPending, ContinuousClock.now - erased < .seconds(30) {
            t.commit([Fixture.start(UUIDText.random(), dialled: "101")])
            usleep(50_000)
        }
        let took = ContinuousClock.now - erased
        #expect(!t.store.isScrubPending)
        #expect(done.wait(timeout: .now() + 30) == .success)
        let (rows, error) = outcome.withLock { $0 }
        #expect(error?.contains("interrupt") == true, "the read was not interrupted: \(rows) rows, \(error ?? "no error")")
        #expect(rows < 300, "the read ran to its end")
        #expect(try t.walSize() == 0)
        for chunk in [UInt8](sealed).chunks(of: 16) {
            #expect(try t.fileBytes().allSatisfy { !$0.1.contains(bytes: chunk) }, "the erased identity's ciphertext is still on disk")
        }
        print("erasure finished \(took) after the acknowledgement; the read was interrupted after \(rows) of 300 rows")
    }

    @Test func anonymityMidCallErasesTheCallsIdentityAndEmptiesTheWAL() throws {
        let identity = CallerIdentity(cli: "+447700900123", name: "Harriet Quimby-Smythe", address: "17 Larkspur Crescent")
        let startA = UUIDText.random()
        let first = t.commit([
            Fixture.start(Self.callA, dialled: "0800 789 321", identity: identity, eventID: startA),
            Fixture.start(Self.callB, dialled: "101", identity: CallerIdentity(cli: "+447700900777")),
        ])
        #expect(first.results.map(\.seq) == [1, 2])
        #expect(t.commitOne(Fixture.update(Self.callA, CallChanges(identity: CallerIdentity(contact: "07700 900456")))).seq == 3)

        func identityRows(_ call: String) throws -> [Int64] {
            try t.read { db in
                try Int64.fetchAll(db, sql: "SELECT seq FROM event_identity WHERE call_id = ? ORDER BY seq", arguments: [call])
            }
        }
        func identityColumn(_ call: String) throws -> Data? {
            try t.read { db in
                try Row.fetchOne(db, sql: "SELECT identity FROM calls WHERE call_id = ?", arguments: [call])?["identity"] as Data?
            }
        }
        #expect(try identityRows(Self.callA) == [1, 3])
        #expect(try identityRows(Self.callB) == [2])
        #expect(try identityColumn(Self.callA) != nil)

        // The ciphertexts of A's identity, in pieces, as they sit in the files now.
        let sealed: [[UInt8]] = try t.read { db in
            try Data.fetchAll(
                db, sql: "SELECT secret FROM event_identity WHERE call_id = ? UNION ALL SELECT identity FROM calls WHERE call_id = ?",
                arguments: [Self.callA, Self.callA])
        }.flatMap { [UInt8]($0).chunks(of: 16) }
        #expect(sealed.count >= 6)
        let before = try t.fileBytes()
        for chunk in sealed { #expect(before.contains { $0.1.contains(bytes: chunk) }) }

        let anonymous = t.commitOne(
            Fixture.update(Self.callA, CallChanges(anonymousRequested: true, identity: CallerIdentity(cli: "+447700900123"))))
        #expect(
            anonymous.ack == [
                "call_id": .string(Self.callA), "seq": 4, "route": "anti-terrorist-hotline", "grade": "priority",
                "marking": "OFFICIAL-SENSITIVE", "anonymous": true, "escalated": false, "alert_id": nil, "stripped": ["cli"],
            ])
        #expect(try t.walSize() == 0)

        #expect(try identityRows(Self.callA) == [])
        #expect(try identityColumn(Self.callA) == nil)
        #expect(try identityRows(Self.callB) == [2])
        #expect(try identityColumn(Self.callB) != nil)
        let state = try #require(try t.store.call(id: Self.callA)?.state)
        #expect(state.identity == CallerIdentity())
        #expect(state.anonymous)
        #expect(state.anonymousRequested)
        #expect(try t.store.call(id: Self.callB)?.state.identity == CallerIdentity(cli: "+447700900777"))

        for (file, bytes) in try t.fileBytes() {
            for chunk in sealed {
                #expect(!bytes.contains(bytes: chunk), "a piece of the erased identity is still in \(file)")
            }
        }

        // A resend of the first event, identity and all, answers its original acknowledgement
        // and brings none of the erased identity back.
        let resent = t.commitOne(Fixture.start(Self.callA, dialled: "0800 789 321", identity: identity, eventID: startA))
        #expect(resent.ack == first.results[0].ack?.with("duplicate", true))
        #expect(try identityRows(Self.callA) == [])
        #expect(try identityColumn(Self.callA) == nil)

        // Later identifying fields are dropped, and the call never becomes identifiable again.
        let later = t.commitOne(
            Fixture.update(Self.callA, CallChanges(anonymousRequested: false, identity: CallerIdentity(name: "Harriet"))))
        #expect(later.ack?["anonymous"] == true)
        #expect(later.ack?["stripped"] == ["caller.name"])
        #expect(later.ack?["notice"] != nil)
        #expect(try identityRows(Self.callA) == [])
        #expect(try t.store.call(id: Self.callA)?.state.identity == CallerIdentity())
    }

    @Test func anonymityAskedInTheSameBatchAsTheStartLeavesNoIdentityRow() throws {
        let outcome = t.commit([
            Fixture.start(Self.callA, dialled: "0800 789 321", identity: CallerIdentity(cli: "+447700900123", name: "Ann")),
            Fixture.update(Self.callA, CallChanges(anonymousRequested: true)),
            Fixture.start(Self.callB, dialled: "101", identity: CallerIdentity(name: "Bob"), anonymousRequested: true),
        ])
        #expect(outcome.results.map(\.seq) == [1, 2, 3])
        #expect(outcome.results[0].ack?["anonymous"] == false)
        #expect(outcome.results[1].ack?["anonymous"] == true)
        #expect(outcome.results[1].ack?["stripped"] == [])
        #expect(outcome.results[2].ack?["anonymous"] == true)
        #expect(outcome.results[2].ack?["stripped"] == ["caller.name"])
        #expect(try t.walSize() == 0)
        #expect(try t.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM event_identity") } == 0)
        #expect(try t.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM calls WHERE identity IS NOT NULL") } == 0)
        #expect(try t.store.call(id: Self.callA)?.state.identity == CallerIdentity())
        #expect(try t.store.call(id: Self.callB)?.state.identity == CallerIdentity())
    }

    @Test func anonymityOnTheEmergencyRouteKeepsTheIdentityWithANotice() throws {
        let identity = CallerIdentity(cli: "+447700900123")
        let answer = t.commitOne(Fixture.start(Self.callA, dialled: "999", identity: identity, anonymousRequested: true))
        #expect(answer.ack?["anonymous"] == false)
        #expect(answer.ack?["stripped"] == [])
        #expect(answer.ack?["notice"]?.stringValue?.contains("emergency") == true)
        let state = try #require(try t.store.call(id: Self.callA)?.state)
        #expect(state.identity == identity)
        #expect(state.anonymousRequested)
        #expect(!state.anonymous)
        #expect(try t.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM event_identity") } == 1)
    }

    // MARK: - Projection and reads

    @Test func theProjectionAfterABatchIsWhatCallGetReturns() throws {
        let events: [(WriteEvent, Peer)] = [
            (
                Fixture.start(Self.callA, dialled: "0800 789 321", identity: CallerIdentity(cli: "+447700900123", name: "Ann")),
                Fixture.handler
            ),
            (Fixture.start(Self.callB, dialled: "999"), Fixture.otherHandler),
            (
                Fixture.update(
                    Self.callA,
                    CallChanges(
                        category: "suspicious-activity", location: Location(text: "Car park", lat: 52.92, lon: -1.47),
                        flags: ["vulnerable_person": true], grade: .emergency, marking: .secret,
                        identity: CallerIdentity(contact: "07700 900456")),
                    note: "Caller saw a white van"), Fixture.handler
            ),
            (
                Fixture.update(Self.callA, at: "2026-11-24T19:04:00Z", CallChanges(flags: ["threat_to_life": true]), note: "Van has left"),
                Fixture.handler
            ),
            (Fixture.update(Self.callA, CallChanges(marking: .official), reason: "declassified"), Fixture.supervisor),
            (Fixture.end(Self.callA, outcome: "dispatched"), Fixture.handler),
        ]
        let outcome = t.store.commit(
            events.map { Fixture.submission($0.0, by: $0.1) }, policy: t.policy, now: Fixture.now)
        #expect(outcome.results.map(\.seq) == [1, 2, 3, 4, 5, 6])

        // The same events folded through the pure policy.
        var expected: [String: CallState] = [:]
        var notes: [Note] = []
        for (i, (event, peer)) in events.enumerated() {
            let decision = try t.policy.apply(event, to: expected[event.callID], by: peer, seq: Int64(i + 1), now: Fixture.now)
            expected[event.callID] = decision.state
            if let note = decision.note { notes.append(note) }
        }

        let detail = try #require(try t.store.call(id: Self.callA))
        #expect(detail.state == expected[Self.callA])
        #expect(detail.notes == notes)
        #expect(detail.notes.map(\.text) == ["Caller saw a white van", "Van has left"])
        #expect(detail.alerts == outcome.alerts.filter { $0.callID == Self.callA })
        #expect(try t.store.call(id: Self.callB)?.state == expected[Self.callB])
        #expect(try t.store.call(id: Self.callX) == nil)

        // What was answered agrees with what is stored.
        let last = try #require(outcome.results[5].ack)
        #expect(last["grade"] == .string(detail.state.grade.rawValue))
        #expect(last["marking"] == .string(detail.state.marking.rawValue))
        #expect(last["escalated"] == .bool(detail.state.escalated))
        #expect(detail.state.grade == .emergency)
        #expect(detail.state.marking == .official)
        #expect(detail.state.outcome == "dispatched")
        #expect(detail.state.location == Location(text: "Car park", lat: 52.92, lon: -1.47))
        #expect(detail.state.identity == CallerIdentity(cli: "+447700900123", name: "Ann", contact: "07700 900456"))
        #expect(detail.notes.count == 2)
    }

    @Test func listCallsPagesByFirstSeqAndFiltersByRouteAndOwner() throws {
        let ids = (0...6).map { String(format: "00000000-0000-4000-8000-%012d", $0) }
        let starts: [(WriteEvent, Peer)] = [
            (Fixture.start(ids[0], dialled: "101", at: "2026-11-24T18:59:59Z"), Fixture.handler),  // before the window
            (
                Fixture.start(ids[1], dialled: "101", at: "2026-11-24T19:00:00Z", identity: CallerIdentity(cli: "+447700900123")),
                Fixture.handler
            ),
            (Fixture.start(ids[2], dialled: "999", at: "2026-11-24T19:10:00Z"), Fixture.otherHandler),
            (Fixture.start(ids[3], dialled: "0800 789 321", at: "2026-11-24T19:20:00Z"), Fixture.handler),
            (Fixture.start(ids[4], dialled: "112", at: "2026-11-24T19:30:00Z"), Fixture.handler),
            (Fixture.start(ids[5], dialled: "101", at: "2026-11-24T19:40:00Z"), Fixture.otherHandler),
            (Fixture.start(ids[6], dialled: "101", at: "2026-11-24T20:00:00Z"), Fixture.handler),  // at `to`: excluded
        ]
        let outcome = t.store.commit(starts.map { Fixture.submission($0.0, by: $0.1) }, policy: t.policy, now: Fixture.now)
        #expect(outcome.results.map(\.seq) == [1, 2, 3, 4, 5, 6, 7])
        // A later update does not move a call in the list.
        #expect(t.commitOne(Fixture.update(ids[1], CallChanges(category: "noise"))).seq == 8)

        let from = Fixture.ts("2026-11-24T19:00:00Z"), to = Fixture.ts("2026-11-24T20:00:00Z")
        func page(route: String? = nil, limit: Int, after: Int64? = nil, owner: UInt32? = nil) throws -> ([String], Int64?) {
            let p = try t.store.listCalls(CallsQuery(from: from, to: to, route: route, limit: limit, afterSeq: after), ownerUID: owner)
            return (p.calls.map(\.id), p.nextAfterSeq)
        }

        let p1 = try page(limit: 2)
        #expect(p1.0 == [ids[1], ids[2]])
        #expect(p1.1 == 3)
        let p2 = try page(limit: 2, after: p1.1)
        #expect(p2.0 == [ids[3], ids[4]])
        #expect(p2.1 == 5)
        let p3 = try page(limit: 2, after: p2.1)
        #expect(p3.0 == [ids[5]])
        #expect(p3.1 == nil)

        // Exactly `limit` left: no next page.
        #expect(try page(limit: 5) == ([ids[1], ids[2], ids[3], ids[4], ids[5]], nil))
        #expect(try page(limit: 4) == ([ids[1], ids[2], ids[3], ids[4]], 5))

        #expect(try page(route: "emergency", limit: 100) == ([ids[2], ids[4]], nil))
        #expect(try page(route: "emergency", limit: 1) == ([ids[2]], 3))
        #expect(try page(route: "emergency", limit: 1, after: 3) == ([ids[4]], nil))
        #expect(try page(route: "no-such-route", limit: 100) == ([], nil))
        #expect(try page(limit: 100, owner: Fixture.otherHandler.uid) == ([ids[2], ids[5]], nil))
        #expect(try page(limit: 1, owner: Fixture.otherHandler.uid) == ([ids[2]], 3))
        #expect(try page(limit: 1, after: 3, owner: Fixture.otherHandler.uid) == ([ids[5]], nil))
        #expect(try page(route: "emergency", limit: 100, owner: Fixture.handler.uid) == ([ids[4]], nil))

        // Summaries carry no identifying field.
        let first = try #require(try t.store.listCalls(CallsQuery(from: from, to: to, limit: 1)).calls.first)
        #expect(first.id == ids[1])
        #expect(first.identity == CallerIdentity())
        #expect(CallSummary(first).json["cli"] == nil)
        #expect(first.category == "noise")
        #expect(first.lastSeq == 8)
    }

    @Test func countsAreEventsCallsOpenCallsAndUnackedAlerts() throws {
        let empty = try t.store.counts()
        #expect([empty.events, empty.calls, empty.callsOpen, empty.alertsUnacked] == [0, 0, 0, 0])
        t.commit([
            Fixture.start(Self.callA, dialled: "999"),
            Fixture.start(Self.callB, dialled: "101"),
            Fixture.update(Self.callX, CallChanges(category: "noise")),  // never started: not stored
            Fixture.end(Self.callB),
            Fixture.update(Self.callB, note: "Wrap-up note"),
        ])
        let c = try t.store.counts()
        #expect(c.events == 4)
        #expect(c.calls == 2)
        #expect(c.callsOpen == 1)
        #expect(c.alertsUnacked == 1)
    }

    /// `limits.max_database_bytes` accepts 1 MiB (Configuration.problems()); a store capped
    /// there must at least open and take a call.
    @Test func aStoreCappedAtTheSmallestAllowedSizeOpensAndTakesACall() throws {
        let small = try TemporaryStore(maxBytes: 1_048_576)
        #expect(small.commitOne(Fixture.start(Self.callA)).seq == 1)
    }

    /// With `limits.max_database_bytes`, writes past the cap answer `storage`; every event
    /// answered with a seq is in the log, and nothing answered `storage` is.
    @Test func aFullDatabaseAnswersStorageAndLosesNoAcknowledgedEvent() throws {
        let small = try TemporaryStore(maxBytes: 131072)
        small.commit([Fixture.start(Self.callA, dialled: "0800 789 321")])
        var stored: [(String, Int64)] = [("", 1)]
        var refused: [String] = []
        let note = String(repeating: "The caller described the vehicle again. ", count: 40)
        for _ in 0..<200 where refused.isEmpty {
            let events = (0..<8).map { _ in Fixture.update(Self.callA, note: note) }
            let outcome = small.commit(events)
            for (event, result) in zip(events, outcome.results) {
                switch result {
                case .success(let ack): stored.append((event.eventID, ack.seq))
                case .failure(let error):
                    #expect(error.code == .storage)
                    refused.append(event.eventID)
                }
            }
        }
        #expect(!refused.isEmpty, "the database never filled up")
        #expect(stored.map(\.1) == Array(1...Int64(stored.count)))
        let log = try small.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, event_id FROM events ORDER BY seq").map {
                ($0["seq"] as Int64, $0["event_id"] as String)
            }
        }
        #expect(log.map(\.0) == stored.map(\.1))
        #expect(Array(log.map(\.1).dropFirst()) == Array(stored.map(\.0).dropFirst()))
        #expect(Set(log.map(\.1)).isDisjoint(with: refused))
        #expect(try small.store.counts().events == Int64(stored.count))
        #expect(try small.store.call(id: Self.callA)?.notes.count == stored.count - 1)
    }

    @Test func reopeningTheStoreKeepsEverything() throws {
        let startA = UUIDText.random()
        let outcome = t.commit([
            Fixture.start(Self.callA, dialled: "0800 789 321", identity: CallerIdentity(cli: "+447700900123"), eventID: startA),
            Fixture.update(Self.callA, CallChanges(location: Location(text: "Car park", lat: 52.92, lon: -1.47)), note: "A note"),
            Fixture.start(Self.callB, dialled: "999"),
        ])
        #expect(outcome.results.map(\.seq) == [1, 2, 3])
        let beforeA = try #require(try t.store.call(id: Self.callA))
        let beforeB = try #require(try t.store.call(id: Self.callB))
        let counts = try t.store.counts()

        try t.reopen()

        let afterA = try #require(try t.store.call(id: Self.callA))
        #expect(afterA.state == beforeA.state)
        #expect(afterA.notes == beforeA.notes)
        #expect(afterA.notes.map(\.text) == ["A note"])
        #expect(afterA.state.identity == CallerIdentity(cli: "+447700900123"))
        #expect(try t.store.call(id: Self.callB)?.alerts == beforeB.alerts)
        #expect(beforeB.alerts.count == 1)
        let again = try t.store.counts()
        #expect(
            [again.events, again.calls, again.callsOpen, again.alertsUnacked]
                == [counts.events, counts.calls, counts.callsOpen, counts.alertsUnacked])
        #expect(again.events == 3)

        // The log goes on from where it was, and remembers what it acknowledged.
        #expect(t.commitOne(Fixture.end(Self.callA)).seq == 4)
        let resent = t.commitOne(
            Fixture.start(Self.callA, dialled: "0800 789 321", identity: CallerIdentity(cli: "+447700900123"), eventID: startA))
        #expect(resent.ack == outcome.results[0].ack?.with("duplicate", true))
    }
}
