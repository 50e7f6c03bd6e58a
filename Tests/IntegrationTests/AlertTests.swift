import Foundation
import HotlineClient
import HotlineCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Escalation alerts over the real socket (PROTOCOL.md section 7 and issue 4).
@Suite(.serialized)
struct AlertTests {
    /// The shipped configuration with the alerts section replaced (and the emergency
    /// route's `ack_seconds` `emergencyAckSeconds`, when given, rather than `ackSeconds`).
    static func daemon(
        ackSeconds: Double = 60, emergencyAckSeconds: Double? = nil, queue: Int = 256, sinks: String = "",
        limits: [String: Int] = [:], extraYAML: String = ""
    ) throws -> Daemon {
        let daemon = try Daemon(limits: limits, extraYAML: extraYAML)
        var config = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        config = config.replacingOccurrences(
            of: "    ack_seconds: 30 ", with: "    ack_seconds: \(emergencyAckSeconds ?? ackSeconds) ")
        let start = config.range(of: "\nalerts:\n")!.lowerBound
        let end = config.range(of: "\n# Unix users and groups")!.lowerBound
        config.replaceSubrange(
            start..<end,
            with: "\nalerts:\n  max_level: 3\n  ack_seconds: \(ackSeconds)\n  subscriber_queue: \(queue)\n  sinks:\n\(sinks)\n")
        try config.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        return daemon
    }

    @Test func subscribersGetTheBacklogOldestFirstThenLiveAlerts() throws {
        let daemon = try Self.daemon()
        try daemon.start()
        let writer = try daemon.connect()
        let first = try writer.call(Req.start(dialled: "999"))
        let call = UUIDText.random()
        #expect(try writer.call(Req.start(call: call, dialled: "0800 789 321")).isOK)
        let threat = try writer.call(Req.update(call: call, set: ["flags": ["threat_to_life": true]]))
        #expect(threat["grade"] == "emergency")

        let console = try daemon.connect()
        let answer = try console.call(["op": "alerts.subscribe", "req": "s"])
        #expect(answer == ["ok": true, "req": "s", "backlog": 2])
        let a = try console.nextPush(), b = try console.nextPush()
        #expect(a["alert"]?["id"] == first["alert_id"])
        #expect(a["alert"]?["reason"] == "emergency-line")
        #expect(a["alert"]?["level"] == 1)
        #expect(b["alert"]?["id"] == threat["alert_id"])
        #expect(b["alert"]?["reason"] == "threat-to-life")
        #expect(b["alert"]?["route"] == "anti-terrorist-hotline")
        // No identifying field and no note in an alert.
        let keys = Set(a["alert"]?.objectValue?.keys.map { $0 } ?? [])
        #expect(keys == ["id", "call_id", "route", "grade", "reason", "level", "raised_at", "acked_at", "channel"])
        #expect(a["alert"]?["channel"] == "voice")

        let live = try writer.call(Req.start(dialled: "112", extra: ["cli": "+447700900123"]))
        let pushed = try console.nextPush()
        #expect(pushed["alert"]?["id"] == live["alert_id"])
        #expect(!JSONWriter.string(pushed).contains("7700900123"))

        // Acknowledged alerts are not in a later backlog; a resent ack answers the same time.
        let acked = try writer.call(["op": "alert.ack", "alert_id": first["alert_id"]!])
        #expect(acked["acked_at"]?.stringValue != nil)
        #expect(try writer.call(["op": "alert.ack", "alert_id": first["alert_id"]!])["acked_at"] == acked["acked_at"])
        #expect(try writer.call(["op": "alert.ack", "alert_id": .string(UUIDText.random())]).errorCode == "not_found")
        let again = try daemon.connect().call(["op": "alerts.subscribe"])
        #expect(again["backlog"] == 2)
        let got = try daemon.connect().call(["op": "call.get", "call_id": first["call_id"]!])
        #expect(got["call"]?["alerts"]?.arrayValue?.first?["acked_at"] == acked["acked_at"])
    }

    @Test(.enabled(if: Requires.rootAndSetpriv, "runs a client as nobody: needs root and /usr/bin/setpriv"))
    func onlySupervisorsSubscribeAndAcknowledge() throws {
        let daemon = try Self.daemon()
        var config = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        config = config.replacingOccurrences(
            of: "  handler:\n    groups: [hotline]", with: "  handler:\n    users: [\"65534\"]\n    groups: [hotline]")
        try config.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        try daemon.start()
        daemon.openSocketToEveryone()
        let alert = try daemon.connect().call(Req.start(dialled: "999"))["alert_id"]!
        let input =
            [["op": "alerts.subscribe"], ["op": "alert.ack", "alert_id": alert]].map { JSONWriter.string($0) }
            .joined(separator: "\n") + "\n"
        let r = try run(
            "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", Daemon.hotlinectl, "--socket", daemon.socket, "send"],
            stdin: input)
        let lines = r.stdout.split(separator: "\n").map { try! JSONParser.parse(String($0)) }
        #expect(lines.map(\.errorCode) == ["forbidden", "forbidden"])
    }

    @Test func unacknowledgedAlertsGoUpALevelAndStopWhenAcknowledged() throws {
        let daemon = try Self.daemon(ackSeconds: 0.4)
        try daemon.start()
        let console = try daemon.connect()
        #expect(try console.call(["op": "alerts.subscribe"])["backlog"] == 0)
        let w = try daemon.connect()
        let alert = try w.call(Req.start(dialled: "999"))["alert_id"]!
        var levels: [Int64] = []
        for _ in 0..<3 {
            let p = try console.nextPush()
            #expect(p["alert"]?["id"] == alert)
            levels.append(p["alert"]?["level"]?.intValue ?? 0)
        }
        #expect(levels == [1, 2, 3])  // and no higher: max_level is 3
        #expect(!console.waitReadable(milliseconds: 900))
        // Acknowledged at once, a second alert is never raised again.
        let second = try w.call(Req.start(dialled: "112"))["alert_id"]!
        #expect(try console.nextPush()["alert"]?["level"] == 1)
        #expect(try w.call(["op": "alert.ack", "alert_id": second]).isOK)
        #expect(!console.waitReadable(milliseconds: 900))
    }

    @Test func escalationTimersAndTheBacklogSurviveARestart() throws {
        let daemon = try Self.daemon(ackSeconds: 3)
        try daemon.start()
        let w = try daemon.connect()
        let alert = try w.call(Req.start(dialled: "999"))["alert_id"]!
        let raised = Date()
        daemon.crash()
        usleep(3_300_000)  // the first acknowledgement time runs out while the daemon is down
        try daemon.start()
        let console = try daemon.connect()
        let answer = try console.call(["op": "alerts.subscribe"])
        #expect(answer["backlog"] == 1)
        // Level 2 is due 3 s after the stored raise time, not 3 s after the restart: it comes
        // in the backlog, or pushed at once; level 3 only at 6 s.
        var levels: [Int64] = []
        while Date().timeIntervalSince(raised) < 5.5, console.waitReadable(milliseconds: 200) {
            let p = try console.nextPush()
            #expect(p["alert"]?["id"] == alert)
            levels.append(p["alert"]?["level"]?.intValue ?? 0)
        }
        #expect(levels.last == 2, "\(levels)")
        #expect(!levels.contains(3))
    }

    @Test func aStuckSubscriberIsCutOffWithoutSlowingAnyoneElse() throws {
        let daemon = try Self.daemon(queue: 16)
        try daemon.start()
        let stuck = try daemon.connect()
        #expect(try stuck.call(["op": "alerts.subscribe"]).isOK)  // and then never reads again
        let fast = try daemon.connect()
        #expect(try fast.call(["op": "alerts.subscribe"]).isOK)
        let reader = FastReader(fast)
        let w = try daemon.connect()
        let started = Date()
        for i in 0..<3000 {
            let ack = try w.call(Req.start(dialled: i % 2 == 0 ? "999" : "112"))
            #expect(ack.isOK)
            if !ack.isOK { break }
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(reader.waitFor(count: 3000, seconds: 20), "the fast console got only \(reader.count)")
        #expect(elapsed < 60)
        // The stuck one was disconnected: its socket holds what fitted, then the end.
        var pushes = 0
        while let line = try stuck.readLine() { if line.contains("\"alert\"") { pushes += 1 } }
        #expect(pushes < 3000)
        #expect(daemon.log().contains("disconnecting an alert subscriber"))
        #expect(try daemon.connect().call(["op": "stats"])["subscribers"] == 1)
    }

    @Test func theFollowingConsoleReconnectsWithoutMissingOrRepeating() throws {
        let daemon = try Self.daemon()
        try daemon.start()
        let out = daemon.directory + "/follow.out"
        FileManager.default.createFile(atPath: out, contents: nil)
        let follow = Process()
        follow.executableURL = URL(fileURLWithPath: Daemon.hotlinectl)
        follow.arguments = ["--socket", daemon.socket, "alerts", "--follow"]
        follow.standardOutput = FileHandle(forWritingAtPath: out)
        try follow.run()
        defer {
            kill(follow.processIdentifier, SIGTERM)
            Daemon.waitForExit(follow)
        }
        func lines() -> [String] {
            ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        func waitFor(_ text: String) -> Bool {
            for _ in 0..<100 {
                if lines().contains(where: { $0.contains(text) }) { return true }
                usleep(50_000)
            }
            return false
        }
        let a = try daemon.connect().call(Req.start(dialled: "999"))["alert_id"]!.stringValue!
        #expect(waitFor(a))
        daemon.stop()
        try daemon.start()
        let b = try daemon.connect().call(Req.start(dialled: "112"))["alert_id"]!.stringValue!
        #expect(waitFor(b))
        let all = lines()
        #expect(all.filter { $0.contains(a) }.count == 1, "\(all)")
        #expect(all.filter { $0.contains(b) }.count == 1, "\(all)")
        #expect(all.contains { $0.contains("reconnected") })
        let line = all.first { $0.contains(b) } ?? ""
        #expect(line.contains("EMERGENCY-LINE") && line.contains("route emergency") && line.contains("L1"))
        let ack = try run(Daemon.hotlinectl, ["--socket", daemon.socket, "ack", a])
        #expect(ack.status == 0)
        #expect(ack.stdout.contains("acknowledged"))
    }

    @Test func aBacklogLongerThanTheQueueIsDeliveredWhole() throws {
        let daemon = try Self.daemon(queue: 8)
        try daemon.start()
        let w = try daemon.connect()
        for _ in 0..<40 { #expect(try w.call(Req.start(dialled: "999")).isOK) }
        let console = try daemon.connect()
        #expect(try console.call(["op": "alerts.subscribe"])["backlog"] == 40)
        for _ in 0..<40 { #expect(try console.nextPush()["push"] == "alert") }
        #expect(try w.call(Req.start(dialled: "112")).isOK)
        #expect(try console.nextPush()["alert"]?["level"] == 1)  // and it is still subscribed
    }

    @Test func commandAndJournalSinksGetTheirLevels() throws {
        let out = "/tmp/hotlined-sink-\(getpid())-\(Int.random(in: 0...1_000_000)).out"
        defer { unlink(out) }
        let daemon = try Self.daemon(
            ackSeconds: 0.5,
            sinks: """
                    - name: pager
                      type: command
                      argv: ["/bin/sh", "-c", "cat >> \(out)"]
                      levels: [2]
                    - name: journal
                      type: journal
                      levels: [1]
                """)
        try daemon.start()
        let alert = try daemon.connect().call(Req.start(dialled: "999", extra: ["cli": "+447700900123"]))["alert_id"]!.stringValue!
        var text = ""
        for _ in 0..<50 where !text.contains("\n") {
            usleep(100_000)
            text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        }
        let lines = text.split(separator: "\n").map { try! JSONParser.parse(String($0)) }
        #expect(lines.count == 1)
        #expect(lines.first?["alert"]?["id"] == .string(alert))
        #expect(lines.first?["alert"]?["level"] == 2)
        #expect(lines.first?["delivery_id"] == .string("\(alert)/2/pager"))
        #expect(!text.contains("7700900123"))
        // The journal sink logs at critical (PRIORITY=2); here that is standard error.
        #expect(daemon.log().contains("critical") && daemon.log().contains("ALERT level 1"))
    }

    @Test func aWebhookThatFailsGetsTheAlertWhenItRecovers() throws {
        let receiver = try HTTPReceiver(failFirst: 2)
        let daemon = try Self.daemon(
            sinks: """
                    - name: board
                      type: webhook
                      url: http://127.0.0.1:\(receiver.port)/alerts
                      timeout_seconds: 2
                      levels: [1]
                """)
        try daemon.start()
        let ack = try daemon.connect().call(Req.start(dialled: "999", extra: ["cli": "+447700900123"]))
        // Two refusals (500), retried after 1 s and 2 s, then delivered once.
        #expect(receiver.waitForSuccesses(1, seconds: 15))
        usleep(1_500_000)
        #expect(receiver.successes.count == 1)
        #expect(receiver.attempts >= 3)
        let body = try JSONParser.parse(receiver.successes[0])
        #expect(body["alert"]?["id"] == ack["alert_id"])
        #expect(body["sink"] == "board")
        #expect(!receiver.successes[0].contains("7700900123"))
        #expect(receiver.contentTypes.allSatisfy { $0 == "application/json" })
    }

    @Test func aWebhookDownAcrossARestartIsStillDelivered() throws {
        let port = Int.random(in: 30_000...60_000)
        let daemon = try Self.daemon(
            sinks: """
                    - name: board
                      type: webhook
                      url: http://127.0.0.1:\(port)/alerts
                      timeout_seconds: 1
                      levels: [1]
                """)
        try daemon.start()
        _ = try daemon.connect().call(Req.start(dialled: "999"))
        usleep(500_000)
        daemon.stop()  // nobody listened: the delivery waits in the outbox
        let receiver = try HTTPReceiver(failFirst: 0, port: port)
        try daemon.start()
        #expect(receiver.waitForSuccesses(1, seconds: 15))
    }
}

/// Reads pushes on a thread, counting them.
final class FastReader: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var count: Int { lock.withLock { n } }

    init(_ connection: HotlineConnection) {
        Thread { [self] in
            while let p = try? connection.nextPush(), p["push"] == "alert" {
                lock.withLock { n += 1 }
            }
        }.start()
    }

    func waitFor(count target: Int, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if count >= target { return true }
            usleep(20_000)
        }
        return count >= target
    }
}

/// A small HTTP/1.1 server on 127.0.0.1 that answers 500 to the first `failFirst` POSTs and
/// 200 after, recording what it got.
final class HTTPReceiver: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var _attempts = 0
    private var _successes: [String] = []
    private var _contentTypes: [String] = []
    private var remainingFailures: Int

    var attempts: Int { lock.withLock { _attempts } }
    var successes: [String] { lock.withLock { _successes } }
    var contentTypes: [String] { lock.withLock { _contentTypes } }

    init(failFirst: Int, port requested: Int? = nil) throws {
        remainingFailures = failFirst
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(requested ?? 0).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var ok =
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            } == 0
        ok = ok && listen(fd, 16) == 0
        guard ok else { throw HotlineConnection.Failure("cannot listen on 127.0.0.1") }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: bound.sin_port))
        Thread { [self] in self.serve() }.start()
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    private func serve() {
        while true {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            var data: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 8192)
            var bodyStart: Int? = nil
            var contentLength = 0
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                data += buffer[..<n]
                if bodyStart == nil, let range = findHeaderEnd(data) {
                    bodyStart = range
                    let head = String(decoding: data[..<range], as: UTF8.self).lowercased()
                    for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                        contentLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                    }
                    if let ct = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-type:") }) {
                        lock.withLock { _contentTypes.append(ct.dropFirst("content-type:".count).trimmingCharacters(in: .whitespaces)) }
                    }
                }
                if let start = bodyStart, data.count - start >= contentLength { break }
            }
            let body = bodyStart.map { String(decoding: data[$0...], as: UTF8.self) } ?? ""
            let fail = lock.withLock { () -> Bool in
                _attempts += 1
                if remainingFailures > 0 {
                    remainingFailures -= 1
                    return true
                }
                _successes.append(body)
                return false
            }
            let response =
                fail
                ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                : "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
            _ = response.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            close(client)
        }
    }

    private func findHeaderEnd(_ data: [UInt8]) -> Int? {
        guard data.count >= 4 else { return nil }
        for i in 0...(data.count - 4) where data[i] == 13 && data[i + 1] == 10 && data[i + 2] == 13 && data[i + 3] == 10 {
            return i + 4
        }
        return nil
    }

    func waitForSuccesses(_ n: Int, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if successes.count >= n { return true }
            usleep(50_000)
        }
        return successes.count >= n
    }
}
