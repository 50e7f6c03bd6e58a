import Foundation
import HotlineClient
import HotlineCore
import Testing

/// Limits that keep one workstation from holding the daemon's resources for ever: each is
/// answered `unavailable` with the reason, then the connection is closed.
@Suite struct LimitTests {
    static func daemon() throws -> Daemon {
        let daemon = try Daemon(limits: ["line_timeout_seconds": 1, "idle_timeout_seconds": 2])
        try daemon.start()
        return daemon
    }

    @Test func halfALineThatIsNeverFinishedIsAnsweredAndClosed() throws {
        let daemon = try Self.daemon()
        let c = try daemon.connect()
        c.setReceiveTimeout(seconds: 10)
        try c.write(Array(#"{"op": "pi"#.utf8))
        let started = Date()
        let answer = try JSONParser.parse(try #require(try c.readLine()))
        #expect(answer.errorCode == "unavailable")
        #expect(answer["error"]?["message"]?.stringValue?.contains("not finished within 1 s") == true)
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(try c.readLine() == nil)  // closed
        // Others were never held up.
        #expect(try daemon.connect().call(["op": "ping"]).isOK)
    }

    @Test func anIdleConnectionIsClosedButASubscribedConsoleIsNot() throws {
        let daemon = try Self.daemon()
        let idle = try daemon.connect()
        idle.setReceiveTimeout(seconds: 10)
        #expect(try idle.call(["op": "ping"]).isOK)
        let console = try daemon.connect()
        #expect(try console.call(["op": "alerts.subscribe"]).isOK)
        let answer = try JSONParser.parse(try #require(try idle.readLine()))
        #expect(answer.errorCode == "unavailable")
        #expect(answer["error"]?["message"]?.stringValue?.contains("idle for 2 s") == true)
        #expect(try idle.readLine() == nil)
        // The console was idle as long, and is still there: alerts still reach it.
        usleep(1_000_000)
        #expect(try daemon.connect().call(Req.start(dialled: "999")).isOK)
        console.setReceiveTimeout(seconds: 10)
        #expect(try console.nextPush()["alert"]?["route"] == "emergency")
        #expect(try console.call(["op": "ping"]).isOK)
    }

    @Test func aClientThatStopsReadingIsDisconnectedAfterTheWriteTimeout() throws {
        let daemon = try Daemon(limits: ["write_timeout_seconds": 1])
        try daemon.start()
        let greedy = try daemon.connect()
        // Ask for far more answers than the daemon will queue, and never read one.
        let lines = Array(String(repeating: "{\"op\":\"stats\"}\n", count: 20_000).utf8)
        let writer = Thread { try? greedy.write(lines) }
        writer.start()
        let watcher = try daemon.connect()
        var connections: Int64 = -1
        let deadline = Date().addingTimeInterval(15)
        repeat {
            usleep(200_000)
            connections = try watcher.call(["op": "stats"])["connections"]?.intValue ?? -1
        } while connections != 1 && Date() < deadline
        #expect(connections == 1, "the client that stopped reading is still connected")
    }
}
