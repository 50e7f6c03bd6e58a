import ArgumentParser
import Foundation
import HotlineCommandLine
import HotlineClient
import HotlineCore
import Synchronization

/// `hotline-tools alert-bench`: how long from a 999 call.start reaching the daemon to its
/// alert reaching a subscribed console, idle and while other workstations write.
struct AlertBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alert-bench",
        abstract: "Measure 999 call.start → alert push latency at a subscriber, idle and under write load.",
        discussion: """
            A probe connection sends one 999 call.start every --interval ms; a subscriber connection timestamps \
            each alert push. The time includes the durable commit. Load connections log hotline calls (no alerts) \
            back to back, as `hotline-tools bench` does.
            """
    )

    @ParentCommand var parent: HotlineTools
    @Option(help: "Comma-separated numbers of loading connections.") var writers = "0,64"
    @Option(help: "Probes per measurement.") var probes = 200
    @Option(help: "Milliseconds between probes.") var interval = 20
    @OptionGroup var output: OutputOptions

    func run() throws {
        let counts = writers.split(separator: ",").compactMap { Int($0) }
        var rows: [(Int, Double, Double, Int)] = []
        for n in counts {
            let (p50, p99, got) = try measure(load: n)
            rows.append((n, p50, p99, got))
        }
        if output.json {
            print(
                JSONWriter.string(
                    .array(
                        rows.map {
                            ["writers": .int(Int64($0.0)), "p50_ms": .double($0.1), "p99_ms": .double($0.2), "probes": .int(Int64($0.3))]
                        })))
            return
        }
        print("| loading connections | alert p50 (ms) | alert p99 (ms) | probes |")
        print("|---:|---:|---:|---:|")
        for r in rows { print("| \(r.0) | \(String(format: "%.2f", r.1)) | \(String(format: "%.2f", r.2)) | \(r.3) |") }
    }

    private func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    private func measure(load: Int) throws -> (Double, Double, Int) {
        let socket = parent.socketPath
        let subscriber = try HotlineConnection(path: socket)
        let answer = try subscriber.call(["op": "alerts.subscribe"])
        if let summary = answer.errorSummary { throw CLIError(summary) }
        let sent = Mutex<[String: UInt64]>([:])
        let latencies = Mutex<[Double]>([])
        let stop = Atomic<Bool>(false)
        let done = DispatchSemaphore(value: 0)
        // The subscriber reads every push; probes are matched by call id at level 1.
        let reader = Thread {
            while !stop.load(ordering: .relaxed) {
                guard let frame = try? subscriber.nextPush() else { break }
                let t = DispatchTime.now().uptimeNanoseconds
                guard let alert = frame["alert"], alert["level"] == 1, let call = alert["call_id"]?.stringValue,
                    let t0 = sent.withLock({ $0.removeValue(forKey: call) })
                else { continue }
                latencies.withLock { $0.append(Double(t - t0) / 1e6) }
            }
            done.signal()
        }
        reader.start()
        // Load: hotline calls, back to back, raising no alerts.
        let loaders = DispatchGroup()
        for i in 0..<load {
            loaders.enter()
            Thread {
                defer { loaders.leave() }
                guard let c = try? HotlineConnection(path: socket) else { return }
                _ = try? c.call(["op": "hello", "protocol": 1, "workstation": .string("LOAD-\(i)")])
                while !stop.load(ordering: .relaxed) {
                    let call = UUIDText.random()
                    let at = Timestamp(secondsSince1970: Date().timeIntervalSince1970).rfc3339
                    _ = try? c.call([
                        "op": "call.start", "event_id": .string(UUIDText.random()),
                        "call": ["id": .string(call), "dialled": "0800789321", "received_at": .string(at)],
                    ])
                    _ = try? c.call([
                        "op": "call.end", "event_id": .string(UUIDText.random()), "call_id": .string(call),
                        "ended_at": .string(at), "outcome": "report-taken",
                    ])
                }
            }.start()
        }
        if load > 0 { usleep(500_000) }
        let probe = try HotlineConnection(path: socket)
        for _ in 0..<probes {
            let call = UUIDText.random()
            let at = Timestamp(secondsSince1970: Date().timeIntervalSince1970).rfc3339
            sent.withLock { $0[call] = now() }
            let r = try probe.call([
                "op": "call.start", "event_id": .string(UUIDText.random()),
                "call": ["id": .string(call), "dialled": "999", "received_at": .string(at)],
            ])
            if let summary = r.errorSummary { throw CLIError(summary) }
            usleep(useconds_t(interval * 1000))
        }
        usleep(200_000)
        stop.store(true, ordering: .relaxed)
        loaders.wait()
        subscriber.close()
        done.wait()
        let all = latencies.withLock { $0 }.sorted()
        guard !all.isEmpty else { throw CLIError("no alert arrived") }
        func pct(_ p: Double) -> Double { all[min(all.count - 1, Int(Double(all.count) * p))] }
        return (pct(0.5), pct(0.99), all.count)
    }
}
