import Foundation
import HotlineClient
import HotlineCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The protocol over a real socket against the built daemon: framing, every error code,
/// pipelining and idempotency (PROTOCOL.md sections 1-5).
@Suite(.serialized)
struct ProtocolTests {
    @Test func helloPingAndRole() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        let hello = try c.call(["op": "hello", "protocol": 1, "workstation": "WS-07", "handler": "4471", "req": "h1"])
        #expect(hello.isOK)
        #expect(hello["req"] == "h1")
        #expect(hello["protocol"] == 1)
        #expect(hello["server"]?.stringValue?.hasPrefix("hotlined ") == true)
        #expect(hello["role"] == "supervisor")
        #expect(hello["roles"] == ["auditor", "handler", "supervisor"])  // uid 0 holds every role
        let ping = try c.call(["op": "ping", "req": 7])
        #expect(ping == ["ok": true, "req": 7])
    }

    @Test func badJSONKeepsTheConnectionOpen() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        try c.send(line: "this is not json")
        #expect(try c.receive().errorCode == "bad_json")
        try c.send(line: "[1, 2, 3]")
        #expect(try c.receive().errorCode == "bad_json")
        try c.write([UInt8]("{\"op\": \"ping\", \"req\": \"".utf8) + [0xC3, 0x28] + [UInt8]("\"}\n".utf8))
        #expect(try c.receive().errorCode == "bad_json")
        try c.send(line: "{\"op\":\"ping\",\"op\":\"stats\"}")
        #expect(try c.receive().errorCode == "bad_json")
        // CR before LF is tolerated and blank lines are ignored.
        try c.write(Array("\n   \r\n{\"op\":\"ping\",\"req\":1}\r\n".utf8))
        #expect(try c.receive() == ["ok": true, "req": 1])
    }

    @Test func lineTooLongIsAnsweredThenClosed() throws {
        let daemon = try Daemon(limits: ["max_line_bytes": 4096])
        try daemon.start()
        let c = try daemon.connect()
        try c.send(["op": "ping", "req": 1])
        try c.send(line: "{\"op\":\"ping\",\"pad\":\"" + String(repeating: "x", count: 5000) + "\"}")
        #expect(try c.receive() == ["ok": true, "req": 1])  // earlier answers still come first
        let tooLong = try c.receive()
        #expect(tooLong.errorCode == "line_too_long")
        #expect(try c.readLine() == nil)  // then the daemon closes the connection
        // A line of exactly the limit, LF included, is accepted.
        let c2 = try daemon.connect()
        let base = "{\"op\":\"ping\",\"req\":\"\"}"
        let line = "{\"op\":\"ping\",\"req\":\"" + String(repeating: "y", count: 4096 - 1 - base.utf8.count) + "\"}"
        #expect(line.utf8.count + 1 == 4096)
        try c2.send(line: line)
        #expect(try c2.receive().isOK)
    }

    @Test func aClientThatHalfClosesStillGetsEveryAnswer() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        let call = UUIDText.random()
        try c.send(Req.start(call: call, req: 1))
        try c.send(["op": "ping", "req": 2])
        try c.send(["op": "call.get", "call_id": .string(call), "req": 3])
        c.shutdownWrite()  // as `nc -N` or a script at the end of its input does
        #expect(try c.receive()["req"] == 1)
        #expect(try c.receive()["req"] == 2)
        #expect(try c.receive()["call"]?["id"] == .string(call))
        #expect(try c.readLine() == nil)
    }

    @Test func unknownOpAndUnknownFields() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        let unknown = try c.call(["op": "call.delete", "req": 1])
        #expect(unknown.errorCode == "unknown_op")
        #expect(unknown["req"] == 1)
        let misspelt = try c.call(Req.start(dialled: "0800 789 321", extra: ["anonymus_requested": true]))
        #expect(misspelt.errorCode == "invalid")
        #expect(misspelt.errorField == "call.anonymus_requested")
        let flag = try c.call(Req.update(call: UUIDText.random(), set: ["flags": ["threat_to_lif": true]]))
        #expect(flag.errorField == "set.flags.threat_to_lif")
        let noZone = try c.call(Req.start(at: "2026-11-24T19:02:11"))
        #expect(noZone.errorCode == "invalid")
        #expect(noZone.errorField == "call.received_at")
        #expect(noZone["error"]?["message"]?.stringValue?.contains("zone") == true)
        let letters = try c.call(Req.start(dialled: "0800 HOTLINE"))
        #expect(letters.errorField == "call.dialled")
        let version = try c.call(["op": "hello", "protocol": 2])
        #expect(version.errorCode == "unsupported_protocol")
    }

    @Test func notFoundAndConflicts() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        #expect(try c.call(["op": "call.get", "call_id": .string(UUIDText.random())]).errorCode == "not_found")
        let neverStarted = try c.call(Req.update(call: UUIDText.random(), note: "hello?"))
        #expect(neverStarted.errorCode == "conflict")
        let call = UUIDText.random()
        #expect(try c.call(Req.start(call: call, dialled: "101")).isOK)
        #expect(try c.call(Req.start(call: call, dialled: "101")).errorCode == "conflict")  // started twice
        #expect(try c.call(Req.end(call: call)).isOK)
        let secondEnd = try c.call(Req.end(call: call, outcome: "hoax"))
        #expect(secondEnd.errorCode == "conflict")
        // Wrap-up notes are accepted after the end.
        #expect(try c.call(Req.update(call: call, note: "Wrap-up: caller rang back.")).isOK)
    }

    @Test func eventIDsAreIdempotent() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        let call = UUIDText.random(), event = UUIDText.random()
        let first = try c.call(Req.start(call: call, event: event, dialled: "999", extra: ["cli": "+447700900123"]))
        #expect(first.isOK)
        #expect(first["duplicate"] == nil)
        // The same event again (from a new connection, as after a lost one) stores nothing new.
        let c2 = try daemon.connect()
        let again = try c2.call(Req.start(call: call, event: event, dialled: "999", extra: ["cli": "+447700900123"]))
        #expect(again["duplicate"] == true)
        #expect(again["seq"] == first["seq"])
        #expect(again["alert_id"] == first["alert_id"])
        // The same number written differently is the same event.
        let normalised = try c2.call(Req.start(call: call, event: event, dialled: "999", extra: ["cli": "+447700900123"]))
        #expect(normalised["duplicate"] == true)
        // Other content under the same event_id is a conflict.
        let other = try c2.call(Req.start(call: call, event: event, dialled: "112", extra: ["cli": "+447700900123"]))
        #expect(other.errorCode == "conflict")
        #expect(other.errorField == "event_id")
        let otherCLI = try c2.call(Req.start(call: call, event: event, dialled: "999", extra: ["cli": "+447700900999"]))
        #expect(otherCLI.errorCode == "conflict")
        let note = UUIDText.random()
        #expect(try c2.call(Req.update(call: call, event: note, note: "first words")).isOK)
        #expect(try c2.call(Req.update(call: call, event: note, note: "other words")).errorCode == "conflict")
        #expect(try c2.call(Req.update(call: call, event: note, note: "first words"))["duplicate"] == true)
        let stats = try c2.call(["op": "stats"])
        #expect(stats["events"] == 2)
    }

    @Test func pipelinedResponsesComeBackInOrder() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        var lines: [UInt8] = []
        var calls: [String] = []
        for i in 0..<300 {
            let request: JSONValue
            switch i % 5 {
            case 0:
                let call = UUIDText.random()
                calls.append(call)
                request = Req.start(call: call, dialled: ["999", "0800789321", "101"][i % 3], req: .int(Int64(i)))
            case 1: request = Req.update(call: calls.last!, note: "note \(i)", req: .int(Int64(i)))
            case 2: request = ["op": "call.get", "call_id": .string(calls.last!), "req": .int(Int64(i))]
            case 3: request = ["op": "nope", "req": .int(Int64(i))]
            default: request = Req.end(call: calls.last!, req: .int(Int64(i)))
            }
            lines += JSONWriter.bytes(request) + [0x0A]
        }
        try c.write(lines)
        for i in 0..<300 {
            let response = try c.receive()
            #expect(response["req"] == .int(Int64(i)))
            switch i % 5 {
            case 2:
                // A read after writes on the same connection sees them.
                #expect(response["call"]?["notes"]?.arrayValue?.count == 1)
            case 3: #expect(response.errorCode == "unknown_op")
            default: #expect(response.isOK)
            }
        }
    }

    @Test func storageErrorStoresNothingAndReadsGoOn() throws {
        let daemon = try Daemon(limits: ["max_database_bytes": 1_048_576])
        try daemon.start()
        let c = try daemon.connect()
        var stored = 0, calls = 0
        var failure: JSONValue?
        let note = String(repeating: "The caller described the vehicle again. ", count: 100)
        writing: for _ in 0..<5000 {
            let call = UUIDText.random()
            for (i, event) in [
                Req.start(call: call, dialled: "101", extra: ["cli": .string(String(repeating: "7", count: 60))]),
                Req.update(call: call, note: note),
            ].enumerated() {
                let r = try c.call(event)
                guard r.isOK else {
                    failure = r
                    break writing
                }
                stored += 1
                if i == 0 { calls += 1 }
            }
        }
        let error = try #require(failure)
        #expect(error.errorCode == "storage")
        #expect(error["error"]?["message"]?.stringValue?.contains("nothing of it was stored") == true)
        // Nothing partial: the event count is what was acknowledged, and reads still work.
        let stats = try c.call(["op": "stats"])
        #expect(stats["events"] == .int(Int64(stored)))
        #expect(stats["calls"] == .int(Int64(calls)))
        let list = try c.call([
            "op": "calls.list", "from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z", "limit": 5,
            "reason": "Checking reads survive a storage error",
        ])
        #expect(list["calls"]?.arrayValue?.count == 5)
    }

    @Test func tooManyConnectionsIsUnavailable() throws {
        let daemon = try Daemon(limits: ["max_connections": 2])
        try daemon.start()
        // start() pinged on a connection of its own: wait until the daemon has seen it close.
        for _ in 0..<100 {
            if try daemon.connect().call(["op": "stats"])["connections"] == 1 { break }
            usleep(20_000)
        }
        usleep(50_000)
        let a = try daemon.connect(), b = try daemon.connect()
        #expect(try a.call(["op": "ping"]).isOK)
        #expect(try b.call(["op": "ping"]).isOK)
        let c = try daemon.connect()
        try #require(c.waitReadable(milliseconds: 5000), "the third connection was neither refused nor closed")
        let refused = try c.receive()
        #expect(refused.errorCode == "unavailable")
        #expect(try c.readLine() == nil)
        a.close()
        usleep(100_000)
        let d = try daemon.connect()
        #expect(try d.call(["op": "ping"]).isOK)
    }

    @Test func listPagesThroughARange() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        for i in 0..<25 {
            let at = String(format: "2026-11-24T10:%02d:00Z", i)
            #expect(try c.call(Req.start(dialled: i % 2 == 0 ? "999" : "101", at: at)).isOK)
        }
        var seen = 0, after: JSONValue? = nil, pages = 0
        repeat {
            var q: [String: JSONValue] = [
                "op": "calls.list", "from": "2026-11-24T10:00:00Z", "to": "2026-11-24T10:20:00Z", "limit": 7, "reason": "Paging test",
            ]
            if let after { q["after_seq"] = after }
            let page = try c.call(.object(q))
            let calls = page["calls"]?.arrayValue ?? []
            seen += calls.count
            for call in calls {
                #expect(call["cli"] == nil)
                #expect(call["notes"] == nil)
            }
            after = page["next_after_seq"]
            pages += 1
            if after == nil { #expect(page.objectValue?.keys.contains("next_after_seq") == false) }
        } while after != nil && pages < 10
        #expect(seen == 20)  // [from, to): 10:20 is excluded
        #expect(pages == 3)
        let emergency = try c.call([
            "op": "calls.list", "from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z", "route": "emergency", "limit": 1000,
            "reason": "Paging test",
        ])
        #expect(emergency["calls"]?.arrayValue?.count == 13)
    }

    @Test func aClientThatNeverReadsIsHeldBackAlone() throws {
        let daemon = try Daemon()
        try daemon.start()
        let flooder = try daemon.connect()
        let ping = Array("{\"op\":\"stats\"}\n".utf8)
        let burst = Array((0..<5_000).map { _ in ping }.joined())
        // Write without reading from a thread: it blocks once the daemon stops reading us.
        let done = DispatchSemaphore(value: 0)
        Thread {
            for _ in 0..<200 { try? flooder.write(burst) }
            done.signal()
        }.start()
        usleep(1_000_000)
        let other = try daemon.connect()
        let call = UUIDText.random()
        #expect(try other.call(Req.start(call: call)).isOK)
        #expect(try other.call(["op": "call.get", "call_id": .string(call)]).isOK)
        let kilobytes = daemon.rssKilobytes()
        #expect(kilobytes < 100_000, "the daemon holds \(kilobytes) kB for a client that does not read")
        flooder.close()
        _ = done.wait(timeout: .now() + 10)
    }

    @Test func garbageAndHalfLinesNeverStallOthers() throws {
        let daemon = try Daemon()
        try daemon.start()
        // One client sends half a line and waits; another floods random bytes; a third disconnects mid-line.
        let stuck = try daemon.connect()
        try stuck.write(Array("{\"op\": \"call.start\", \"event_id\": ".utf8))
        let noisy = try daemon.connect()
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            var junk = (0..<2000).map { _ in UInt8.random(in: 0...255, using: &rng) }
            junk.append(0x0A)
            try? noisy.write(junk)
        }
        let quitter = try daemon.connect()
        try quitter.write(Array("{\"op\":\"ping\"".utf8))
        quitter.close()
        let worker = try daemon.connect()
        let call = UUIDText.random()
        #expect(try worker.call(Req.start(call: call)).isOK)
        #expect(try worker.call(["op": "call.get", "call_id": .string(call)]).isOK)
        #expect(daemon.process?.isRunning == true)
    }
}
