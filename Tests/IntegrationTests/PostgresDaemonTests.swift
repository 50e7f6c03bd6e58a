import Foundation
import HotlineClient
import HotlineCore
import HotlineScratch
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// hotlined itself on PostgreSQL (issue 15): the daemon started on a private primary and
/// synchronous standby, as an administrator would run it.
@Suite(.serialized, .enabled(if: Requires.postgres != nil, "PostgreSQL is not installed (make test installs it)"))
struct PostgresDaemonTests {
    /// The `storage:` section for `cluster`'s primary (and its standby, tried second).
    static func storage(_ cluster: PostgresCluster) -> String {
        """

        storage:
          engine: postgresql
          postgresql:
            hosts: ["\(cluster.host(cluster.primaryPort))", "\(cluster.host(cluster.standbyPort))"]
            database: postgres
            user: \(cluster.user)
            connect_timeout_seconds: 2

        """
    }

    /// Resends `request` until it is answered other than `unavailable` (or `seconds` pass).
    static func untilAvailable(_ c: HotlineConnection, _ request: JSONValue, seconds: Double = 30) throws -> JSONValue {
        let deadline = Date().addingTimeInterval(seconds)
        var answer = try c.call(request)
        while answer.errorCode == "unavailable", Date() < deadline {
            usleep(200_000)
            answer = try c.call(request)
        }
        return answer
    }

    @Test func aDaemonStartsWithItsDatabaseDownSaysSoAndWritesOnceItIsUp() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        try cluster.kill(cluster.primary)  // the standby alone is up: no primary to write to
        let daemon = try Daemon(extraYAML: Self.storage(cluster))
        let notify = try DatagramListener(path: daemon.directory + "/notify")
        try daemon.start(environment: ["NOTIFY_SOCKET": notify.path])
        defer { _ = daemon.stop() }
        let ready = notify.drain(for: 1.0).first { $0.hasPrefix("READY=1") } ?? ""
        #expect(ready.contains("STORAGE FAULT: PostgreSQL unreachable"), "\(ready)")

        let c = try daemon.connect()
        let start = Req.start(dialled: "999", extra: ["cli": "+447700900123"])
        let refused = try c.call(start)
        #expect(refused.errorCode == "unavailable", "\(refused)")
        #expect(refused["error"]?["message"]?.stringValue?.contains("cannot be reached") == true)
        // stats counts the log's rows: unavailable too, saying why.
        #expect(try c.call(["op": "stats"])["error"]?["message"]?.stringValue?.contains("cannot be reached") == true)
        #expect(try c.call(["op": "call.get", "call_id": start["call"]!["id"]!]).errorCode == "unavailable")
        #expect(daemon.log().contains("cannot be reached"), "\(daemon.log())")

        // The primary back: the resend is stored, and the fault clears.
        try cluster.start(cluster.primary)
        let stored = try Self.untilAvailable(c, start)
        #expect(stored.isOK, "\(stored)")
        #expect(stored["duplicate"] == nil || stored["duplicate"] == false)
        #expect(try c.call(["op": "stats"])["storage_fault"] == nil)
        let got = try c.call(["op": "call.get", "call_id": start["call"]!["id"]!])
        #expect(got["call"]?["route"] == "emergency", "\(got)")
        #expect(try cluster.sql(cluster.primaryPort, "SELECT count(*) FROM events") == "1")
        #expect(try c.call(["op": "verify"])["intact"] == true)
    }

    /// Two control rooms, one log: an alert raised through one daemon is pushed to the
    /// other's consoles; a sink both configure gets it once; each reads the other's calls.
    @Test func twoDaemonsOnOneLogShareAlertsAndDeliverOnce() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let deliveries = "/tmp/hotlined-pg-sink-\(getpid())-\(UUIDText.random())"
        defer { unlink(deliveries) }
        let sinks = """
                - name: pager
                  type: command
                  argv: ["/bin/sh", "-c", "cat >> \(deliveries)"]
                  timeout_seconds: 5
                  levels: [1]
            """
        let rooms = try (0..<2).map { _ in try AlertTests.daemon(sinks: sinks, extraYAML: Self.storage(cluster)) }
        // One log, one key.
        try (rooms[0].keyHex + "\n").write(toFile: rooms[1].directory + "/hotlined.key", atomically: true, encoding: .utf8)
        chmod(rooms[1].directory + "/hotlined.key", 0o600)
        for room in rooms { try room.start() }
        defer { for room in rooms { _ = room.stop() } }

        let console = try rooms[1].connect()
        #expect(try console.call(["op": "alerts.subscribe"])["backlog"] == 0)
        let written = try rooms[0].connect().call(Req.start(dialled: "999"))
        #expect(written.isOK, "\(written)")
        let pushed = try console.nextPush()
        #expect(pushed["alert"]?["id"] == written["alert_id"], "\(pushed)")
        #expect(try rooms[1].connect().call(["op": "stats"])["events"] == 1)
        let got = try rooms[1].connect().call(["op": "call.get", "call_id": written["call_id"]!])
        #expect(got["call"]?["alerts"]?.arrayValue?.count == 1, "\(got)")

        // Delivered once, by whichever room leads, though both have the sink.
        let deadline = Date().addingTimeInterval(20)
        var lines: [Substring] = []
        repeat {
            usleep(200_000)
            lines = ((try? String(contentsOfFile: deliveries, encoding: .utf8)) ?? "").split(separator: "\n")
        } while lines.isEmpty && Date() < deadline
        sleep(3)  // the other room's ticks, had it been given the delivery too
        lines = ((try? String(contentsOfFile: deliveries, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(lines.count == 1, "\(lines)")
        #expect(lines.first?.contains(written["alert_id"]?.stringValue ?? "-") == true)
        #expect(try cluster.sql(cluster.primaryPort, "SELECT count(*) FROM alert_outbox WHERE delivered_at IS NOT NULL") == "1")
        // Either room verifies the whole log.
        for room in rooms { #expect(try room.connect().call(["op": "verify"])["intact"] == true) }
    }
}
