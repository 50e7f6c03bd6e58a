import Foundation
import HotlineClient
import HotlineCore
import HotlineStore
import Testing

/// The metrics endpoint (issue 17) through the built daemon, scraped by a real Prometheus
/// server from Debian's packages, which also loads the shipped alerting rules; the rules
/// themselves are unit-tested by promtool.
@Suite(.serialized)
struct MetricsTests {
    static let rules = Daemon.packageRoot.appendingPathComponent("Config/prometheus/hotlined-rules.yml").path

    /// A private Prometheus on a free loopback port scraping `target` every second, with
    /// the shipped rules evaluated every second.
    final class Prometheus {
        let port: Int
        let process = Process()

        init(directory: String, target: Int) throws {
            port = try Web.freePort()
            let config = directory + "/prometheus.yml"
            try """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files: ["\(MetricsTests.rules)"]
            scrape_configs:
              - job_name: hotlined
                static_configs:
                  - targets: ["127.0.0.1:\(target)"]

            """.write(toFile: config, atomically: true, encoding: .utf8)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
            process.arguments = [
                "--config.file=\(config)", "--storage.tsdb.path=\(directory)/prometheus-data",
                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
            ]
            process.standardOutput = FileHandle.nullDevice
            FileManager.default.createFile(atPath: directory + "/prometheus.log", contents: nil)
            process.standardError = FileHandle(forWritingAtPath: directory + "/prometheus.log")
            try process.run()
        }

        deinit { stop() }

        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            _ = Daemon.waitForExit(process, within: 30)
        }

        /// The value of an instant query's first sample, or nil while it has none.
        func value(_ query: String) throws -> String? {
            let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? query
            // Not yet listening: no value yet.
            guard let answer = try? Web.request(.port(port), "/api/v1/query?query=\(encoded)"), answer.status == 200 else {
                return nil
            }
            let json = try JSONParser.parse(answer.body)
            guard case .array(let results)? = json["data"]?["result"], let first = results.first,
                case .array(let pair)? = first["value"], pair.count == 2
            else { return nil }
            return pair[1].stringValue
        }

        /// Waits (up to a minute: scrapes are a second apart) for `query` to be `expected`.
        func waitFor(_ query: String, _ expected: String) throws -> Bool {
            for _ in 0..<600 {
                if try value(query) == expected { return true }
                usleep(100_000)
            }
            return false
        }

        func get(_ path: String) throws -> JSONValue {
            try JSONParser.parse(try Web.request(.port(port), path).body)
        }
    }

    @Test(.enabled(if: Requires.prometheus)) func aRealPrometheusScrapesTheDaemonAndLoadsTheRules() throws {
        let metricsPort = try Web.freePort()
        let daemon = try Daemon(extraYAML: "\nmetrics:\n  listen: 127.0.0.1:\(metricsPort)\n")
        try daemon.start()
        defer { _ = daemon.stop() }
        let c = try daemon.connect()
        let now = SystemClock.now()
        // Two 999 calls answered in 3 s and 25 s (one of two within 10 s: the standard
        // missed), a hotline report, an update and an end: five writes.
        let first = UUIDText.random()
        #expect(
            try c.call(
                Req.start(
                    call: first, dialled: "999", at: now.adding(seconds: -60).rfc3339,
                    extra: ["answered_at": .string(now.adding(seconds: -57).rfc3339)])
            ).isOK)
        #expect(
            try c.call(
                Req.start(
                    call: UUIDText.random(), dialled: "999", at: now.adding(seconds: -50).rfc3339,
                    extra: ["answered_at": .string(now.adding(seconds: -25).rfc3339)])
            ).isOK)
        let hotline = UUIDText.random()
        #expect(try c.call(Req.start(call: hotline, dialled: "0800 789 321", at: now.rfc3339)).isOK)
        #expect(try c.call(Req.update(call: hotline, note: "seen twice this week", at: now.rfc3339)).isOK)
        #expect(try c.call(Req.end(call: first, outcome: "dispatched", at: now.rfc3339)).isOK)
        // A refused write is counted with its result, not as written.
        #expect(try c.call(Req.end(call: UUIDText.random(), outcome: "dispatched", at: now.rfc3339)).errorCode == "conflict")
        // A read, by op and role.
        #expect(try c.call(["op": "stats"]).isOK)

        let prometheus = try Prometheus(directory: daemon.directory, target: metricsPort)
        defer { prometheus.stop() }
        #expect(try prometheus.waitFor("up{job=\"hotlined\"}", "1"), "Prometheus never scraped hotlined")
        #expect(try prometheus.waitFor("hotlined_events_written_total", "5"))
        #expect(try prometheus.value("hotlined_ack_seconds_count{op=\"call.start\",result=\"ok\"}") == "3")
        #expect(try prometheus.value("hotlined_ack_seconds_count{op=\"call.end\",result=\"conflict\"}") == "1")
        #expect(try prometheus.value("sum(hotlined_ack_seconds_count)") == "6")
        #expect(try prometheus.value("hotlined_fsync_seconds_count > 0") != nil)
        #expect(try prometheus.value("sum(hotlined_group_commit_events_count)") != nil)
        #expect(try prometheus.value("hotlined_alerts_unacknowledged{level=\"1\"}") == "2")
        #expect(try prometheus.value("hotlined_alerts_unacknowledged{level=\"2\"}") == "0")
        #expect(try prometheus.value("hotlined_calls_open{route=\"emergency\"}") == "1")
        #expect(try prometheus.value("hotlined_calls_open{route=\"anti-terrorist-hotline\"}") == "1")
        #expect(try prometheus.value("hotlined_shift_calls_answered{route=\"emergency\"}") == "2")
        #expect(try prometheus.value("hotlined_answer_standard_ratio{route=\"emergency\"}") == "0.5")
        #expect(try prometheus.value("hotlined_answer_standard_target_ratio{route=\"emergency\"}") == "0.9")
        #expect(try prometheus.value("hotlined_answer_standard_met{route=\"emergency\"}") == "0")
        #expect(try prometheus.value("sum(hotlined_reads_total{op=\"stats\"})") == "1")
        #expect(try prometheus.value("hotlined_storage_fault") == "0")
        #expect(try prometheus.value("hotlined_connections") != nil)
        #expect(try prometheus.value("hotlined_build_info") == "1")
        #expect(try prometheus.value("hotlined_start_time_seconds > 0") != nil)
        // The failure series exist from the start, at zero, so the first failure is an increase.
        #expect(try prometheus.value("hotlined_ack_seconds_count{op=\"call.update\",result=\"storage\"}") == "0")
        #expect(try prometheus.waitFor("sum(hotlined_alert_deliveries_total{sink=\"journal\",result=\"delivered\"})", "2"))

        // The shipped rules loaded and evaluate cleanly against the live series, and the
        // waiting alerts are seen: HotlinedAlertWaiting pending (it fires after a minute).
        let rules = try prometheus.get("/api/v1/rules")
        guard case .array(let groups)? = rules["data"]?["groups"], case .array(let loaded)? = groups.first?["rules"] else {
            Issue.record("no rules loaded: \(rules)")
            return
        }
        #expect(loaded.count == 8)
        #expect(try prometheus.waitFor("count(ALERTS{alertname=\"HotlinedAlertWaiting\",alertstate=\"pending\"})", "1"))
        let evaluated = try prometheus.get("/api/v1/rules")
        if case .array(let groups)? = evaluated["data"]?["groups"], case .array(let now)? = groups.first?["rules"] {
            for rule in now { #expect(rule["health"] == .string("ok"), "\(rule["name"] ?? .null): \(rule["lastError"] ?? .null)") }
        }
    }

    @Test(.enabled(if: Requires.prometheus)) func theShippedRulesPassPromtoolsTests() throws {
        let check = try run("/usr/bin/promtool", ["check", "rules", Self.rules])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let test = try run(
            "/usr/bin/promtool",
            ["test", "rules", Daemon.packageRoot.appendingPathComponent("Tests/prometheus/hotlined-rules.test.yml").path])
        #expect(test.status == 0, "\(test.stdout)\(test.stderr)")
    }

    @Test func theEndpointIsOffUnlessConfiguredAndServesAUnixSocket() throws {
        let daemon = try Daemon()
        try daemon.start()
        #expect(try daemon.connect().call(["op": "stats"]).isOK)
        #expect(!daemon.log().contains("metrics endpoint listening"))
        _ = daemon.stop()

        let path = daemon.directory + "/metrics.sock"
        let on = try Daemon(extraYAML: "\nmetrics:\n  listen: unix:\(path)\n")
        try on.start()
        defer { _ = on.stop() }
        #expect(try on.connect().call(Req.start(call: UUIDText.random(), dialled: "101", at: SystemClock.now().rfc3339)).isOK)
        var answer: Web.Answer?
        for _ in 0..<100 where answer == nil {
            answer = try? Web.request(.unix(path), "/metrics", host: "localhost")
            if answer == nil { usleep(50_000) }
        }
        let metrics = try #require(answer)
        #expect(metrics.status == 200)
        #expect(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(metrics.body.contains("# TYPE hotlined_events_written_total counter"))
        #expect(metrics.body.contains("hotlined_events_written_total 1\n"), "\(metrics.body.prefix(2000))")
        #expect(metrics.body.contains("# HELP hotlined_ack_seconds "))
        #expect(metrics.body.contains("hotlined_calls_open{route=\"non-emergency\"} 1"))
        // Nothing a workstation wrote becomes a label.
        #expect(!metrics.body.contains("call_id"))
        #expect(try Web.request(.unix(path), "/metrics", method: "POST").status == 405)

        for wide in ["0.0.0.0:9469", "10.0.0.1:9469", "metrics.example:9469"] {
            let bad = try Daemon(extraYAML: "\nmetrics:\n  listen: \"\(wide)\"\n")
            let r = try run(Daemon.hotlined, ["--config", bad.configPath, "--check-config"])
            #expect(r.status == 78 && r.stderr.contains("metrics.listen"), "\(wide): \(r.stderr)")
        }
        let clash = try Daemon(extraYAML: "\nmetrics:\n  listen: 127.0.0.1:9469\nwallboard:\n  listen: 127.0.0.1:9469\n")
        let r = try run(Daemon.hotlined, ["--config", clash.configPath, "--check-config"])
        #expect(r.status == 78 && r.stderr.contains("wallboard.listen"), "\(r.stderr)")
    }

    @Test func aPortAlreadyTakenLeavesTheLogRunning() throws {
        // Something else holds the port: the daemon logs why and goes on logging calls.
        let (fd, port) = try Web.boundSocket(listening: true)
        defer { close(fd) }
        let daemon = try Daemon(extraYAML: "\nmetrics:\n  listen: 127.0.0.1:\(port)\n")
        try daemon.start()
        defer { _ = daemon.stop() }
        #expect(try daemon.connect().call(Req.start(call: UUIDText.random(), dialled: "999", at: SystemClock.now().rfc3339)).isOK)
        var logged = false
        for _ in 0..<100 where !logged {
            logged = daemon.log().contains("metrics endpoint could not listen on 127.0.0.1:\(port)")
            if !logged { usleep(50_000) }
        }
        #expect(logged, "\(daemon.log())")
        #expect(daemon.stop() == 0, "SIGTERM still stops it promptly")
    }

    @Test func aWallboardOnTheWorkstationsSocketNeverTakesIt() throws {
        let daemon = try Daemon()
        // The same path as the workstations' socket (--socket overrides paths.socket, so the
        // configuration check cannot see it): the endpoint must not remove the live socket.
        try (try String(contentsOfFile: daemon.configPath, encoding: .utf8) + "\nwallboard:\n  listen: unix:\(daemon.socket)\n")
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        try daemon.start()
        var logged = false
        for _ in 0..<100 where !logged {
            logged = daemon.log().contains("wallboard could not listen on unix:\(daemon.socket): something is listening there already")
            if !logged { usleep(50_000) }
        }
        #expect(logged, "\(daemon.log())")
        #expect(try daemon.connect().call(Req.start(call: UUIDText.random(), dialled: "101", at: SystemClock.now().rfc3339)).isOK)
        #expect(daemon.stop() == 0)
    }

    @Test func idleConnectionsAreCappedAndTheLogGoesOn() throws {
        let port = try Web.freePort()
        let daemon = try Daemon(extraYAML: "\nwallboard:\n  listen: 127.0.0.1:\(port)\n")
        try daemon.start()
        defer { _ = daemon.stop() }
        _ = try Web.request(.port(port), "/board.json")
        // 100 connections that send half a request and wait: past 64 they are closed at once.
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        for _ in 0..<100 {
            let fd = try Web.connect(port: port)
            _ = "GET /board.json HTTP/1.1\r\nHost: 127".utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
            held.append(fd)
        }
        usleep(500_000)
        let closed = held.filter { fd in
            var byte: UInt8 = 0
            var tv = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let n = read(fd, &byte, 1)
            return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)  // closed, or reset
        }.count
        #expect(closed >= 36, "past the cap of 64 each new connection is closed: \(closed) of 100 were")
        // The workstations are not held up, and a wallboard can come back once they go.
        #expect(try daemon.connect().call(Req.start(call: UUIDText.random(), dialled: "999", at: SystemClock.now().rfc3339)).isOK)
        for fd in held { close(fd) }
        held = []
        var served = false
        for _ in 0..<50 where !served {
            served = (try? Web.request(.port(port), "/board.json"))?.status == 200
            if !served { usleep(100_000) }
        }
        #expect(served)
        let head = try Web.request(.port(port), "/board.json", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty && head.headers["x-frame-options"] == "DENY")
        let missing = try Web.request(.port(port), "/nothing", host: "evil.example")
        #expect(missing.status == 421, "the Host check comes before any route")
        #expect(try Web.request(.port(port), "/board.json", host: "127.0.0.1:80@evil.example").status == 421)
    }
}
