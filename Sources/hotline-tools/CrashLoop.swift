import ArgumentParser
import Foundation
import HotlineCommandLine
import HotlineClient
import HotlineCore

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

    /// `@unchecked Sendable`: every field but `prefix` (a constant) is read and written only
    /// while `lock` is held.
    final class Writer: @unchecked Sendable {
        let lock = NSLock()
        var events: [(id: String, request: JSONValue)] = []
        var acked: [String: Int64] = [:]  // event_id → seq
        var resent: Set<String> = []  // acknowledged events already checked by resending them
        var answered = 0  // responses read in this run
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
        let socket = directory + "/crash.sock", database = directory + "/crash.sqlite"
        let writers = (0..<self.writers).map { Writer(prefix: $0 + 1) }
        var totalAcked = 0
        print("cycle  acked-this-run  acked-total  events-in-log  integrity  verify")
        for cycle in 1...cycles {
            let daemon = try start(socket: socket, database: database)
            // Everything acknowledged before must still be there, with its seq.
            try check(writers, socket: socket, database: database)
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
            kill(daemon.processIdentifier, SIGKILL)
            daemon.waitUntilExit()
            group.wait()
            totalAcked = writers.reduce(0) { $0 + $1.acked.count }
            let integrity = try sqlite(database, "PRAGMA integrity_check")
            guard integrity == "ok" else { throw CLIError("cycle \(cycle): integrity_check says \(integrity)") }
            print(String(format: "%5d  %14d  %11d", cycle, totalAcked - before, totalAcked), terminator: "")
            // The check after the last crash happens on the next start; do one more.
            if cycle == cycles {
                let last = try start(socket: socket, database: database)
                defer {
                    kill(last.processIdentifier, SIGTERM)
                    last.waitUntilExit()
                }
                let (events, verified) = try check(writers, socket: socket, database: database)
                print(String(format: "  %13d", events) + "  ok         " + (verified ? "ok" : "BAD"))
            } else {
                print("  " + String(repeating: " ", count: 13) + "  ok")
            }
        }
        print("\(cycles) kill -9 cycles, \(writers.count) writers: \(totalAcked) events acknowledged, none lost, none stored twice")
    }

    /// Sends the writer's events from the first not acknowledged on, pipelined, reading
    /// acknowledgements as they come, until the connection dies.
    static func write(_ writer: Writer, socket: String) {
        guard let c = try? HotlineConnection(path: socket) else { return }
        writer.lock.lock()
        // Enough new events for one run, never a growing backlog to generate each time.
        writer.extend(to: writer.acked.count + 20_000)
        let pending = writer.events.indices.filter { writer.acked[writer.events[$0].id] == nil }
        writer.lock.unlock()
        let sender = Thread {
            for (n, i) in pending.enumerated() {
                // At most 500 unanswered, under the per-connection limit.
                while n - answeredCount(writer) > 500 { usleep(1000) }
                do { try c.send(writer.events[i].request) } catch { return }
            }
        }
        sender.start()
        var n = 0
        while n < pending.count, let line = try? c.readLine() {
            guard let response = try? JSONParser.parse(line), response["push"] == nil else { continue }
            writer.lock.lock()
            if response["ok"] == true, let seq = response["seq"]?.intValue { writer.acked[writer.events[pending[n]].id] = seq }
            writer.answered += 1
            writer.lock.unlock()
            n += 1
        }
    }

    static func answeredCount(_ w: Writer) -> Int {
        w.lock.lock()
        defer { w.lock.unlock() }
        return w.answered
    }

    func start(socket: String, database: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: hotlined)
        p.arguments = ["--config", config, "--socket", socket, "--database", database]
        var env = ProcessInfo.processInfo.environment
        env["HOTLINED_LOG"] = "stderr"
        env["HOTLINED_LOG_LEVEL"] = "error"
        p.environment = env
        p.standardError = FileHandle.nullDevice
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
    func check(_ writers: [Writer], socket: String, database: String) throws -> (Int, Bool) {
        let c = try HotlineConnection(path: socket)
        var acked = 0
        var stored: [Substring: Int64] = [:]
        for line in try sqlite(database, "SELECT event_id || ' ' || seq FROM events").split(separator: "\n") {
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
            writer.answered = 0
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
        let rows = try sqlite(database, "SELECT COUNT(*) || ' ' || COUNT(DISTINCT event_id) FROM events")
        guard rows == "\(events) \(events)" else {
            throw CLIError("the log's last seq is \(events) but rows and distinct event ids are \(rows)")
        }
        let verify = try c.call(["op": "verify"])
        guard verify["intact"] == true else { throw CLIError("verify: \(JSONWriter.string(verify))") }
        return (Int(events), true)
    }

    func sqlite(_ database: String, _ sql: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [database, sql]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
