import Foundation
import HotlineClient
import HotlineCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A console's backlog is read a page at a time as the console reads it (issue 12).
extension AlertTests {
    /// Raises `count` emergency-line alerts through `w`, pipelined; their ids, in order.
    static func raise(_ count: Int, on w: HotlineConnection) throws -> [String] {
        var ids: [String] = []
        while ids.count < count {
            let n = min(500, count - ids.count)
            for _ in 0..<n { try w.send(Req.start(dialled: "999")) }
            for _ in 0..<n { ids.append(try w.receive()["alert_id"]?.stringValue ?? "") }
        }
        return ids
    }

    @Test func aBacklogIsReadAsTheConsoleReadsItWholeInOrderAndOnce() throws {
        // Emergency alerts wait an hour to go up a level; a threat to life on the hotline, 1.5 s.
        let daemon = try Self.daemon(ackSeconds: 1.5, emergencyAckSeconds: 3600, queue: 16)
        try daemon.start()
        let w = try daemon.connect()
        var backlog = try Self.raise(3000, on: w)
        let call = UUIDText.random()
        #expect(try w.call(Req.start(call: call, dialled: "0800 789 321")).isOK)
        let threat = try w.call(Req.update(call: call, set: ["flags": ["threat_to_life": true]]))["alert_id"]!.stringValue!
        backlog.append(threat)

        let console = try daemon.connect()
        #expect(try console.call(["op": "alerts.subscribe"])["backlog"] == .int(Int64(backlog.count)))
        // The console reads nothing for 2 s, far fewer pushes than the backlog fitting in its
        // socket. Once its queue has filled, one alert near the end is acknowledged and three
        // new ones are raised (they wait behind the backlog, in the room it leaves); and the
        // threat goes up to level 2.
        usleep(500_000)
        let acked = 2990
        let ack = try w.call(["op": "alert.ack", "alert_id": .string(backlog[acked])])
        #expect(ack.isOK)
        let live = try (0..<3).map { _ in try w.call(Req.start(dialled: "112"))["alert_id"]!.stringValue! }
        usleep(1_500_000)

        var pushes: [JSONValue] = []
        for _ in 0..<backlog.count { pushes.append(try console.nextPush()) }
        // All of it, oldest first, each once, and nothing else before its end.
        #expect(pushes.map { $0["alert"]?["id"]?.stringValue ?? "" } == backlog)
        // Its end was read from the database only once the console had read its way there:
        // after the acknowledgement (owed when counted, it still comes, acknowledged) and
        // after the threat's escalation.
        #expect(pushes[acked]["alert"]?["acked_at"] == ack["acked_at"])
        #expect((pushes.last?["alert"]?["level"]?.intValue ?? 0) >= 2)
        // Then the new alerts and the threat's later levels: no (alert, level) twice.
        while console.waitReadable(milliseconds: 2500), pushes.count < backlog.count + 10 {
            pushes.append(try console.nextPush())
        }
        let seen = pushes.map { "\($0["alert"]?["id"]?.stringValue ?? "?")/\($0["alert"]?["level"]?.intValue ?? 0)" }
        #expect(Set(seen).count == seen.count)
        #expect(seen[backlog.count...].filter { $0.hasSuffix("/1") } == live.map { "\($0)/1" })
        #expect(seen.contains("\(threat)/3"))
        let threatLevels = pushes.filter { $0["alert"]?["id"]?.stringValue == threat }.map { $0["alert"]?["level"]?.intValue ?? 0 }
        #expect(threatLevels == threatLevels.sorted())
    }
}
