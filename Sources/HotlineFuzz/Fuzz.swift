import HotlineCore

/// The request decoder and validator under libFuzzer (`make fuzz`), and, built normally, a
/// replayer of a corpus (`hotline-fuzz FILE|DIR…`) that runs each input through the same
/// checks: what the tests use on the seed corpus in Tests/FuzzCorpus.
///
/// Checked for every input, besides not crashing: a failure names a code and a sentence;
/// a JSON value that parses is written and parsed back to itself; a decoded write goes
/// through the routing and anonymity policy, on a new call and on one already started,
/// and that policy's answer is the same when asked twice.
enum FuzzChecks {
    static let configuration: Configuration = {
        let rule = { (name: String, numbers: [String], grade: Grade, marking: Marking, anonymity: Anonymity, alert: Bool) in
            RouteRule(name: name, numbers: numbers, grade: grade, marking: marking, anonymity: anonymity, alertOnStart: alert)
        }
        return Configuration(
            routes: [
                rule("emergency", ["999", "112"], .emergency, .official, .forbidden, true),
                rule("anti-terrorist-hotline", ["0800789321"], .priority, .officialSensitive, .allowed, false),
                rule("non-emergency", ["101"], .scheduled, .official, .allowed, false),
            ],
            unrouted: rule("unrouted", [], .scheduled, .official, .allowed, false),
            outcomes: ["dispatched", "report-taken", "hoax"])
    }()
    static let policy = CallPolicy(routes: RouteTable(configuration))
    static let decoder = RequestDecoder(outcomes: Set(configuration.outcomes))
    static let handler = Peer(uid: 1001, gid: 1001, pid: 1, roles: [.handler])
    static let supervisor = Peer(uid: 1002, gid: 1002, pid: 2, roles: [.supervisor])

    static func check(_ bytes: [UInt8]) {
        if let value = try? JSONParser.parse(bytes) {
            let written = JSONWriter.bytes(value)
            guard let again = try? JSONParser.parse(written), again == value else {
                fatalError("JSON does not survive writing: \(String(decoding: written, as: UTF8.self))")
            }
        }
        let decoded = decoder.decode(line: bytes)
        switch decoded.result {
        case .failure(let error):
            precondition(!error.message.isEmpty, "an error without a message")
        case .success(.write(let event)):
            for peer in [handler, supervisor] {
                let fresh = try? policy.apply(event, to: nil, by: peer, seq: 1)
                precondition(fresh == (try? policy.apply(event, to: nil, by: peer, seq: 1)), "the policy is not deterministic")
                // The same event on a call that exists (started from the shipped 999 line).
                let start = WriteEvent.start(
                    CallStart(
                        eventID: "00000000-0000-4000-8000-000000000001", callID: event.callID, dialled: "999",
                        receivedAt: Timestamp(microseconds: 0), answeredAt: nil, workstation: nil, handler: nil,
                        identity: CallerIdentity(cli: "01234567890"), anonymousRequested: nil))
                if let started = try? policy.apply(start, to: nil, by: peer, seq: 1) {
                    if let next = try? policy.apply(event, to: started.state, by: peer, seq: 2) {
                        precondition(next.state.id == event.callID, "an event changed the call's id")
                    }
                }
            }
        case .success:
            break
        }
    }
}

#if FUZZING
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
        FuzzChecks.check(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }

    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
    ) -> CInt

    /// SwiftPM names an executable's entry point after the target; hand it to libFuzzer.
    @_cdecl("hotline_fuzz_main")
    public func fuzzMain(
        _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> CInt {
        var argc = argc
        var argv = argv
        return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOne(data, size) }
    }
#else
    import Foundation

    @main
    struct Replay {
        /// Runs every file named (directories: every file in them) through the checks.
        static func main() throws {
            var count = 0
            for path in CommandLine.arguments.dropFirst() {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    FileHandle.standardError.write(Data("hotline-fuzz: \(path): no such file\n".utf8))
                    exit(2)
                }
                let files =
                    isDirectory.boolValue
                    ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 } : [path]
                for file in files {
                    FuzzChecks.check(Array(try Data(contentsOf: URL(fileURLWithPath: file))))
                    count += 1
                }
            }
            print("\(count) inputs checked")
        }
    }
#endif
