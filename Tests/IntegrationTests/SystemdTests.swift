import Foundation
import GRDB
import HotlineClient
import HotlineCore
import HotlineTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// hotlined under systemd's protocols, without systemd itself: socket activation through
/// `systemd-socket-activate`, a fake `NOTIFY_SOCKET`, a fake journal socket, and the units
/// checked by `systemd-analyze`.
@Suite(.serialized)
struct SystemdTests {
    static let socketActivate = "/usr/bin/systemd-socket-activate"
    static let analyze = "/usr/bin/systemd-analyze"

    @Test func socketActivationServesClientsThatConnectedBeforeItWasReady() throws {
        let daemon = try Daemon()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.socketActivate)
        p.arguments = [
            "-l", daemon.socket, "--fdname=workstations", Daemon.hotlined, "--config", daemon.configPath,
            "--database", daemon.database,
        ]
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            Daemon.waitForExit(p)
        }
        // systemd-socket-activate listens at once and starts hotlined on the first connection:
        // these clients connect and send before the daemon even exists.
        var connected: HotlineConnection?
        for _ in 0..<200 where connected == nil {
            connected = try? HotlineConnection(path: daemon.socket)
            if connected == nil { usleep(10_000) }
        }
        let first = try #require(connected)
        first.setReceiveTimeout(seconds: 60)
        let second = try daemon.connect()
        let call = UUIDText.random()
        try first.send(Req.start(call: call, dialled: "999", req: 1))
        try second.send(["op": "ping", "req": 2])
        #expect(try first.receive()["route"] == "emergency")
        #expect(try second.receive() == ["ok": true, "req": 2])
        #expect(try first.call(["op": "call.get", "call_id": .string(call)]).isOK)
        kill(p.processIdentifier, SIGTERM)
        #expect(Daemon.waitForExit(p) == 0)
    }

    @Test func aPassedSocketThatIsNotUnixStreamIsRefused() throws {
        let daemon = try Daemon()
        let port = Int.random(in: 20_000...60_000)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.socketActivate)
        p.arguments = ["-l", "127.0.0.1:\(port)", Daemon.hotlined, "--config", daemon.configPath, "--database", daemon.database]
        let err = Pipe()
        p.standardError = err
        try p.run()
        usleep(200_000)
        // Trigger the start with a TCP connection on loopback.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        let status = Daemon.waitForExit(p)
        close(fd)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status != 0)
        #expect(stderr.contains("not a listening Unix stream socket"), "\(stderr)")
    }

    @Test func notificationsComeInOrderAndReloadKeepsConnections() throws {
        let daemon = try Daemon()
        let notify = try DatagramListener(path: daemon.directory + "/notify")
        try daemon.start(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"])
        var messages = notify.drain(for: 1.0)
        #expect(messages.first?.hasPrefix("READY=1\nSTATUS=") == true, "\(messages)")
        #expect(messages.first?.contains("0 events") == true)
        #expect(messages.filter { $0 == "WATCHDOG=1" }.count >= 3, "\(messages)")

        // A workstation stays connected across reloads.
        let c = try daemon.connect()
        #expect(try c.call(Req.start(dialled: "0800 111 222"))["route"] == "unrouted")

        // A good configuration: the new number routes to the hotline from now on.
        let good = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        try good.replacingOccurrences(of: "numbers: [\"0800 789 321\"]", with: "numbers: [\"0800 789 321\", \"0800 111 222\"]")
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        let before = monotonicMicroseconds()
        kill(daemon.process!.processIdentifier, SIGHUP)
        messages = notify.drain(for: 0.6).filter { $0 != "WATCHDOG=1" }
        #expect(messages.count >= 2, "\(messages)")
        let reloading = messages.first ?? ""
        #expect(reloading.hasPrefix("RELOADING=1\nMONOTONIC_USEC="), "\(messages)")
        let usec = UInt64(reloading.split(separator: "=").last ?? "") ?? 0
        #expect(usec >= before && usec < before + 5_000_000)
        #expect(messages.dropFirst().first?.hasPrefix("READY=1\nSTATUS=1 connections, 1 events") == true, "\(messages)")
        #expect(try c.call(Req.start(dialled: "0800 111 222"))["route"] == "anti-terrorist-hotline")

        // A bad one is refused: the running configuration stays and STATUS= says why.
        try (good + "\nnot_a_setting: 1\n").write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        kill(daemon.process!.processIdentifier, SIGHUP)
        messages = notify.drain(for: 0.6).filter { $0 != "WATCHDOG=1" }
        #expect(messages.first?.hasPrefix("RELOADING=1") == true)
        let status = messages.dropFirst().first ?? ""
        #expect(status.hasPrefix("READY=1\nSTATUS="))
        #expect(status.contains("rejected") && status.contains("not_a_setting"), "\(status)")
        #expect(try c.call(Req.start(dialled: "0800 111 222"))["route"] == "anti-terrorist-hotline")
        #expect(daemon.log().contains("not_a_setting"))

        try good.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        kill(daemon.process!.processIdentifier, SIGHUP)
        messages = notify.drain(for: 0.6).filter { $0 != "WATCHDOG=1" }
        #expect(messages.dropFirst().first?.contains("rejected") == false, "\(messages)")

        #expect(daemon.stop() == 0)
        messages = notify.drain(for: 0.2).filter { $0 != "WATCHDOG=1" }
        #expect(messages.last == "STOPPING=1", "\(messages)")
    }

    /// After STOPPING=1 nothing tells systemd the daemon is ready again: a SIGHUP while the
    /// socket drains (a client that does not read its answers holds it up) reloads nothing,
    /// and no status or watchdog ping follows. The jobs stop before the socket drains.
    @Test func aHangUpWhileStoppingIsNotAReload() throws {
        let daemon = try Daemon()
        let notify = try DatagramListener(path: daemon.directory + "/notify")
        try daemon.start(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"])
        _ = notify.drain(for: 0.5)
        // Pings it never reads: their answers fill its socket and wait in the daemon, which
        // then stops reading it, so they are sent from a thread of their own.
        let c = try daemon.connect()
        let flood = Thread { try? c.write(Array(String(repeating: #"{"op":"ping"}"# + "\n", count: 60_000).utf8)) }
        flood.start()
        usleep(500_000)
        let pid = daemon.process!.processIdentifier
        kill(pid, SIGTERM)
        var messages = notify.drain(for: 1.0)
        #expect(messages.contains("STOPPING=1"), "\(messages)")
        kill(pid, SIGHUP)
        messages += notify.drain(for: 1.0)
        let after = messages.drop { $0 != "STOPPING=1" }.dropFirst()
        #expect(after.isEmpty, "after STOPPING=1: \(Array(after))")
        // Read the answers: the drain ends (or times out) and the daemon exits.
        let reader = Thread { while (try? c.readLine()) != nil {} }
        reader.start()
        #expect(Daemon.waitForExit(daemon.process!) == 0)
        #expect(!daemon.log().contains("configuration reloaded"), "\(daemon.log())")
    }

    @Test func aHungWriterStopsTheWatchdogPings() throws {
        let daemon = try Daemon()
        let notify = try DatagramListener(path: daemon.directory + "/notify")
        try daemon.start(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"])
        #expect(notify.drain(for: 0.6).filter { $0 == "WATCHDOG=1" }.count >= 2)
        // Another process holds the database's write lock: the writer's next commit waits on it.
        let holder = try DatabaseQueue(path: daemon.database)
        let locked = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        Thread {
            try? holder.inTransaction(.immediate) { _ in
                locked.signal()
                release.wait()
                return .commit
            }
        }.start()
        locked.wait()
        let c = try daemon.connect()
        try c.send(Req.start(dialled: "999"))
        _ = notify.drain(for: 0.3)  // a ping from before the writer took the event may still come
        let whileHung = notify.drain(for: 1.5).filter { $0 == "WATCHDOG=1" }
        #expect(whileHung.isEmpty, "pings went on while the writer was stuck: \(whileHung.count)")
        release.signal()
        #expect(try c.receive().isOK)  // nothing lost: the write completes once the lock is gone
        #expect(notify.drain(for: 0.6).filter { $0 == "WATCHDOG=1" }.count >= 2)
        #expect(daemon.log().contains("withholding the watchdog ping"))
    }

    @Test func aReloadRightAfterReadyDoesNotKillIt() throws {
        for _ in 0..<3 {
            let daemon = try Daemon()
            let notify = try DatagramListener(path: daemon.directory + "/notify")
            try daemon.start(environment: ["NOTIFY_SOCKET": notify.path])
            // start() returns once the socket answers; READY=1 was sent just before.
            kill(daemon.process!.processIdentifier, SIGHUP)
            usleep(200_000)
            #expect(daemon.process?.isRunning == true)
            #expect(try daemon.connect().call(["op": "ping"]).isOK)
        }
    }

    @Test func noWatchdogPingsWithoutAWatchdog() throws {
        let daemon = try Daemon()
        let notify = try DatagramListener(path: daemon.directory + "/notify")
        try daemon.start(environment: ["NOTIFY_SOCKET": notify.path])
        let messages = notify.drain(for: 1.0)
        #expect(messages.count == 1)
        #expect(messages.first?.hasPrefix("READY=1") == true)
    }

    @Test(.enabled(if: Requires.fakeJournal, "needs root and no journald of its own (a fake journal socket is bound in its place)"))
    func logsGoNativelyToTheJournalWithFieldsAndNoIdentity() throws {
        let journal = "/run/systemd/journal/socket"
        try FileManager.default.createDirectory(atPath: "/run/systemd/journal", withIntermediateDirectories: true)
        let listener = try DatagramListener(path: journal)
        defer { unlink(journal) }
        let daemon = try Daemon()
        try daemon.start(environment: ["HOTLINED_LOG": "journal"])
        let c = try daemon.connect()
        // A 999 BSL call: its alert's journal entry says how the caller reached the room.
        let ack = try c.call(
            Req.start(
                dialled: "999", extra: ["cli": "+447700900123", "caller": ["name": "Ada Quill"], "channel": "video-relay-bsl"]))
        #expect(ack.isOK)
        let alertRaised = "e1a7e2d3c4b5a6978877665544332211"
        var entries: [[String: String]] = []
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !entries.contains(where: { $0["MESSAGE_ID"] == alertRaised }) {
            entries += listener.drain(for: 0.2).map(Self.parseJournalEntry)
        }
        daemon.stop()
        entries += listener.drain(for: 0.5).map(Self.parseJournalEntry)
        let alert = try #require(entries.first { $0["MESSAGE_ID"] == alertRaised })
        #expect(alert["CHANNEL"] == "video-relay-bsl")
        #expect(alert["MESSAGE"]?.contains("on emergency by video-relay-bsl call") == true, "\(alert)")
        let started = entries.first { $0["MESSAGE_ID"] == "4f1e2a7c9b3d4e6f8a1b2c3d4e5f6071" }
        #expect(started?["PRIORITY"] == "6")
        #expect(started?["SYSLOG_IDENTIFIER"] == "hotlined")
        #expect(started?["CODE_FILE"] != nil)
        let escalated = try #require(entries.first { $0["MESSAGE_ID"] == "c0ffee1d2e3f4a5b8c7d6e5f4a3b2c19" })
        #expect(escalated["CALL_ID"] == ack["call_id"]?.stringValue)
        #expect(escalated["ROUTE"] == "emergency")
        #expect(escalated["SEQ"] == "1")
        #expect(escalated["PRIORITY"] == "4")
        #expect(entries.contains { $0["MESSAGE_ID"] == "9a8b7c6d5e4f40312a1b0c9d8e7f6a52" })  // stopped
        for entry in entries {
            for value in entry.values {
                #expect(!value.contains("7700900123") && !value.contains("Ada Quill"), "identity in the journal: \(entry)")
            }
        }
        #expect(!daemon.log().contains("ready"), "with a journal, nothing goes to standard error")
    }

    /// Heads journalled while the daemon runs are anchors an auditor checks a copy of the file
    /// against (`journalctl -o json | hotlinectl verify --anchors -`); the keyed chain catches
    /// a rewrite with recomputed hashes without them, given the key.
    @Test(.enabled(if: Requires.fakeJournal && Requires.sqlite3, "needs root, no journald of its own, and sqlite3"))
    func journalledHeadsAndTheKeyCatchARewriteThatRecomputedEveryHash() throws {
        let journal = "/run/systemd/journal/socket"
        try FileManager.default.createDirectory(atPath: "/run/systemd/journal", withIntermediateDirectories: true)
        let listener = try DatagramListener(path: journal)
        defer { unlink(journal) }
        let daemon = try Daemon()
        // Heads journalled after every row, at most a second apart.
        let config = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        let frequent = config.replacingOccurrences(of: "every_rows: 10000", with: "every_rows: 1")
            .replacingOccurrences(of: "every_seconds: 300", with: "every_seconds: 1")
        #expect(frequent != config)
        try frequent.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        try daemon.start(environment: ["HOTLINED_LOG": "journal"])
        let c = try daemon.connect()
        let call = UUIDText.random()
        #expect(try c.call(Req.start(call: call, dialled: "101")).isOK)
        #expect(try c.call(Req.update(call: call, note: "A van, engine running")).isOK)
        usleep(2_500_000)  // the publisher looks every second
        #expect(try c.call(Req.end(call: call)).isOK)
        usleep(2_500_000)
        daemon.stop()
        // As journalctl -o json prints them: one object of string fields per line.
        let entries = listener.drain(for: 0.5).map(Self.parseJournalEntry)
        let heads = entries.filter { $0["MESSAGE_ID"] == MessageID.chainHead.rawValue }
        #expect(heads.compactMap { $0["MESSAGE"] }.contains { $0.hasPrefix("chain heads now: events 2:") }, "\(heads)")
        #expect(heads.contains { $0["EVENTS_HEAD"]?.hasPrefix("3:") == true })
        // journald adds _SYSTEMD_UNIT to a service's entries; anyone can journal the MESSAGE_ID,
        // so an entry from elsewhere (here with a head pointing past the end) is skipped.
        let anchors = daemon.directory + "/anchors.json"
        let journalled = entries.map { entry in
            JSONWriter.string(.object(entry.mapValues(JSONValue.string).merging(["_SYSTEMD_UNIT": "hotlined.service"]) { a, _ in a }))
        }
        let injected = JSONWriter.string([
            "MESSAGE_ID": .string(MessageID.chainHead.rawValue), "_SYSTEMD_UNIT": "user@1000.service",
            "EVENTS_HEAD": .string("99:" + String(repeating: "0", count: 64)),
        ])
        try (journalled + [injected, "not json"]).joined(separator: "\n").write(toFile: anchors, atomically: true, encoding: .utf8)
        let key = ["--key-file", daemon.directory + "/hotlined.key"]
        func verify(_ extra: [String], stdin: String? = nil) throws -> (status: Int32, stdout: String) {
            let r = try run(Daemon.hotlinectl, ["verify", "--database", daemon.database] + extra, stdin: stdin)
            return (r.status, r.stdout + r.stderr)
        }
        let intact = try verify(key + ["--anchors", "-"], stdin: try String(contentsOfFile: anchors, encoding: .utf8))
        #expect(intact.status == 0, "\(intact.stdout)")
        #expect(!intact.stdout.contains("NOT checked"), "\(intact.stdout)")
        #expect(intact.stdout.contains("; 2 entries skipped"), "\(intact.stdout)")
        // Journalled twice, the keyed chain says the file was rolled back to before it.
        let twice =
            journalled + [
                JSONWriter.string([
                    "MESSAGE_ID": .string(MessageID.chainKeyed.rawValue), "_SYSTEMD_UNIT": "hotlined.service",
                ]),
                JSONWriter.string([
                    "MESSAGE_ID": .string(MessageID.chainKeyed.rawValue), "_SYSTEMD_UNIT": "hotlined.service",
                ]),
            ]
        let rolledBack = try verify(key + ["--anchors", "-"], stdin: twice.joined(separator: "\n"))
        #expect(rolledBack.status == 1, "\(rolledBack.stdout)")
        #expect(rolledBack.stdout.contains("laid the keyed chain over the log 2 times"), "\(rolledBack.stdout)")

        // A forger with the file and not the key changes event 2 and recomputes every plain
        // digest and hash from there, as the daemon would.
        let forged = try run(
            "/usr/bin/sqlite3", [daemon.database, "UPDATE events SET peer_uid = 4242 WHERE seq = 2"])
        #expect(forged.status == 0, "\(forged.stderr)")
        try Forger.rehashEvents(daemon.database, from: 2)
        let plain = try verify([])
        #expect(plain.status == 0, "without the key or anchors the rewrite passes: \(plain.stdout)")
        #expect(plain.stdout.contains("The keyed chain was NOT checked"), "\(plain.stdout)")
        let anchored = try verify(["--anchors", anchors])
        #expect(anchored.status == 1, "\(anchored.stdout)")
        #expect(anchored.stdout.contains("differ from the anchor 2:"), "\(anchored.stdout)")
        let keyed = try verify(key)
        #expect(keyed.status == 1, "\(keyed.stdout)")
        #expect(keyed.stdout.contains("event 2 fails the keyed chain"), "\(keyed.stdout)")
        // A key file others can read is refused, as the daemon refuses it.
        chmod(daemon.directory + "/hotlined.key", 0o644)
        let loose = try verify(key)
        #expect(loose.status == 2, "\(loose.stdout)")
        #expect(loose.stdout.contains("cannot use the key file"), "\(loose.stdout)")
    }

    @Test func theUnitsVerifyWithoutAWarning() throws {
        let daemon = try Daemon()
        let prefix = daemon.directory + "/usr"
        let install = try run(
            "/usr/bin/make",
            [
                "-C", Daemon.packageRoot.path, "install", "PREFIX=\(prefix)", "SYSCONFDIR=\(daemon.directory)/etc",
                "BIN=\(Daemon.binDirectory)",
            ])
        #expect(install.status == 0, "\(install.stderr)")
        let units = ["hotlined.service", "hotlined.socket", "hotlined-export.service", "hotlined-export.timer"]
            .map { prefix + "/lib/systemd/system/" + $0 }
        let verify = try run(Self.analyze, ["verify"] + units)
        #expect(verify.status == 0)
        #expect(verify.stdout.isEmpty && verify.stderr.isEmpty, "systemd-analyze verify warned:\n\(verify.stdout)\(verify.stderr)")
        for file in [
            "bin/hotlined", "bin/hotlinectl", "lib/sysusers.d/hotlined.conf", "lib/tmpfiles.d/hotlined.conf",
            "share/doc/hotlined/README.md", "lib/systemd/system-generators/hotlined-export-generator",
            "share/man/man8/hotlined.8.gz", "share/man/man1/hotlinectl.1.gz", "share/man/man5/hotlined.yaml.5.gz",
            "share/bash-completion/completions/hotlinectl", "share/zsh/vendor-completions/_hotlinectl",
            "share/fish/vendor_completions.d/hotlinectl.fish",
        ] {
            #expect(FileManager.default.fileExists(atPath: prefix + "/" + file), "make install did not install \(file)")
        }
        let service = try String(contentsOfFile: units[0], encoding: .utf8)
        #expect(service.contains("ExecStart=\(prefix)/bin/hotlined --config \(daemon.directory)/etc/hotlined/hotlined.yaml"))
        #expect(FileManager.default.fileExists(atPath: daemon.directory + "/etc/hotlined/hotlined.yaml"))
    }

    /// The scheduled export follows the configuration: the generator turns the configured
    /// shifts' ends into the timer's times (and the export directory into the service's),
    /// and systemd reads them as real calendar events in the shifts' timezone.
    @Test func theExportTimerFiresWhenTheConfiguredShiftsEnd() throws {
        let daemon = try Daemon()
        let prefix = daemon.directory + "/usr"
        let etc = daemon.directory + "/etc"
        let install = try run(
            "/usr/bin/make",
            ["-C", Daemon.packageRoot.path, "install", "PREFIX=\(prefix)", "SYSCONFDIR=\(etc)", "BIN=\(Daemon.binDirectory)"])
        try #require(install.status == 0, "\(install.stderr)")
        // Two twelve-hour shifts in New York, exports to a directory of their own.
        var config = try String(contentsOfFile: etc + "/hotlined/hotlined.yaml", encoding: .utf8)
        let shifts = try #require(config.range(of: "\nshifts:\n"))
        config.replaceSubrange(
            shifts.lowerBound..<config.endIndex,
            with: """

                shifts:
                  timezone: America/New_York
                  export_dir: /srv/hotline-exports
                  schedule:
                    - {name: days, start: "06:30", end: "18:30"}
                    - {name: nights, start: "18:30", end: "06:30"}

                """)
        try config.write(toFile: etc + "/hotlined/hotlined.yaml", atomically: true, encoding: .utf8)
        let out = daemon.directory + "/generator"
        let generator = try run(prefix + "/lib/systemd/system-generators/hotlined-export-generator", [out, out, out])
        #expect(generator.status == 0)
        let timer = try String(contentsOfFile: out + "/hotlined-export.timer.d/50-hotlined-shifts.conf", encoding: .utf8)
        let times = timer.split(separator: "\n").filter { $0.hasPrefix("OnCalendar=") }
        #expect(times == ["OnCalendar=", "OnCalendar=*-*-* 06:30:30 America/New_York", "OnCalendar=*-*-* 18:30:30 America/New_York"])
        let service = try String(contentsOfFile: out + "/hotlined-export.service.d/50-hotlined-shifts.conf", encoding: .utf8)
        #expect(service.contains("Environment=HOTLINED_EXPORT_DIR=/srv/hotline-exports\n"))
        for time in times.dropFirst() {
            let spec = String(time.dropFirst("OnCalendar=".count))
            let calendar = try run(Self.analyze, ["calendar", spec])
            #expect(calendar.status == 0, "\(spec): \(calendar.stderr)")
            #expect(calendar.stdout.contains("Next elapse"), "\(calendar.stdout)")
        }
        // The unit with the drop-ins still verifies.
        let unitDir = prefix + "/lib/systemd/system"
        for unit in ["hotlined-export.timer", "hotlined-export.service"] {
            try FileManager.default.createDirectory(atPath: unitDir + "/\(unit).d", withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                atPath: out + "/\(unit).d/50-hotlined-shifts.conf", toPath: unitDir + "/\(unit).d/50-hotlined-shifts.conf")
        }
        let verify = try run(Self.analyze, ["verify", unitDir + "/hotlined-export.timer", unitDir + "/hotlined-export.service"])
        #expect(verify.status == 0 && verify.stderr.isEmpty, "\(verify.stdout)\(verify.stderr)")
        // A configuration that does not validate leaves the shipped times alone.
        try "shifts: [".write(toFile: etc + "/hotlined/hotlined.yaml", atomically: true, encoding: .utf8)
        let bad = daemon.directory + "/generator-bad"
        #expect(try run(prefix + "/lib/systemd/system-generators/hotlined-export-generator", [bad, bad, bad]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: bad + "/hotlined-export.timer.d/50-hotlined-shifts.conf"))
    }

    @Test func theServiceIsHardenedToAnExposureOfAtMostTwo() throws {
        let unit = Daemon.packageRoot.appendingPathComponent("systemd/hotlined.service").path
        let r = try run(Self.analyze, ["security", "--offline=true", "--no-pager", unit])
        let line = try #require(r.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = Double(line.split(separator: ":").last!.split(separator: " ").first!) ?? 10
        #expect(score <= 2.0, "\(line)")
    }

    /// The journal's native protocol: `NAME=value` lines, or `NAME\n` + 64-bit little-endian
    /// length + value for values with newlines.
    static func parseJournalEntry(_ datagram: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in datagram.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return fields
    }
}

/// A bound Unix datagram socket, like systemd's notification socket or journald's.
final class DatagramListener {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw HotlineConnection.Failure("cannot bind \(path): \(String(cString: strerror(errno)))") }
        var size: Int32 = 4 * 1024 * 1024
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Every datagram that arrives within `seconds`.
    func drain(for seconds: Double) -> [String] {
        var out: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let wait = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
            guard poll(&pfd, 1, wait) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { out.append(String(decoding: buffer[..<n], as: UTF8.self)) }
        }
        return out
    }
}

func monotonicMicroseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1_000
}
