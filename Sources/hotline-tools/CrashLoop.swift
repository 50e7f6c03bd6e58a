import ArgumentParser
import Foundation
import HotlineCommandLine
import HotlineClient
import HotlineCore
import HotlineScratch

#if canImport(Glibc)
    import Glibc
#endif

/// `hotline-tools crash-loop`: kill -9 the daemon again and again under load and prove that
/// nothing acknowledged is lost (issue 7). It starts `hotlined` itself on the configuration
/// given; writers pipeline calls (start, update, end) and, after each crash, resend every
/// event not yet acknowledged, as a workstation would. After each restart: every
/// acknowledged event is still there with its `seq` (those new since the last check are
/// resent and must answer `duplicate` with it; the older ones are read from the file),
/// none is stored twice (the log holds exactly the events acknowledged), `PRAGMA
/// integrity_check` is ok and `verify` is intact.
///
/// `--engine postgresql` keeps the log on a private primary and synchronous standby it
/// starts itself (HotlineScratch). With `--failover` each cycle is the loss of the primary's
/// machine under load: the primary is killed (`pg_ctl stop -m immediate`, as kill -9), the
/// standby promoted, and the old primary's machine rebuilt as the new standby
/// (`pg_basebackup`), while the daemon carries on and reconnects by itself; the daemon is
/// then killed -9 too, and the checks run on the new primary.
struct CrashLoop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-loop",
        abstract: "Kill -9 hotlined N times under load; check that nothing acknowledged is lost.",
        shouldDisplay: false)

    @Option(help: "The hotlined executable.") var hotlined: String
    @Option(help: "Its configuration (with a key_file).") var config: String
    @Option(help: "A directory for the socket and database.") var directory: String
    @Option(help: "Kill -9 cycles.") var cycles = 10
    @Option(help: "Writers (connections).") var writers = 4
    @Option(help: "Longest run between crashes, in milliseconds (each run is random up to this).")
    var maxRunMilliseconds = 2000
    @Option(help: "Where the log is kept: sqlite, or postgresql (a private cluster this starts).")
    var engine = "sqlite"
    @Flag(help: "With --engine postgresql: lose the primary in every cycle, and promote the standby.")
    var failover = false
    @Option(help: "PostgreSQL's programs (default: the newest in /usr/lib/postgresql).")
    var pgBin: String?

    func validate() throws {
        guard ["sqlite", "postgresql"].contains(engine) else { throw ValidationError("--engine is sqlite or postgresql") }
        if failover, engine != "postgresql" { throw ValidationError("--failover needs --engine postgresql") }
    }

    /// Where the log is, and which of the cluster's servers is the primary now.
    final class Log {
        let database: String
        let cluster: ScratchPostgres?
        var primary: (data: String, port: Int)
        var standby: (data: String, port: Int)

        init(database: String, cluster: ScratchPostgres?) {
            self.database = database
            self.cluster = cluster
            primary = (cluster?.primary ?? "", cluster?.primaryPort ?? 0)
            standby = (cluster?.standby ?? "", cluster?.standbyPort ?? 0)
        }

        /// The primary lost, the standby promoted, and the lost machine back as the standby.
        func failOver() throws {
            guard let cluster else { return }
            try cluster.kill(primary.data)
            try cluster.promote(standby.data)
            (primary, standby) = (standby, primary)
            try cluster.makeStandby(standby.data, port: standby.port, of: primary.port)
        }

        /// `sql`'s output: from the sqlite3 shell, or psql on the primary.
        func query(_ sql: String) throws -> String {
            if let cluster { return try cluster.sql(primary.port, sql) }
            let r = try ScratchProcess.run(["/usr/bin/sqlite3", database, sql])
            guard r.status == 0 else { throw CLIError("sqlite3 \(sql): \(r.stderr)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// `@unchecked Sendable`: every field but `prefix` (a constant) is read and written only
    /// while `lock` is held.
    final class Writer: @unchecked Sendable {
        let lock = NSLock()
        var events: [(id: String, request: JSONValue)] = []
        var acked: [String: Int64] = [:]  // event_id → seq
        var resent: Set<String> = []  // acknowledged events already checked by resending them
        let prefix: Int

        init(prefix: Int) { self.prefix = prefix }

        /// The next `n` events of this writer's stream: start, update, end, start, …
        func extend(to n: Int) {
            while events.count < n {
                let i = events.count
                let call = String(format: "c0000000-0000-4000-8000-%04d%08d", prefix, i / 3)
                let id = String(format: "e0000000-0000-4000-8000-%04d%08d", prefix, i)
                let request: JSONValue
                switch i % 3 {
                case 0:
                    request = [
                        "op": "call.start", "event_id": .string(id),
                        "call": [
                            "id": .string(call), "dialled": i % 6 == 0 ? "999" : "0800789321",
                            "received_at": "2026-11-24T19:02:11Z", "cli": "+447700900123",
                        ],
                    ]
                case 1:
                    request = [
                        "op": "call.update", "event_id": .string(id), "call_id": .string(call),
                        "at": "2026-11-24T19:03:00Z", "note": .string("note \(i)"),
                    ]
                default:
                    request = [
                        "op": "call.end", "event_id": .string(id), "call_id": .string(call),
                        "ended_at": "2026-11-24T19:10:00Z", "outcome": "report-taken",
                    ]
                }
                events.append((id, request))
            }
        }
    }

    func run() throws {
        let socket = directory + "/crash.sock"
        var config = self.config
        var cluster: ScratchPostgres? = nil
        if engine == "postgresql" {
            guard let bin = pgBin ?? ScratchPostgres.installedBin else {
                throw CLIError("PostgreSQL is not installed (apt-get install postgresql), or --pg-bin is wrong")
            }
            let made = try ScratchPostgres(bin: bin)
            cluster = made
            config = directory + "/crash-postgresql.yaml"
            let yaml = try String(contentsOfFile: self.config, encoding: .utf8)
            try
                (yaml + """

                    storage:
                      engine: postgresql
                      postgresql:
                        hosts: ["\(made.host(made.primaryPort))", "\(made.host(made.standbyPort))"]
                        database: postgres
                        user: \(made.user)
                        connect_timeout_seconds: 2

                    """).write(toFile: config, atomically: true, encoding: .utf8)
        }
        let log = Log(database: directory + "/crash.sqlite", cluster: cluster)
        defer { withExtendedLifetime(cluster) {} }
        let writers = (0..<self.writers).map { Writer(prefix: $0 + 1) }
        var totalAcked = 0
        var ackedAfterFailovers = 0
        print("cycle  acked-this-run  acked-total  events-in-log  integrity  verify" + (failover ? "  acked-after-failover" : ""))
        for cycle in 1...cycles {
            let daemon = try start(socket: socket, database: log.database, config: config)
            // Everything acknowledged before must still be there, with its seq.
            try check(writers, socket: socket, log: log)
            // Load: each writer resends what was not acknowledged, then goes on.
            let before = writers.reduce(0) { $0 + $1.acked.count }
            let group = DispatchGroup()
            for writer in writers {
                group.enter()
                Thread {
                    defer { group.leave() }
                    Self.write(writer, socket: socket)
                }.start()
            }
            usleep(UInt32(Int.random(in: maxRunMilliseconds / 4...maxRunMilliseconds) * 1000))
            var afterFailover = 0
            if failover {
                // The primary's machine lost under load; the daemon carries on through it.
                try log.failOver()
                let promoted = acked(writers)
                usleep(UInt32(maxRunMilliseconds / 2 * 1000))
                afterFailover = acked(writers) - promoted
                ackedAfterFailovers += afterFailover
            }
            kill(daemon.processIdentifier, SIGKILL)
            ScratchProcess.wait(daemon, within: 60)
            group.wait()
            totalAcked = acked(writers)
            if cluster == nil {
                let integrity = try log.query("PRAGMA integrity_check")
                guard integrity == "ok" else { throw CLIError("cycle \(cycle): integrity_check says \(integrity)") }
            }
            print(String(format: "%5d  %14d  %11d", cycle, totalAcked - before, totalAcked), terminator: "")
            let extra = failover ? String(format: "  %20d", afterFailover) : ""
            // The check after the last crash happens on the next start; do one more.
            if cycle == cycles {
                let last = try start(socket: socket, database: log.database, config: config)
                defer {
                    kill(last.processIdentifier, SIGTERM)
                    ScratchProcess.wait(last, within: 60)
                }
                let (events, verified) = try check(writers, socket: socket, log: log)
                print(String(format: "  %13d", events) + "  ok         " + (verified ? "ok    " : "BAD   ") + extra)
            } else {
                print("  " + String(repeating: " ", count: 13) + "  ok                " + extra)
            }
        }
        let what = failover ? "primaries lost and daemons killed -9" : "kill -9 cycles"
        print(
            "\(cycles) \(what), \(writers.count) writers: \(totalAcked) events acknowledged"
                + (failover ? " (\(ackedAfterFailovers) after a failover)" : "") + ", none lost, none stored twice")
    }

    func acked(_ writers: [Writer]) -> Int {
        writers.reduce(0) { total, w in
            w.lock.lock()
            defer { w.lock.unlock() }
            return total + w.acked.count
        }
    }

    /// One connection's worth of a writer's sending: how many sent and answered, and
    /// whether to stop sending (the daemon answered `unavailable` or `storage`: back off and
    /// resend, as a workstation does). `@unchecked Sendable`: every field is read and
    /// written only while `lock` is held.
    final class Round: @unchecked Sendable {
        private let lock = NSLock()
        private var state = (sent: 0, answered: 0, backOff: false, senderDone: false)

        func with<T>(_ body: (inout (sent: Int, answered: Int, backOff: Bool, senderDone: Bool)) -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return body(&state)
        }
    }

    /// Sends the writer's events from the first not acknowledged on, pipelined, reading
    /// acknowledgements as they come, until the connection dies. An answer `unavailable` or
    /// `storage` (the database lost, a failover under way) stops the sending; once the rest
    /// are answered, it connects again after a pause and resends what is not acknowledged.
    static func write(_ writer: Writer, socket: String) {
        while let c = try? HotlineConnection(path: socket) {
            writer.lock.lock()
            // Enough new events for one run, never a growing backlog to generate each time.
            writer.extend(to: writer.acked.count + 20_000)
            let pending = writer.events.indices.filter { writer.acked[writer.events[$0].id] == nil }
            writer.lock.unlock()
            let round = Round()
            let sender = Thread {
                for (n, i) in pending.enumerated() {
                    // At most 500 unanswered, under the per-connection limit.
                    while round.with({ n - $0.answered > 500 && !$0.backOff }) { usleep(1000) }
                    if round.with({ $0.backOff }) { break }
                    do { try c.send(writer.events[i].request) } catch { break }
                    round.with { $0.sent += 1 }
                }
                round.with { $0.senderDone = true }
            }
            sender.start()
            var n = 0
            while true {
                // Read only what was sent: an answer is then owed, or the connection dies.
                let (sent, done) = round.with { ($0.sent, $0.senderDone) }
                if n >= sent {
                    if done { break }
                    usleep(1000)
                    continue
                }
                guard let line = try? c.readLine() else { return }  // the daemon was killed
                guard let response = try? JSONParser.parse(line), response["push"] == nil else { continue }
                writer.lock.lock()
                if response["ok"] == true, let seq = response["seq"]?.intValue { writer.acked[writer.events[pending[n]].id] = seq }
                writer.lock.unlock()
                let code = response["error"]?["code"]?.stringValue
                n += 1
                round.with { r in
                    r.answered = n
                    if code == "unavailable" || code == "storage" { r.backOff = true }
                }
            }
            guard n < pending.count else { return }
            usleep(200_000)
        }
    }

    func start(socket: String, database: String, config: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: hotlined)
        p.arguments = ["--config", config, "--socket", socket, "--database", database]
        var env = ProcessInfo.processInfo.environment
        env["HOTLINED_LOG"] = "stderr"
        env["HOTLINED_LOG_LEVEL"] = env["HOTLINED_LOG_LEVEL"] ?? "error"
        p.environment = env
        // Its errors, in the directory, for when a cycle fails.
        let log = directory + "/crash-hotlined.log"
        if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = FileHandle(forWritingAtPath: log)
        _ = try? handle?.seekToEnd()
        p.standardError = handle ?? FileHandle.nullDevice
        try p.run()
        for _ in 0..<500 {
            if let c = try? HotlineConnection(path: socket), (try? c.call(["op": "ping"]))?["ok"] == true { return p }
            usleep(20_000)
        }
        throw CLIError("hotlined did not start")
    }

    /// Every event acknowledged since the last check, resent, answers duplicate with its seq;
    /// every one acknowledged before is still in the log with its seq (read from the file:
    /// resending them all again after every crash would make a long run quadratic); the log
    /// holds exactly the acknowledged events (none twice); verify is intact. Returns the
    /// log's size.
    @discardableResult
    func check(_ writers: [Writer], socket: String, log: Log) throws -> (Int, Bool) {
        let c = try HotlineConnection(path: socket)
        var acked = 0
        var stored: [Substring: Int64] = [:]
        for line in try log.query("SELECT event_id || ' ' || seq FROM events").split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let seq = Int64(parts[1]) { stored[parts[0]] = seq }
        }
        for writer in writers {
            writer.lock.lock()
            for (id, seq) in writer.acked where stored[Substring(id)] != seq {
                writer.lock.unlock()
                throw CLIError(
                    "acknowledged event \(id) (seq \(seq)) is \(stored[Substring(id)].map { "at seq \($0)" } ?? "missing") in the log")
            }
            acked += writer.acked.count
            let fresh = writer.events.filter { writer.acked[$0.id] != nil && !writer.resent.contains($0.id) }
            writer.resent.formUnion(fresh.map(\.id))
            let known = fresh.map { ($0.request, writer.acked[$0.id]!) }
            writer.lock.unlock()
            // Resent pipelined, 500 at a time: every one must be a duplicate with its seq.
            var start = 0
            while start < known.count {
                let chunk = known[start..<min(start + 500, known.count)]
                for (request, _) in chunk { try c.send(request) }
                for (request, seq) in chunk {
                    let again = try c.receive()
                    guard again["duplicate"] == true, again["seq"]?.intValue == seq else {
                        throw CLIError(
                            "an acknowledged event was lost or changed: \(JSONWriter.string(request)) answered \(JSONWriter.string(again))")
                    }
                }
                start += chunk.count
            }
        }
        // Events that were stored but whose acknowledgement the crash swallowed are in the
        // log too; they are acknowledged (as duplicates) when resent in the next run.
        let events = try c.call(["op": "stats"])["events"]?.intValue ?? -1
        guard events >= Int64(acked) else { throw CLIError("the log holds \(events) events but \(acked) were acknowledged") }
        // No gap (a lost row) and no event stored twice.
        let rows = try log.query("SELECT COUNT(*) || ' ' || COUNT(DISTINCT event_id) FROM events")
        guard rows == "\(events) \(events)" else {
            throw CLIError("the log's last seq is \(events) but rows and distinct event ids are \(rows)")
        }
        let verify = try c.call(["op": "verify"])
        guard verify["intact"] == true else { throw CLIError("verify: \(JSONWriter.string(verify))") }
        return (Int(events), true)
    }
}
