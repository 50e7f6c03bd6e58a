import Foundation
import HotlineClient
import HotlineCore
import HotlineScratch
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The built `hotlined` running on a temporary socket and database, for one test.
final class Daemon: @unchecked Sendable {
    let directory: String
    let socket: String
    /// The database file; a test may move it (onto a small file system, say) before start.
    var database: String
    let configPath: String
    let keyHex: String
    private(set) var process: Process?
    let logPath: String

    /// Where `swift build` put the executables: beside the test bundle.
    static var binDirectory: String {
        if let dir = ProcessInfo.processInfo.environment["HOTLINED_BIN_DIR"] { return dir }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // On Linux the runner is .build/<triple>/debug/hotlinedPackageTests.xctest
        if !FileManager.default.fileExists(atPath: url.appendingPathComponent("hotlined").path) {
            url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug")
        }
        return url.path
    }

    static var hotlined: String { binDirectory + "/hotlined" }
    static var hotlinectl: String { binDirectory + "/hotlinectl" }
    /// The developers' tools (load generator, alert benchmark, crash loop).
    static var tools: String { binDirectory + "/hotline-tools" }

    /// Writes a configuration (the shipped one with `limits` changed as asked) and a key.
    init(limits: [String: Int] = [:], extraYAML: String = "") throws {
        var template = Array("/tmp/hotlined-test-XXXXXX".utf8CString)
        guard let dir = mkdtemp(&template) else { throw HotlineConnection.Failure("mkdtemp failed") }
        directory = String(cString: dir)
        chmod(directory, 0o755)
        socket = directory + "/s.sock"
        database = directory + "/calls.sqlite"
        configPath = directory + "/hotlined.yaml"
        logPath = directory + "/daemon.log"
        keyHex = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        try (keyHex + "\n").write(toFile: directory + "/hotlined.key", atomically: true, encoding: .utf8)
        chmod(directory + "/hotlined.key", 0o600)  // hotlined refuses a key others could read
        var shipped = try String(contentsOfFile: Self.shippedConfig, encoding: .utf8)
        shipped = shipped.replacingOccurrences(
            of: "  # key_file: /etc/hotlined/hotlined.key", with: "  key_file: \(directory)/hotlined.key")
        for (key, value) in limits {
            if shipped.contains("  \(key):") {
                shipped = shipped.replacingOccurrences(
                    of: "(?m)^  \(key):.*$", with: "  \(key): \(value)", options: .regularExpression)
            } else {
                shipped = shipped.replacingOccurrences(of: "limits:\n", with: "limits:\n  \(key): \(value)\n")
            }
        }
        try (shipped + extraYAML).write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var shippedConfig: String { packageRoot.appendingPathComponent("Config/hotlined.yaml").path }

    /// Starts the daemon and waits until its socket answers.
    func start(environment: [String: String] = [:]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.hotlined)
        p.arguments = ["--config", configPath, "--socket", socket, "--database", database]
        var env = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "JOURNAL_STREAM", "HOTLINED_LOG"] {
            env[key] = nil
        }
        env.merge(environment) { _, new in new }
        p.environment = env
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let logFile = FileHandle(forWritingAtPath: logPath)!
        logFile.seekToEndOfFile()
        p.standardOutput = logFile
        p.standardError = logFile
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let c = try? HotlineConnection(path: socket) {
                c.setReceiveTimeout(seconds: 5)  // listening but not yet serving: ask again
                if (try? c.call(["op": "ping"]))?["ok"] == .bool(true) { return }
            }
            if !p.isRunning { break }
            usleep(20_000)
        }
        throw HotlineConnection.Failure("hotlined did not start; its log:\n\(log())")
    }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Lets every user connect (mode 0666), for tests that run clients as other users. The
    /// daemon sets the socket's mode 0660 just after it starts listening, and says
    /// "listening" once it has: only then is the mode changed, or the daemon's would undo it.
    func openSocketToEveryone() {
        let deadline = Date().addingTimeInterval(10)
        while !log().contains("listening"), Date() < deadline { usleep(10_000) }
        chmod(socket, 0o666)
    }

    /// SIGTERM and wait; returns the exit status. The unit gives it 30 s (TimeoutStopSec)
    /// before systemd kills it; a daemon still running after 60 s fails the test, with its log.
    @discardableResult
    func stop(sourceLocation: SourceLocation = #_sourceLocation) -> Int32 {
        guard let p = process else { return 0 }
        if p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let status = Self.waitForExit(p, within: 60, andThen: { "its log:\n" + self.log() }, sourceLocation: sourceLocation)
        process = nil
        return status
    }

    /// Waits for `p` to exit and returns its status as `Process.terminationStatus` gives it.
    /// `Process.waitUntilExit` once waited for ever on a daemon that had exited and sat
    /// there a zombie nobody reaped (2026-11-29, AlertTests; Foundation missed its SIGCHLD).
    /// So this polls, and reaps a zombie itself if Foundation has not within 2 s. Never for
    /// ever: after `seconds` the test fails, naming the command, and its process group
    /// (Foundation starts each child in its own) is killed, so a hang fails one test rather
    /// than hold the whole run until CI's deadline.
    @discardableResult
    static func waitForExit(
        _ p: Process, within seconds: Double = 300, andThen context: () -> String = { "" },
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Int32 {
        ScratchProcess.wait(p, within: seconds) {
            let command = ([p.executableURL?.path ?? "?"] + (p.arguments ?? [])).joined(separator: " ")
            Issue.record("\(command) did not exit within \(Int(seconds)) s: killed\n\(context())", sourceLocation: sourceLocation)
        }
    }

    /// The daemon's resident memory (VmRSS), in KiB.
    func rssKilobytes() -> Int {
        guard let pid = process?.processIdentifier,
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }

    /// kill -9: no chance to flush or close anything.
    func crash() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGKILL)
        Self.waitForExit(p)
        process = nil
    }

    /// A connection whose reads give up after 60 s, so a missing answer fails the test
    /// instead of hanging the run.
    func connect() throws -> HotlineConnection {
        let connection = try HotlineConnection(path: socket)
        connection.setReceiveTimeout(seconds: 60)
        return connection
    }

    /// Every byte of the database and its companions (WAL, shared memory, journal).
    func databaseBytes() -> [(String, [UInt8])] {
        ["", "-wal", "-shm", "-journal"].compactMap { suffix in
            guard let data = FileManager.default.contents(atPath: database + suffix) else { return nil }
            return (database + suffix, [UInt8](data))
        }
    }

    deinit {
        if let p = process, p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            Self.waitForExit(p)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs a command to its end; returns its exit status, its output and the pid it ran as.
/// Bounded: a command still running after `timeout` seconds fails the test and is killed
/// (see ``Daemon/waitForExit(_:within:sourceLocation:)``), and its output is read only until
/// it has exited and 5 s more, so a grandchild left holding the pipes (a server it
/// started) cannot hold the test either.
@discardableResult
func run(
    _ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String]? = nil,
    timeout: Double = 300, sourceLocation: SourceLocation = #_sourceLocation
) throws -> (status: Int32, stdout: String, stderr: String, pid: Int32) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let environment { p.environment = environment }
    let out = Pipe(), err = Pipe(), input = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = input
    try p.run()
    let reader = PipeReader([out.fileHandleForReading, err.fileHandleForReading])
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    let status = Daemon.waitForExit(p, within: timeout, sourceLocation: sourceLocation)
    let (outData, errData) = reader.finish(within: 5)
    return (status, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self), p.processIdentifier)
}

/// Reads a child's output and errors on a thread of its own while the child runs, so that
/// neither pipe fills, and gives up on them at a deadline rather than wait for an end of
/// file that a grandchild holding a copy of the pipe would put off for ever.
final class PipeReader: @unchecked Sendable {
    private let handles: [FileHandle]
    private let lock = NSLock()
    private var data: [Data]
    private let done = DispatchSemaphore(value: 0)
    private var stop = false

    init(_ handles: [FileHandle]) {
        self.handles = handles
        data = handles.map { _ in Data() }
        Thread.detachNewThread { self.readAll() }
    }

    private func readAll() {
        var fds = handles.map { pollfd(fd: $0.fileDescriptor, events: Int16(POLLIN), revents: 0) }
        var open = fds.count
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while open > 0, !lock.withLock({ stop }) {
            guard poll(&fds, nfds_t(fds.count), 100) > 0 else { continue }
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = read(fds[i].fd, &buffer, buffer.count)
                if n > 0 {
                    lock.withLock { data[i].append(contentsOf: buffer[0..<n]) }
                } else if n == 0 || errno != EINTR {
                    fds[i].fd = -1
                    open -= 1
                }
            }
        }
        done.signal()
    }

    /// What was read, once both pipes have ended or `seconds` have passed.
    func finish(within seconds: Double) -> (Data, Data) {
        if done.wait(timeout: .now() + seconds) == .timedOut {
            lock.withLock { stop = true }
            done.wait()
        }
        return lock.withLock { (data[0], data[1]) }
    }
}

/// Builders for protocol requests.
enum Req {
    static func start(
        call: String = UUIDText.random(), event: String = UUIDText.random(), dialled: String = "999",
        at: String = "2026-11-24T19:02:11Z", extra: [String: JSONValue] = [:], req: JSONValue? = nil
    ) -> JSONValue {
        var c: [String: JSONValue] = ["id": .string(call), "dialled": .string(dialled), "received_at": .string(at)]
        for (k, v) in extra { c[k] = v }
        var m: [String: JSONValue] = ["op": "call.start", "event_id": .string(event), "call": .object(c)]
        if let req { m["req"] = req }
        return .object(m)
    }

    static func update(
        call: String, event: String = UUIDText.random(), set: [String: JSONValue]? = nil, note: String? = nil,
        at: String = "2026-11-24T19:03:00Z", reason: String? = nil, req: JSONValue? = nil
    ) -> JSONValue {
        var m: [String: JSONValue] = ["op": "call.update", "event_id": .string(event), "call_id": .string(call), "at": .string(at)]
        if let set { m["set"] = .object(set) }
        if let note { m["note"] = .string(note) }
        if let reason { m["reason"] = .string(reason) }
        if let req { m["req"] = req }
        return .object(m)
    }

    static func end(
        call: String, event: String = UUIDText.random(), outcome: String = "report-taken",
        at: String = "2026-11-24T19:10:00Z", req: JSONValue? = nil
    ) -> JSONValue {
        var m: [String: JSONValue] = [
            "op": "call.end", "event_id": .string(event), "call_id": .string(call), "ended_at": .string(at),
            "outcome": .string(outcome),
        ]
        if let req { m["req"] = req }
        return .object(m)
    }
}

extension JSONValue {
    var errorCode: String? { self["error"]?["code"]?.stringValue }
    var errorField: String? { self["error"]?["field"]?.stringValue }
    var isOK: Bool { self["ok"] == .bool(true) }
}

extension Array where Element == UInt8 {
    func contains(bytes needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        let first = needle[0]
        var i = 0
        let last = count - needle.count
        while i <= last {
            if self[i] == first && Array(self[i..<(i + needle.count)]) == needle { return true }
            i += 1
        }
        return false
    }
}

/// What some tests need of the machine, for `.enabled(if:)`: a test that cannot run here
/// is reported as skipped, not passed. CI runs as root, so there they run.
enum Requires {
    static func executable(_ path: String) -> Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Root, to run clients as other users with setpriv.
    static let rootAndSetpriv = getuid() == 0 && executable("/usr/bin/setpriv")
    /// Root, and no journald of the machine's own: a fake journal socket is bound in its place.
    static let fakeJournal = getuid() == 0 && !FileManager.default.fileExists(atPath: "/run/systemd/journal/socket")
    static let sqlite3 = executable("/usr/bin/sqlite3")
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: executable)
    /// Headless Chromium with its DevTools driver's websocket module (the wallboard).
    static let browser = Browser.available
    /// Debian's Prometheus server and promtool (the metrics endpoint).
    static let prometheus = executable("/usr/bin/prometheus") && executable("/usr/bin/promtool")
    /// The newest PostgreSQL's programs from Debian's packages, runnable here (HotlineScratch).
    static let postgres: String? = ScratchPostgres.installedBin
    /// A C compiler, for the failing-fsync shim.
    static let cc = executable("/usr/bin/cc")
    /// Root with useradd and groupadd, to make a user with a supplementary group.
    static let userTools = getuid() == 0 && TemporaryUser.tool("useradd") != nil && TemporaryUser.tool("groupadd") != nil

    /// Root, and a tmpfs can be mounted here (tried once, on a scratch directory).
    static let tmpfs: Bool = scratch { dir in
        guard (try? run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]))?.status == 0 else { return false }
        _ = try? run("/usr/bin/umount", ["-l", dir])
        return true
    }

    /// Root, and an ext4 image can be loop-mounted with errors=remount-ro and told to fail
    /// (`/sys/fs/ext4/DEVICE/trigger_fs_error`): tried once.
    static let ext4Errors: Bool = scratch { dir in
        let image = dir + ".img"
        defer { unlink(image) }
        guard FileManager.default.createFile(atPath: image, contents: nil), truncate(image, 32 << 20) == 0,
            (try? run("/usr/sbin/mkfs.ext4", ["-q", "-F", image]))?.status == 0,
            (try? run("/usr/bin/mount", ["-o", "loop,errors=remount-ro", image, dir]))?.status == 0
        else { return false }
        defer { _ = try? run("/usr/bin/umount", ["-l", dir]) }
        let source = (try? run("/usr/bin/findmnt", ["-n", "-o", "SOURCE", dir]).stdout) ?? ""
        let device = URL(fileURLWithPath: source.trimmingCharacters(in: .whitespacesAndNewlines)).lastPathComponent
        return FileManager.default.isWritableFile(atPath: "/sys/fs/ext4/\(device)/trigger_fs_error")
    }

    /// `probe` on a fresh directory, removed after; false without root.
    private static func scratch(_ probe: (String) -> Bool) -> Bool {
        guard getuid() == 0 else { return false }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-probe-\(UUIDText.random())").path
        guard (try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)) != nil else { return false }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return probe(dir)
    }
}
