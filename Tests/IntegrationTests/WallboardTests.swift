import Foundation
import HotlineClient
import HotlineCore
import HotlineStore
import Testing

/// The control room's wallboard (issue 17) through the built daemon: in headless Chromium,
/// an alert raised through the socket appears within a second and goes when acknowledged;
/// the screenshot's layout is checked by its colours; and nothing the board serves holds a
/// caller's identity, a note, a location or a call id.
@Suite(.serialized)
struct WallboardTests {
    /// The page's colours (Sources/HotlineWeb/WallboardPage.swift).
    static let levelOne = "f9a825", allClear = "2e7d32", emergencyBars = "1e88e5", hotlineBars = "8e24aa"
    static let secrets = ["07700 900123", "Alice Example", "51 Acacia Avenue", "holdall left by the bins", "52.9548"]

    /// A daemon with its wallboard on a free loopback port, and today's calls: a 101 call
    /// answered and a hotline report with an identity, a note and a location (none of which
    /// may reach the board). No 999 call yet, so no alert.
    static func daemon(extra: String = "") throws -> (Daemon, port: Int, hotlineCall: String) {
        let port = try Web.freePort()
        let daemon = try Daemon(extraYAML: "\nwallboard:\n  listen: 127.0.0.1:\(port)\n" + extra)
        try daemon.start()
        let c = try daemon.connect()
        let now = SystemClock.now()
        #expect(
            try c.call(
                Req.start(
                    call: UUIDText.random(), dialled: "101", at: now.adding(seconds: -40).rfc3339,
                    extra: ["answered_at": .string(now.adding(seconds: -35).rfc3339)])
            ).isOK)
        let hotline = UUIDText.random()
        #expect(
            try c.call(
                Req.start(
                    call: hotline, dialled: "0800 789 321", at: now.adding(seconds: -20).rfc3339,
                    extra: [
                        "answered_at": .string(now.adding(seconds: -18).rfc3339),
                        "cli": .string(secrets[0]), "caller": ["name": .string(secrets[1]), "address": .string(secrets[2])],
                    ])
            ).isOK)
        #expect(
            try c.call(
                Req.update(
                    call: hotline, set: ["location": ["text": "Market Square", "lat": 52.9548, "lon": -1.1581]], note: secrets[3],
                    at: now.rfc3339)
            ).isOK, "the note and location are logged")
        return (daemon, port, hotline)
    }

    @Test(.enabled(if: Requires.browser)) func anAlertAppearsWithinASecondAndGoesWhenAcknowledged() throws {
        let (daemon, port, _) = try Self.daemon()
        defer { _ = daemon.stop() }
        let browser = try Browser(directory: daemon.directory)
        defer { browser.quit() }
        try browser.open("http://127.0.0.1:\(port)/")
        let live = try browser.wait(for: "document.getElementById('status').textContent === 'LIVE'", milliseconds: 20_000)
        #expect(live.ok, "the page never went live")
        #expect(try browser.eval("document.querySelectorAll('tr.alert').length") == .int(0))
        #expect(
            try browser.eval("document.body.innerText.includes('This board shows no caller identity, no notes and no locations')")
                == .bool(true))

        // A 999 call: its alert is durable when the start is acknowledged.
        let c = try daemon.connect()
        let call = UUIDText.random()
        let started = try c.call(Req.start(call: call, dialled: "999", at: SystemClock.now().rfc3339))
        #expect(started.isOK)
        let appeared = try browser.wait(for: "document.querySelectorAll('tr.alert.level-1').length === 1", milliseconds: 1000)
        #expect(appeared.ok, "the alert was not on the wallboard within a second (\(appeared.ms) ms)")
        let row = try browser.eval("document.querySelector('tr.alert').innerText")?.stringValue ?? ""
        #expect(row.contains("emergency") && row.contains("emergency line") && row.contains("L1"), "\(row)")

        // The day's calls are read every five seconds (the alerts at once): the 999 call's bar.
        let charted = try browser.wait(for: "document.querySelectorAll('rect[fill=\"#1e88e5\"]').length > 0", milliseconds: 8000)
        #expect(charted.ok, "the 999 call was never charted")
        let raised = daemon.directory + "/raised.png"
        try browser.screenshot(raised)
        let before = try ExportTests.pixelCounts(
            png: raised, colours: [Self.levelOne, Self.allClear, Self.emergencyBars, Self.hotlineBars])
        #expect(before[0] > 2000, "the level-1 alert row is amber: \(before)")
        #expect(before[1] < 500, "no all-clear box while an alert waits (the status pill may be green): \(before)")
        #expect(before[2] > 50 && before[3] > 50, "this hour's bars for 999 and the hotline: \(before)")

        // Acknowledged: it goes, and the all-clear comes back.
        let alertID = try #require(started["alert_id"]?.stringValue)
        #expect(try browser.eval("document.documentElement.outerHTML.includes('\(alertID)')") == .bool(false), "no alert id on the board")
        let ack = try daemon.connect().call(["op": "alert.ack", "alert_id": .string(alertID)])
        #expect(ack.isOK, "\(ack)")
        let gone = try browser.wait(for: "document.querySelectorAll('tr.alert').length === 0", milliseconds: 1000)
        #expect(gone.ok, "the acknowledged alert stayed on the wallboard (\(gone.ms) ms)")
        let cleared = daemon.directory + "/cleared.png"
        try browser.screenshot(cleared)
        let after = try ExportTests.pixelCounts(png: cleared, colours: [Self.levelOne, Self.allClear])
        #expect(after[0] == 0, "no amber once acknowledged: \(after)")
        #expect(after[1] > 2000, "the all-clear box: \(after)")

        // Nothing the page shows is a caller's identity, a note, a location or a call id.
        let text = try browser.eval("document.documentElement.outerHTML")?.stringValue ?? ""
        for secret in Self.secrets + [call] { #expect(!text.contains(secret), "the page shows \(secret)") }
    }

    @Test func theBoardCarriesNoIdentityNoteLocationOrCallID() throws {
        let (daemon, port, hotline) = try Self.daemon()
        defer { _ = daemon.stop() }
        let c = try daemon.connect()
        let call = UUIDText.random()
        #expect(try c.call(Req.start(call: call, dialled: "999", at: SystemClock.now().rfc3339)).isOK)
        let board = try Web.request(.port(port), "/board.json")
        #expect(board.status == 200)
        for secret in Self.secrets + [call, hotline] { #expect(!board.body.contains(secret), "board.json holds \(secret)") }
        let json = try JSONParser.parse(board.body)
        #expect(json["unacknowledged_total"] == .int(1))
        #expect(json["open_by_route"]?["emergency"] == .int(1))
        #expect(json["open_by_route"]?["anti-terrorist-hotline"] == .int(1))
        #expect(json["answer_times"]?["non-emergency"]?["answered"] == .int(1))
        guard case .array(let alerts)? = json["alerts"], alerts.count == 1 else {
            Issue.record("one alert on the board: \(json)")
            return
        }
        #expect(alerts[0]["call_id"] == nil && alerts[0]["level"] == .int(1))
        for path in ["/", "/wallboard.js", "/wallboard.css"] {
            let page = try Web.request(.port(port), path)
            #expect(page.status == 200, "\(path)")
            #expect(page.headers["content-security-policy"]?.contains("default-src 'none'") == true, "\(path): \(page.headers)")
            #expect(page.headers["x-frame-options"] == "DENY")
            for secret in Self.secrets { #expect(!page.body.contains(secret)) }
        }
    }

    @Test func onlyGETFromALoopbackNameIsServed() throws {
        let (daemon, port, _) = try Self.daemon()
        defer { _ = daemon.stop() }
        #expect(try Web.request(.port(port), "/", method: "POST").status == 405)
        #expect(try Web.request(.port(port), "/", method: "DELETE").status == 405)
        // DNS rebinding: a page on evil.example whose name now points at 127.0.0.1.
        #expect(try Web.request(.port(port), "/board.json", host: "evil.example").status == 421)
        #expect(try Web.request(.port(port), "/board.json", host: "evil.example:\(port)").status == 421)
        #expect(try Web.request(.port(port), "/board.json", host: "localhost:\(port)").status == 200)
        #expect(try Web.request(.port(port), "/board.json", host: "[::1]:\(port)").status == 200)
        #expect(try Web.request(.port(port), "/nothing-here").status == 404)
    }

    @Test func theEventStreamSendsTheBoardAndTheOldestMakesRoomPastTheCap() throws {
        let (daemon, port, _) = try Self.daemon()
        defer { _ = daemon.stop() }
        // 32 streams held open and never read from again.
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        for _ in 0..<32 {
            let fd = try Self.openStream(port: port)
            held.append(fd)
            #expect(Self.readsABoard(fd), "stream \(held.count) is served")
        }
        // The 33rd is served too, and the first, the longest open, is ended to make room.
        let newest = try Self.openStream(port: port)
        held.append(newest)
        #expect(Self.readsABoard(newest), "a new wallboard is never locked out")
        #expect(Self.endsWithin(held[0], seconds: 10), "the longest-open stream was ended")
        #expect(!Self.endsWithin(held[1], seconds: 1), "only the one")
    }

    /// Whether the stream on `fd` ends (its chunked body's last chunk, or the connection
    /// closed) within `seconds`.
    static func endsWithin(_ fd: Int32, seconds: Int) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var tail: [UInt8] = []
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            let n = read(fd, &buffer, buffer.count)
            if n == 0 { return true }
            if n < 0 { return false }
            tail = Array((tail + buffer[0..<n]).suffix(16))
            if tail.suffix(5) == Array("0\r\n\r\n".utf8) { return true }
        }
        return false
    }

    /// Whether the stream on `fd` is answered 200 as an event stream and brings a board
    /// within 10 s.
    static func readsABoard(_ fd: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 8192)
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var got = ""
        while !got.contains("event: board") {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            got += String(decoding: buffer[0..<n], as: UTF8.self)
        }
        return got.hasPrefix("HTTP/1.1 200") && got.contains("text/event-stream") && got.contains("event: board")
    }

    /// An event stream's connection, its request sent.
    static func openStream(port: Int) throws -> Int32 {
        let fd = try Web.connect(port: port)
        let text = Array("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        return fd
    }

    @Test func aWallboardOnAUnixSocketAndANonLoopbackAddressRefused() throws {
        let probe = try Daemon()
        let path = probe.directory + "/wallboard.sock"
        let daemon = try Daemon(extraYAML: "\nwallboard:\n  listen: unix:\(path)\n")
        try daemon.start()
        defer { _ = daemon.stop() }
        var board: Web.Answer?
        for _ in 0..<100 where board == nil {
            board = try? Web.request(.unix(path), "/board.json")
            if board == nil { usleep(50_000) }
        }
        #expect(board?.status == 200)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o666, "as open as a loopback port")

        for wide in ["0.0.0.0:8469", "192.168.1.10:8469", "[::]:8469", "wallboard.example:8469", "127.0.0.1", "unix:relative"] {
            let bad = try Daemon(extraYAML: "\nwallboard:\n  listen: \"\(wide)\"\n")
            let r = try run(Daemon.hotlined, ["--config", bad.configPath, "--check-config"])
            #expect(r.status == 78, "\(wide) must be refused")
            #expect(r.stderr.contains("wallboard.listen"), "\(wide): \(r.stderr)")
        }
    }
}
