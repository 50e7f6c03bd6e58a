import Foundation
import GRDB
import HotlineClient
import HotlineCore
import Testing

/// Anonymity and confidentiality at rest (PROTOCOL.md section 6), proved on the bytes of
/// the database files, not just on what the daemon answers.
@Suite(.serialized)
struct AnonymityTests {
    @Test func askingForAnonymityMidCallErasesEveryByteOfTheIdentity() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        let call = UUIDText.random()
        let cli = "+447700900123"
        let name = "Harriet Quimby-Smythe"
        let address = "17 Larkspur Crescent, Derby"
        let started = try c.call(
            Req.start(
                call: call, dialled: "0800 789 321",
                extra: ["cli": .string(cli), "caller": ["name": .string(name), "address": .string(address)]]))
        #expect(started.isOK)
        #expect(started["anonymous"] == false)
        #expect(try c.call(Req.update(call: call, set: ["caller": ["contact": "07700 900 456"]])).isOK)
        let before = try c.call(["op": "call.get", "call_id": .string(call)])
        #expect(before["call"]?["cli"] == .string(cli))
        #expect(before["call"]?["caller"]?["name"] == .string(name))

        // The ciphertexts of the identity as they sit in the database now.
        let sealed: [[UInt8]] = try DatabaseQueue(path: daemon.database, configuration: readOnly()).read { db in
            // Each ciphertext in pieces, so that a surviving fragment of one would be found too.
            (try Data.fetchAll(db, sql: "SELECT secret FROM event_identity UNION ALL SELECT identity FROM calls"))
                .flatMap { [UInt8]($0).chunked(into: 24).filter { $0.count == 24 } }
        }
        #expect(sealed.count >= 3)
        for chunk in sealed {
            #expect(daemon.databaseBytes().contains { $0.1.contains(bytes: chunk) })
        }

        let anonymous = try c.call(
            Req.update(call: call, set: ["anonymous_requested": true, "cli": .string(cli)], note: "Caller asked to stay anonymous"))
        #expect(anonymous["anonymous"] == true)
        #expect(anonymous["stripped"] == ["cli"])

        let after = try c.call(["op": "call.get", "call_id": .string(call)])
        #expect(after["call"]?["cli"] == .null)
        #expect(after["call"]?["caller"] == .null)
        #expect(after["call"]?["anonymous"] == true)
        // Later identifying fields are dropped, and the call never becomes identifiable again.
        let later = try c.call(Req.update(call: call, set: ["anonymous_requested": false, "caller": ["name": "Harriet"]]))
        #expect(later["anonymous"] == true)
        #expect(later["stripped"] == ["caller.name"])
        #expect(later["notice"] != nil)

        for (file, bytes) in daemon.databaseBytes() {
            for chunk in sealed {
                #expect(!bytes.contains(bytes: chunk), "a ciphertext of the erased identity is still in \(file)")
            }
            for secret in [cli, name, address, "Larkspur", "07700 900 456", "Caller asked"] {
                #expect(!bytes.contains(bytes: Array(secret.utf8)), "\(secret) is in \(file)")
            }
        }
        // After a restart too (the WAL is replayed or gone; nothing comes back).
        daemon.stop()
        for (file, bytes) in daemon.databaseBytes() {
            for chunk in sealed { #expect(!bytes.contains(bytes: chunk), "erased identity found in \(file) after stop") }
        }
        try daemon.start()
        let restarted = try daemon.connect().call(["op": "call.get", "call_id": .string(call)])
        #expect(restarted["call"]?["cli"] == .null)
        #expect(restarted["call"]?["notes"]?.arrayValue?.count == 1)
    }

    @Test func anonymousFromTheStartStoresNoIdentity() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        let r = try c.call(
            Req.start(
                dialled: "+44 800 789 321",
                extra: ["cli": "07700900777", "caller": ["name": "Zebedee Anon"], "anonymous_requested": true]))
        #expect(r["route"] == "anti-terrorist-hotline")
        #expect(r["marking"] == "OFFICIAL-SENSITIVE")
        #expect(r["anonymous"] == true)
        #expect(r["stripped"] == ["cli", "caller.name"])
        let count = try DatabaseQueue(path: daemon.database, configuration: readOnly()).read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event_identity")
        }
        #expect(count == 0)
    }

    @Test func emergencyLineKeepsTheCallerIdentityWithANotice() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        let call = UUIDText.random()
        let r = try c.call(Req.start(call: call, dialled: "999", extra: ["cli": "+447700900123", "anonymous_requested": true]))
        #expect(r["route"] == "emergency")
        #expect(r["anonymous"] == false)
        #expect(r["stripped"] == [])
        #expect(r["notice"]?.stringValue?.contains("line identity") == true)
        #expect(r["escalated"] == true)
        #expect(r["alert_id"]?.stringValue != nil)
        let got = try c.call(["op": "call.get", "call_id": .string(call)])
        #expect(got["call"]?["cli"] == "+447700900123")
        #expect(got["call"]?["anonymous_requested"] == true)
        #expect(got["call"]?["alerts"]?.arrayValue?.first?["reason"] == "emergency-line")
    }

    @Test func notesAndLocationsAreNeverStoredInPlaintext() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        let call = UUIDText.random()
        #expect(try c.call(Req.start(call: call, dialled: "101")).isOK)
        let note = "Blue Transit van, registration KX19 ABC, parked by the gasworks"
        let place = "Behind the Ambergate gasworks"
        #expect(
            try c.call(Req.update(call: call, set: ["location": ["text": .string(place), "lat": 53.061234, "lon": -1.481234]], note: note))
                .isOK)
        daemon.stop()
        for (file, bytes) in daemon.databaseBytes() {
            #expect(!bytes.contains(bytes: Array("KX19 ABC".utf8)), "note plaintext in \(file)")
            #expect(!bytes.contains(bytes: Array("Ambergate".utf8)), "location plaintext in \(file)")
            #expect(!bytes.contains(bytes: Array("53.061234".utf8)), "latitude in the clear in \(file)")
            #expect(!bytes.contains(bytes: Array("1.481234".utf8)), "longitude in the clear in \(file)")
        }
        try daemon.start()
        let got = try daemon.connect().call(["op": "call.get", "call_id": .string(call)])
        #expect(got["call"]?["notes"]?.arrayValue?.first?["text"] == .string(note))
        #expect(got["call"]?["location"]?["text"] == .string(place))
        #expect(got["call"]?["location"]?["lat"] == 53.061234)
        #expect(got["call"]?["location"]?["lon"] == -1.481234)
    }

    @Test func theDaemonRefusesToStartWithoutAKey() throws {
        let daemon = try Daemon()
        try FileManager.default.removeItem(atPath: daemon.directory + "/hotlined.key")
        let result = try run(
            Daemon.hotlined, ["--config", daemon.configPath, "--socket", daemon.socket, "--database", daemon.database])
        #expect(result.status != 0)
        #expect(result.stderr.contains("encryption key"))
        #expect(!FileManager.default.fileExists(atPath: daemon.database))
    }

    private func readOnly() -> GRDB.Configuration {
        var config = GRDB.Configuration()
        config.readonly = true
        return config
    }
}

extension Array {
    func chunked(into size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
