import Foundation
import HotlineClient
import HotlineCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `call.get` on a call with very many notes (issue 12, item 4): one answer carries at most
/// `limits.max_notes_per_answer` notes and `notes_next` when more remain; following it gives
/// every note once; the daemon's memory stays bounded while it serves them.
@Suite(.serialized)
struct NotePagingTests {
    /// Writes `texts` as notes on `call` over one connection, pipelined: up to 512 requests
    /// in flight (the daemon answers `unavailable` past `max_pending_per_connection`, 1024),
    /// topped up whenever half of them are answered, so the writer's batches stay full.
    static func writeNotes(_ texts: [String], on call: String, to daemon: Daemon) throws {
        let c = try daemon.connect()
        let window = 512
        var sent = 0, acked = 0
        while acked < texts.count {
            if sent < texts.count, sent - acked <= window / 2 {
                var chunk: [UInt8] = []
                while sent < texts.count, sent - acked < window {
                    chunk += JSONWriter.bytes(Req.update(call: call, note: texts[sent], req: .int(Int64(sent)))) + [0x0A]
                    sent += 1
                }
                try c.write(chunk)
            }
            let ack = try c.receive()
            guard ack.isOK, ack["req"] == .int(Int64(acked)) else {
                Issue.record("note \(acked) was answered \(ack.errorSummary ?? "req \(String(describing: ack["req"]))")")
                return
            }
            acked += 1
        }
    }

    /// A note's text: its number first, so order and uniqueness can be checked, then filler.
    static func noteText(_ i: Int, bytes: Int) -> String {
        let head = "note \(i) of the caller's account: "
        return head + String(repeating: "x", count: max(0, bytes - head.utf8.count))
    }

    /// `/proc/PID/status` figure `key` (VmRSS, VmHWM), in bytes.
    static func memory(_ pid: Int32, _ key: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(key + ":") {
            let kB = line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
            return kB.map { $0 * 1024 }
        }
        return nil
    }

    /// Asks for one page and returns the answer and the length of its line in bytes.
    /// Also how long the answer took to arrive, whole (its parsing here not counted).
    static func page(_ c: HotlineConnection, _ call: String, after: Int64?) throws -> (JSONValue, Int, Double) {
        var request: [String: JSONValue] = ["op": "call.get", "call_id": .string(call)]
        if let after { request["notes_after"] = .int(after) }
        let asked = Date()
        try c.send(.object(request))
        let line = try #require(try c.readLine())
        let waited = Date().timeIntervalSince(asked)
        return (try JSONParser.parse(line), line.utf8.count + 1, waited)
    }

    static let mib = 1 << 20

    /// 50,000 notes of about 1 KiB (some 55 MB of JSON in one answer before paging) at the
    /// shipped cap of 1000 notes: every answer stays near 1 MiB, following `notes_next`
    /// gives each note once and in order, every page is audited with where it starts and
    /// ends, and the daemon's resident memory stays under 200 MiB throughout.
    @Test(.timeLimit(.minutes(10)))
    func fiftyThousandNotesAreAnsweredInBoundedPages() throws {
        let daemon = try Daemon()
        try daemon.start()
        let pid = try #require(daemon.process?.processIdentifier)
        let call = UUIDText.random()
        #expect(try daemon.connect().call(Req.start(call: call, dialled: "0800 789 321")).isOK)
        let count = 50_000, noteBytes = 1000
        let texts = (0..<count).map { Self.noteText($0, bytes: noteBytes) }
        let writing = Date()
        try Self.writeNotes(texts, on: call, to: daemon)
        print("wrote \(count) notes of \(noteBytes) bytes in \(String(format: "%.1f", Date().timeIntervalSince(writing))) s")

        // From here on, the peak is what serving the pages costs (clear_refs 5 resets VmHWM);
        // where it cannot be reset, VmRSS sampled every 5 ms stands in for it.
        let rssBefore = try #require(Self.memory(pid, "VmRSS"))
        let peakReset = (try? "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)) != nil
        let sampled = SampledPeak(pid: pid)
        sampled.start()

        let c = try daemon.connect()
        var seen: [String] = []
        seen.reserveCapacity(count)
        var after: Int64? = nil
        var pages = 0, largest = 0
        var waited = 0.0  // from sending a request to having its whole answer line
        let reading = Date()
        repeat {
            let (answer, bytes, wait) = try Self.page(c, call, after: after)
            waited += wait
            try #require(answer.isOK, "\(answer)")
            let notes = try #require(answer["call"]?["notes"]?.arrayValue)
            #expect(notes.count <= 1000)
            #expect(bytes < 2 * Self.mib, "an answer of \(bytes) bytes")
            largest = max(largest, bytes)
            seen += notes.compactMap { $0["text"]?.stringValue }
            let next = answer["notes_next"]?.intValue
            if let next, let after { #expect(next > after) }
            // The marker is there exactly when notes remain: never a silent truncation.
            #expect((next != nil) == (seen.count < count), "notes_next \(String(describing: next)) after \(seen.count) notes")
            after = next
            pages += 1
        } while after != nil && pages <= count
        let readTime = Date().timeIntervalSince(reading)
        sampled.stop()
        let hwm = Self.memory(pid, "VmHWM")
        let peak = peakReset ? (hwm ?? sampled.peak) : sampled.peak

        #expect(pages == 50)
        #expect(seen.count == count)
        // (Not `seen == texts`: a failure would print 100 MB.)
        let firstWrong = seen.indices.first { $0 >= texts.count || seen[$0] != texts[$0] }
        #expect(firstWrong == nil, "the notes across the pages are not every note once, in order: first wrong at \(firstWrong ?? -1)")
        #expect(peak < 200 * Self.mib, "the daemon's resident memory reached \(peak / Self.mib) MiB")
        print(
            "served \(pages) pages in \(String(format: "%.1f", readTime)) s (\(String(format: "%.1f", waited)) s of it "
                + "waiting for answers); largest answer \(largest) bytes; "
                + "RSS before \(rssBefore / Self.mib) MiB, peak while serving \(peak / Self.mib) MiB "
                + "(\(peakReset ? "VmHWM after clear_refs" : "sampled VmRSS"); sampled \(sampled.peak / Self.mib) MiB)")

        // Each page is audited: where it started (notes_after) and where the next begins
        // (notes_next), so the record says which notes were disclosed.
        let audit = try c.call(["op": "audit.list", "from": "2020-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"])
        let entries = try #require(audit["entries"]?.arrayValue).filter { $0["op"] == "call.get" }
        #expect(entries.count == 50)
        #expect(entries.allSatisfy { $0["call_ids"] == [.string(call)] && $0["result"] == "ok" })
        #expect(entries.first?["notes_after"] == nil)
        #expect(entries.last?["notes_next"] == nil)
        for (earlier, later) in zip(entries, entries.dropFirst()) {
            #expect(earlier["notes_next"] != nil && earlier["notes_next"] == later["notes_after"])
        }
        #expect(daemon.stop() == 0)
    }

    /// A version-1 client that never sends `notes_after`: a call with no more notes than the
    /// cap is answered as before (no `notes_next`, nothing added); one with more gets the
    /// first page and `notes_next`, and can tell it has not had everything.
    @Test func aClientThatNeverPagesIsToldThereIsMore() throws {
        let daemon = try Daemon(limits: ["max_notes_per_answer": 3])
        try daemon.start()
        let c = try daemon.connect()
        let few = UUIDText.random(), many = UUIDText.random()
        #expect(try c.call(Req.start(call: few, dialled: "101")).isOK)
        #expect(try c.call(Req.start(call: many, dialled: "101")).isOK)
        try Self.writeNotes(["one", "two", "three"], on: few, to: daemon)
        try Self.writeNotes((1...7).map { "note \($0)" }, on: many, to: daemon)

        let plain = try c.call(["op": "call.get", "call_id": .string(few), "req": 1])
        #expect(plain.objectValue.map { Set($0.keys) } == ["ok", "req", "call"])
        #expect(plain["call"]?["notes"]?.arrayValue?.compactMap { $0["text"] } == ["one", "two", "three"])

        let first = try c.call(["op": "call.get", "call_id": .string(many)])
        #expect(first.objectValue.map { Set($0.keys) } == ["ok", "call", "notes_next"])
        #expect(first["call"]?["notes"]?.arrayValue?.compactMap { $0["text"] } == ["note 1", "note 2", "note 3"])
        let next = try #require(first["notes_next"])
        let second = try c.call(["op": "call.get", "call_id": .string(many), "notes_after": next])
        #expect(second["call"]?["notes"]?.arrayValue?.compactMap { $0["text"] } == ["note 4", "note 5", "note 6"])
        let third = try c.call(["op": "call.get", "call_id": .string(many), "notes_after": try #require(second["notes_next"])])
        #expect(third["call"]?["notes"]?.arrayValue?.compactMap { $0["text"] } == ["note 7"])
        #expect(third["notes_next"] == nil)
        // The rest of the call is on every page.
        #expect(third["call"]?["id"] == .string(many))
        #expect(third["call"]?["route"] == "non-emergency")

        // A bad cursor is refused naming the field; the connection goes on.
        for bad: JSONValue in [-1, "12", 1.5] {
            let refused = try c.call(["op": "call.get", "call_id": .string(many), "notes_after": bad])
            #expect(refused.errorCode == "invalid")
            #expect(refused.errorField == "notes_after")
        }
        #expect(try c.call(["op": "call.get", "call_id": .string(many), "notes_afterwards": 1]).errorField == "notes_afterwards")
        #expect(try c.call(["op": "ping"]).isOK)
    }

    /// `hotlinectl show` follows `notes_next`: it shows every note, and `--json` answers the
    /// whole call as one object without `notes_next`.
    @Test func hotlinectlShowsEveryPage() throws {
        let daemon = try Daemon(limits: ["max_notes_per_answer": 4])
        try daemon.start()
        let call = UUIDText.random()
        #expect(try daemon.connect().call(Req.start(call: call, dialled: "101")).isOK)
        let texts = (1...10).map { "account part \($0)" }
        try Self.writeNotes(texts, on: call, to: daemon)
        let env = ["HOTLINE_SOCKET": daemon.socket]

        let shown = try run(Daemon.hotlinectl, ["show", call], environment: env)
        #expect(shown.status == 0, "\(shown.stderr)")
        let printed = shown.stdout.split(separator: "\n").filter { $0.contains("account part") }
        #expect(printed.map { String($0.split(separator: ": ", maxSplits: 1).last ?? "") } == texts, "\(shown.stdout)")

        let json = try run(Daemon.hotlinectl, ["show", "--json", call], environment: env)
        #expect(json.status == 0, "\(json.stderr)")
        #expect(json.stdout.split(separator: "\n").count == 1)
        let answer = try JSONParser.parse(json.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(answer["call"]?["notes"]?.arrayValue?.compactMap { $0["text"]?.stringValue } == texts)
        #expect(answer["notes_next"] == nil)
        #expect(answer["call"]?["id"] == .string(call))

        // The audit log says which notes each page read: 10 notes, 4 a page, twice over.
        let audit = try run(Daemon.hotlinectl, ["audit", "--from", "2020-01-01T00:00:00Z"], environment: env)
        #expect(audit.status == 0, "\(audit.stderr)")
        let pages = audit.stdout.split(separator: "\n").filter { $0.contains("call.get") }
        #expect(pages.count == 6, "\(audit.stdout)")
        #expect(pages.filter { $0.contains("notes from the first to seq") }.count == 2, "\(audit.stdout)")
        #expect(pages.filter { $0.wholeMatch(of: /.* notes after seq \d+ to seq \d+$/) != nil }.count == 2, "\(audit.stdout)")
        #expect(pages.filter { $0.wholeMatch(of: /.* notes after seq \d+ to the last$/) != nil }.count == 2, "\(audit.stdout)")

        let missing = try run(Daemon.hotlinectl, ["show", "--json", UUIDText.random()], environment: env)
        #expect(missing.status == 1)
        #expect(try JSONParser.parse(missing.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).errorCode == "not_found")
    }
}

/// The largest VmRSS of a process, sampled on a thread of its own.
final class SampledPeak: @unchecked Sendable {
    let pid: Int32
    private let lock = NSLock()
    private var running = true
    private var largest = 0
    private var thread: Thread?

    init(pid: Int32) { self.pid = pid }

    var peak: Int { lock.withLock { largest } }

    func start() {
        let thread = Thread { [self] in
            while lock.withLock({ running }) {
                let rss = NotePagingTests.memory(pid, "VmRSS") ?? 0
                lock.withLock { largest = max(largest, rss) }
                usleep(5_000)
            }
        }
        self.thread = thread
        thread.start()
    }

    func stop() {
        lock.withLock { running = false }
        usleep(20_000)
        let rss = NotePagingTests.memory(pid, "VmRSS") ?? 0
        lock.withLock { largest = max(largest, rss) }
    }
}
