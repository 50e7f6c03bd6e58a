import ArgumentParser
import Foundation
import HotlineCommandLine
import GRDB
import HotlineClient
import HotlineCore

/// `hotline-tools bench`: durable events per second and acknowledgement latency at several
/// numbers of connected workstations, beside this machine's raw SQLite ceiling.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure durable events/s and acknowledgement latency against a running daemon.",
        discussion: """
            Each connection is a workstation logging calls back to back (start, update with a note, end),
            waiting for each acknowledgement before the next event. The raw ceiling is the same number of
            rows inserted by a plain loop, 100 rows per transaction, WAL, synchronous=FULL, in --raw-dir
            (put it on the daemon's file system).
            """
    )

    @ParentCommand var parent: HotlineTools
    @Option(help: "Comma-separated numbers of concurrent connections.") var connections = "1,8,64"
    @Option(help: "Seconds to run each measurement.") var seconds = 5.0
    @Option(name: .customLong("raw-dir"), help: "Where to measure the raw SQLite ceiling.") var rawDir = "."
    @Option(help: "Repeat every measurement this many times and report medians.") var repeats = 1
    @OptionGroup var output: OutputOptions

    struct Result {
        var connections: Int
        var eventsPerSecond: Double
        var p50: Double
        var p99: Double
    }

    func run() throws {
        let counts = connections.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 && $0 <= 1000 }) else {
            throw ValidationError("--connections must be numbers from 1 to 1000, such as 1,8,64")
        }
        var raws: [Double] = []
        var results: [Int: [Result]] = [:]
        for _ in 0..<max(1, repeats) {
            raws.append(try rawCeiling())
            for n in counts { results[n, default: []].append(try measure(connections: n)) }
        }
        let raw = median(raws)
        let rows = counts.map { n -> Result in
            let r = results[n]!
            return Result(
                connections: n, eventsPerSecond: median(r.map(\.eventsPerSecond)), p50: median(r.map(\.p50)),
                p99: median(r.map(\.p99)))
        }
        if output.json {
            let value: JSONValue = [
                "raw_rows_per_second": .double(raw.rounded()),
                "results": .array(
                    rows.map {
                        [
                            "connections": .int(Int64($0.connections)), "events_per_second": .double($0.eventsPerSecond.rounded()),
                            "p50_ms": .double(($0.p50 * 100).rounded() / 100), "p99_ms": .double(($0.p99 * 100).rounded() / 100),
                            "fraction_of_raw": .double(($0.eventsPerSecond / raw * 1000).rounded() / 1000),
                        ]
                    }),
            ]
            print(JSONWriter.string(value))
            return
        }
        print("| connections | durable events/s | ack p50 (ms) | ack p99 (ms) | share of raw ceiling |")
        print("|---:|---:|---:|---:|---:|")
        for r in rows {
            print(
                "| \(r.connections) | \(Int(r.eventsPerSecond)) | \(format(r.p50)) | \(format(r.p99)) | \(Int((r.eventsPerSecond / raw * 100).rounded()))% |"
            )
        }
        print("| raw SQLite ceiling (plain loop, 100 rows/txn, WAL, synchronous=FULL) | \(Int(raw)) rows/s | | | 100% |")
    }

    private func format(_ ms: Double) -> String { String(format: "%.2f", ms) }

    private func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// `@unchecked Sendable`: each worker is written by its own thread only, and read by
    /// the main thread after `group.wait()`, which orders every write before the read.
    private final class Worker: @unchecked Sendable {
        var latencies: [Double] = []
        var error: String?
    }

    /// Request lines for `calls` calls: start (with a CLI), update (category and note), end.
    static func workload(calls: Int, salt: Int) -> [[UInt8]] {
        let numbers = ["999", "0800789321", "101", "112"]
        var lines: [[UInt8]] = []
        lines.reserveCapacity(calls * 3)
        for k in 0..<calls {
            let callID = UUIDText.random()
            let now = Timestamp(secondsSince1970: Date().timeIntervalSince1970).rfc3339
            let events: [JSONValue] = [
                [
                    "op": "call.start", "event_id": .string(UUIDText.random()),
                    "call": [
                        "id": .string(callID), "dialled": .string(numbers[(k + salt) % numbers.count]),
                        "received_at": .string(now), "answered_at": .string(now), "cli": "+447700900123",
                    ],
                ],
                [
                    "op": "call.update", "event_id": .string(UUIDText.random()), "call_id": .string(callID),
                    "at": .string(now), "set": ["category": "suspicious-activity"],
                    "note": "Caller reports a parked van left unattended for two days outside the station.",
                ],
                [
                    "op": "call.end", "event_id": .string(UUIDText.random()), "call_id": .string(callID),
                    "ended_at": .string(now), "outcome": "report-taken",
                ],
            ]
            for event in events { lines.append(JSONWriter.bytes(event) + [0x0A]) }
        }
        return lines
    }

    private func measure(connections n: Int) throws -> Result {
        let socket = parent.socketPath
        let workers = (0..<n).map { _ in Worker() }
        let group = DispatchGroup()
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchGroup()
        go.enter()
        nonisolated(unsafe) var deadline = Date.distantFuture
        for (i, worker) in workers.enumerated() {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                var signalled = false
                defer {
                    if !signalled {
                        ready.signal()
                        go.wait()
                    }
                }
                do {
                    let connection = try HotlineConnection(path: socket)
                    _ = try connection.call(["op": "hello", "protocol": 1, "workstation": .string("BENCH-\(i)"), "handler": "9999"])
                    // The load generator shares the machine with the daemon: its requests are
                    // made before the clock starts, and answers are checked, not parsed.
                    var lines = Self.workload(calls: 400, salt: i)
                    var next = 0
                    signalled = true
                    ready.signal()
                    go.wait()
                    while Date() < deadline {
                        if next == lines.count {
                            lines = Self.workload(calls: 400, salt: i)
                            next = 0
                        }
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        try connection.write(lines[next])
                        guard let answer = try connection.readLine() else { throw CLIError("hotlined closed the connection") }
                        let t1 = DispatchTime.now().uptimeNanoseconds
                        guard answer.contains("\"ok\":true") else {
                            worker.error = answer
                            return
                        }
                        worker.latencies.append(Double(t1 - t0) / 1e6)
                        next += 1
                    }
                } catch {
                    worker.error = "\(error)"
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        for _ in 0..<n { ready.wait() }
        let start = Date()
        deadline = start.addingTimeInterval(seconds)
        go.leave()
        group.wait()
        let elapsed = Date().timeIntervalSince(start)
        if let error = workers.compactMap(\.error).first { throw CLIError("benchmark failed: \(error)") }
        let all = workers.flatMap(\.latencies).sorted()
        guard !all.isEmpty else { throw CLIError("benchmark acknowledged no event") }
        func percentile(_ p: Double) -> Double { all[min(all.count - 1, Int(Double(all.count) * p))] }
        return Result(
            connections: n, eventsPerSecond: Double(all.count) / elapsed, p50: percentile(0.5), p99: percentile(0.99))
    }

    /// Rows per second a plain loop gets from SQLite here: 100 rows per transaction, WAL,
    /// synchronous=FULL, rows the size of our events.
    private func rawCeiling() throws -> Double {
        let path = (rawDir as NSString).appendingPathComponent("raw-ceiling-\(getpid()).sqlite")
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        var config = Configuration()
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let pool = try DatabasePool(path: path, configuration: config)
        // GRDB's WAL set-up leaves the writer at synchronous=NORMAL; the ceiling must fsync too.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        try pool.write { db in
            try db.execute(
                sql: "CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id TEXT UNIQUE, call_id TEXT, body TEXT, secret BLOB, ack TEXT)")
            try db.execute(sql: "CREATE INDEX events_by_call ON events(call_id, seq)")
        }
        let body = String(repeating: "x", count: 300)
        let secret = Data(repeating: 7, count: 120)
        let ack = String(repeating: "y", count: 250)
        var rows = 0
        let start = Date()
        let deadline = start.addingTimeInterval(seconds)
        while Date() < deadline {
            try pool.write { db in
                let statement = try db.cachedStatement(
                    sql: "INSERT INTO events (event_id, call_id, body, secret, ack) VALUES (?, ?, ?, ?, ?)")
                for _ in 0..<100 {
                    try statement.execute(arguments: [UUIDText.random(), UUIDText.random(), body, secret, ack])
                }
            }
            rows += 100
        }
        let elapsed = Date().timeIntervalSince(start)
        try pool.close()
        return Double(rows) / elapsed
    }
}
