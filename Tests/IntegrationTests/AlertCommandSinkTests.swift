import Foundation
import HotlineClient
import HotlineCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a command sink's program may do to the daemon: nothing (issue 12).
extension AlertTests {
    /// Whether `pid` is a live process (not gone, not a zombie).
    static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return !stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
    }

    @Test func aCommandThatNeverExitsIsKilledAndAtMostTheCapRunAtOnce() throws {
        let daemon = try Self.daemon(
            sinks: """
                    - name: stuck
                      type: command
                      argv: ["/bin/sh", "-c", "trap '' TERM; sleep 1000 & echo $$ $! >> PIDS; wait"]
                      timeout_seconds: 1
                      levels: [1]
                """.replacingOccurrences(of: "PIDS", with: "/tmp/hotlined-stuck-\(getpid())"),
            limits: ["max_deliveries_per_sink": 2])
        let pidsFile = "/tmp/hotlined-stuck-\(getpid())"
        unlink(pidsFile)
        defer { unlink(pidsFile) }
        try daemon.start()
        let w = try daemon.connect()
        for _ in 0..<5 { #expect(try w.call(Req.start(dialled: "999")).isOK) }

        // Each shell and its sleep ignore SIGTERM; the shell records both pids.
        var firstSeen: [Int32: (Date, Int32)] = [:]
        func recorded() -> [(shell: Int32, sleep: Int32)] {
            ((try? String(contentsOfFile: pidsFile, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
                let parts = line.split(separator: " ").compactMap { Int32($0) }
                return parts.count == 2 ? (parts[0], parts[1]) : nil
            }
        }
        var mostAtOnce = 0
        var lingering: [Int32] = []
        let started = Date()
        var lastCheck = Date.distantPast
        while Date().timeIntervalSince(started) < 9 {
            let now = Date()
            for (shell, sleep) in recorded() where firstSeen[shell] == nil { firstSeen[shell] = (now, sleep) }
            mostAtOnce = max(mostAtOnce, firstSeen.keys.filter(Self.isRunning).count)
            // Timeout 1 s, then 2 s of grace before SIGKILL: 4.5 s is ample.
            for (shell, (seen, sleep)) in firstSeen where now.timeIntervalSince(seen) > 4.5 {
                if Self.isRunning(shell) || Self.isRunning(sleep) { lingering.append(shell) }
            }
            // The daemon serves everyone else meanwhile.
            if now.timeIntervalSince(lastCheck) > 0.5 {
                lastCheck = now
                let asked = Date()
                #expect(try daemon.connect().call(["op": "stats"]).isOK)
                #expect(Date().timeIntervalSince(asked) < 2)
            }
            usleep(50_000)
        }
        #expect(mostAtOnce == 2)
        #expect(lingering.isEmpty, "still running past timeout and grace: \(Set(lingering))")
        // The rest stayed due and ran when a place was free.
        #expect(firstSeen.count >= 4, "\(firstSeen.count) started")
        #expect(daemon.log().contains("did not finish within 1.0 s and was killed"))
        // Stopping ends the programs under way too, without waiting out their timeouts.
        let stopping = Date()
        #expect(daemon.stop() == 0)
        #expect(Date().timeIntervalSince(stopping) < 8)
        for (shell, sleep) in recorded() {
            #expect(!Self.isRunning(shell) && !Self.isRunning(sleep))
        }
    }

    @Test func aCommandGetsAMinimalEnvironmentAndNoDescriptorOfTheDaemon() throws {
        let out = "/tmp/hotlined-probe-\(getpid())"
        defer { for suffix in [".env", ".fd", ".cwd"] { unlink(out + suffix) } }
        let daemon = try Self.daemon(
            sinks: """
                    - name: probe
                      type: command
                      argv: ["/bin/sh", "-c", "env > \(out).env; ls -l /proc/self/fd > \(out).fd; pwd > \(out).cwd.tmp; mv \(out).cwd.tmp \(out).cwd"]
                      levels: [1]
                """)
        // Where systemd would have put the key, and something else the daemon was given.
        try daemon.start(environment: ["CREDENTIALS_DIRECTORY": daemon.directory, "HOTLINED_TEST_SECRET": "42"])
        let console = try daemon.connect()
        #expect(try console.call(["op": "alerts.subscribe"]).isOK)  // a socket of the daemon's more
        #expect(try daemon.connect().call(Req.start(dialled: "999")).isOK)
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: out + ".cwd") { usleep(100_000) }

        let envText = try String(contentsOfFile: out + ".env", encoding: .utf8)
        var env: [String: String] = [:]
        for line in envText.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            env[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        #expect(env["CREDENTIALS_DIRECTORY"] == nil)
        #expect(env["HOTLINED_TEST_SECRET"] == nil)
        #expect(env["PATH"] == "/usr/local/bin:/usr/bin:/bin")
        #expect(env["LANG"] == "C.UTF-8")
        #expect(env["HOTLINED_SINK"] == "probe")
        // Only those three, and what the shell sets itself.
        #expect(Set(env.keys).isSubset(of: ["PATH", "LANG", "HOTLINED_SINK", "PWD", "OLDPWD", "SHLVL", "_"]), "\(env.keys.sorted())")
        #expect(!envText.contains(daemon.directory))

        // ls itself opens /proc/self/fd as 3 to list it; nothing else is open.
        let fdText = try String(contentsOfFile: out + ".fd", encoding: .utf8)
        var fds: [Int: String] = [:]
        for line in fdText.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard let arrow = words.firstIndex(of: "->"), arrow > 0, let fd = Int(words[arrow - 1]) else { continue }
            fds[fd] = words[(arrow + 1)...].joined(separator: " ")
        }
        #expect(fds.keys.sorted() == [0, 1, 2, 3], "\(fdText)")
        #expect(fds[3]?.hasPrefix("/proc/") == true, "\(fdText)")
        #expect(try String(contentsOfFile: out + ".cwd", encoding: .utf8) == "/\n")
    }
}
