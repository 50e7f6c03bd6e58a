import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL cluster, for the tests and `hotline-tools crash-loop --engine
/// postgresql` (issue 15): a primary and a streaming standby made from it with
/// `pg_basebackup`, synchronous (`synchronous_standby_names`), each on a Unix socket in a
/// temporary directory (no TCP port is opened), run as the `postgres` user when run as
/// root (PostgreSQL refuses root). Stopped and removed when it goes. Never installed: a
/// scratch server to test against, not a way to run one.
public final class ScratchPostgres {
    public let bin: String
    public let directory: String
    public let primaryPort: Int
    public let standbyPort: Int
    /// The role the cluster is made with (a superuser, trusted on the socket).
    public let user = "hotlined"
    /// What the standby names itself to the primary; the primary waits for it.
    public static let standbyName = "standby1"
    private let running = Mutex<Set<String>>([])

    /// The two servers' data directories, named for the role each starts with.
    public var primary: String { directory + "/primary" }
    public var standby: String { directory + "/standby" }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// The newest PostgreSQL's programs from Debian's packages (`/usr/lib/postgresql/N/bin`),
    /// when they are installed and, as root, there is a `postgres` user to run them as.
    public static let installedBin: String? = {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        guard let newest = versions.last, FileManager.default.isExecutableFile(atPath: "\(root)/\(newest)/bin/initdb") else {
            return nil
        }
        guard getuid() != 0 || (getpwnam("postgres") != nil && FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser"))
        else { return nil }
        return "\(root)/\(newest)/bin"
    }()

    /// Starts the primary, then the standby from a base backup of it, and waits until the
    /// primary counts the standby as synchronous. Without `standby`, the primary alone, with
    /// no synchronous standby (a commit on its disk only: what a benchmark compares with).
    public init(bin: String, standby withStandby: Bool = true) throws {
        self.bin = bin
        Self.sweepLeftovers(bin: bin)
        // The process's pid in the name: a cluster whose process is gone was left behind.
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "hotline-pg-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
            ).path
        primaryPort = Int.random(in: 20_000...39_999)
        standbyPort = primaryPort + 20_000
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0, let pw = getpwnam("postgres") {
            chown(directory, pw.pointee.pw_uid, pw.pointee.pw_gid)
        }
        chmod(directory, 0o700)
        try pg("initdb", ["-D", primary, "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"])
        try Self.append(
            primary + "/postgresql.conf",
            """
            listen_addresses = ''
            unix_socket_directories = '\(directory)'
            port = \(primaryPort)
            wal_level = replica
            max_wal_senders = 4
            synchronous_standby_names = '\(withStandby ? Self.standbyName : "")'
            synchronous_commit = on
            """)
        try start(primary)
        if withStandby { try makeStandby(standby, port: standbyPort, of: primaryPort) }
    }

    deinit {
        for data in running.withLock({ $0 }) { _ = try? pg("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Makes `data` (emptied first) a streaming standby of the server at `primaryPort`,
    /// listening on `port`, starts it, and waits until the primary counts it synchronous.
    /// After a failover, this is how the old primary's machine rejoins.
    public func makeStandby(_ data: String, port: Int, of primaryPort: Int) throws {
        try? FileManager.default.removeItem(atPath: data)
        try pg(
            "pg_basebackup", ["-D", data, "-R", "-X", "stream", "-c", "fast", "-d", "host=\(directory) port=\(primaryPort) user=\(user)"])
        // Its own socket, and the name the primary waits for (the last lines win).
        try Self.append(
            data + "/postgresql.auto.conf",
            """
            port = \(port)
            primary_conninfo = 'host=\(directory) port=\(primaryPort) user=\(user) application_name=\(Self.standbyName)'
            """)
        try start(data)
        let deadline = Date().addingTimeInterval(30)
        while try sql(primaryPort, "SELECT sync_state FROM pg_stat_replication") != "sync" {
            guard Date() < deadline else { throw Failure("the standby in \(data) did not become synchronous") }
            usleep(100_000)
        }
    }

    /// Stops and removes the clusters of processes that are gone: one that crashed (or was
    /// killed at CI's deadline) never ran the deinit above, and its servers, which pg_ctl
    /// detached, would run on. Once per process.
    public static func sweepLeftovers(bin: String) {
        sweep.withLock { swept in
            guard !swept else { return }
            swept = true
            let temporary = FileManager.default.temporaryDirectory.path
            for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix("hotline-pg-") {
                let owner = name.dropFirst("hotline-pg-".count).split(separator: "-").first.flatMap { Int32($0) }
                // Alive (kill 0 succeeds, or it is someone else's to signal): not ours to sweep.
                guard let owner, Glibc.kill(owner, 0) != 0, errno == ESRCH else { continue }
                for server in ["primary", "standby"] {
                    let data = "\(temporary)/\(name)/\(server)"
                    guard FileManager.default.fileExists(atPath: data + "/postmaster.pid") else { continue }
                    _ = try? ScratchProcess.run(asPostgres([bin + "/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"]), timeout: 60)
                }
                try? FileManager.default.removeItem(atPath: "\(temporary)/\(name)")
            }
        }
    }

    private static let sweep = Mutex(false)

    /// Starts the server in `data`. Its output is not piped: the server pg_ctl leaves
    /// behind would hold the pipes open, and a wait for their end would never end.
    public func start(_ data: String) throws {
        let p = try Self.spawn(Self.asPostgres([bin + "/pg_ctl", "-D", data, "-l", data + ".log", "-w", "-t", "60", "start"]))
        _ = running.withLock { $0.insert(data) }
        guard ScratchProcess.wait(p, within: 90) == 0 else {
            let log = (try? String(contentsOfFile: data + ".log", encoding: .utf8)) ?? ""
            throw Failure("PostgreSQL in \(data) did not start: \(log)")
        }
    }

    /// Stops a server at once, as a crash or a lost machine would.
    public func kill(_ data: String) throws {
        try pg("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
        _ = running.withLock { $0.remove(data) }
    }

    /// Makes a standby the primary, as a failover manager would once the primary is lost.
    public func promote(_ data: String) throws {
        try pg("pg_ctl", ["-D", data, "-w", "promote"])
    }

    /// The server at `port` as `storage.postgresql.hosts` names it.
    public func host(_ port: Int) -> String { "\(directory):\(port)" }

    public func psql(_ port: Int, _ statement: String) -> [String] {
        [bin + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", directory, "-p", "\(port)", "-U", user]
            + ["-d", "postgres", "-c", statement]
    }

    /// Runs `statement` with psql on the server at `port`; its output, trimmed.
    @discardableResult
    public func sql(_ port: Int, _ statement: String) throws -> String {
        let r = try ScratchProcess.run(Self.asPostgres(psql(port, statement)))
        guard r.status == 0 else { throw Failure("psql \(statement): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether `statement` is still unanswered after `seconds`; psql is then killed. (Not
    /// with timeout(1): the tests' threads block SIGTERM, and a child inherits the mask.)
    public func stillWaiting(_ port: Int, _ statement: String, after seconds: Double) throws -> Bool {
        let p = try Self.spawn(Self.asPostgres(psql(port, statement)))
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning, Date() < deadline { usleep(50_000) }
        let waiting = p.isRunning
        if waiting {
            Glibc.kill(-p.processIdentifier, SIGKILL)
            Glibc.kill(p.processIdentifier, SIGKILL)
        }
        _ = ScratchProcess.wait(p, within: 10)
        return waiting
    }

    /// `command` as the `postgres` user when root.
    static func asPostgres(_ command: [String]) -> [String] {
        getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + command : command
    }

    /// Starts `command` with no pipes: its input, output and errors are /dev/null.
    private static func spawn(_ command: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: command[0])
        p.arguments = Array(command.dropFirst())
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    private func pg(_ program: String, _ arguments: [String]) throws {
        let r = try ScratchProcess.run(Self.asPostgres([bin + "/" + program] + arguments))
        guard r.status == 0 else { throw Failure("\(program) \(arguments.joined(separator: " ")): \(r.stderr)") }
    }

    private static func append(_ path: String, _ text: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(("\n" + text + "\n").utf8))
    }
}

/// Running a helper program to its end, bounded: its output read on threads of their own (so
/// neither pipe fills), and given up on after the program exits even if a grandchild (a
/// server it started) still holds the pipes.
public enum ScratchProcess {
    /// Runs `command`; kills it after `timeout` seconds (then status is the signal).
    public static func run(_ command: [String], timeout: Double = 300) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: command[0])
        p.arguments = Array(command.dropFirst())
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let readers = [out, err].map { Reader($0.fileHandleForReading) }
        let status = wait(p, within: timeout)
        let (o, e) = (readers[0].finish(within: 5), readers[1].finish(within: 5))
        return (status, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Waits for `p` to exit, at most `seconds`, then calls `onTimeout` and kills it (and its
    /// process group: Foundation starts each child in its own). Polls, and reaps a zombie
    /// itself: Foundation has been seen to miss a SIGCHLD and wait for ever.
    @discardableResult
    public static func wait(_ p: Process, within seconds: Double, onTimeout: () -> Void = {}) -> Int32 {
        let pid = p.processIdentifier
        let deadline = Date().addingTimeInterval(seconds)
        var killed = false
        var zombieSince: Date? = nil
        while p.isRunning {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            // The state is the field after the command name, which is in parentheses.
            let state = stat.range(of: ") ", options: .backwards).map { stat[$0.upperBound...].prefix(1) }
            if state == "Z" {
                let since = zombieSince ?? Date()
                zombieSince = since
                var status: Int32 = 0
                if Date().timeIntervalSince(since) > 2, waitpid(pid, &status, WNOHANG) == pid {
                    // WIFEXITED: the exit code; else the signal, as Foundation reports it.
                    return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
                }
            }
            if !killed, Date() > deadline {
                onTimeout()
                Glibc.kill(-pid, SIGKILL)
                Glibc.kill(pid, SIGKILL)
                killed = true
            }
            usleep(5_000)
        }
        return p.terminationStatus
    }

    /// One pipe read to its end on a thread of its own.
    final class Reader: @unchecked Sendable {
        // `@unchecked Sendable`: `data` is written by the reading thread before `done` is
        // signalled, and read only after the wait for it.
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)

        init(_ handle: FileHandle) {
            Thread {
                self.data = handle.readDataToEndOfFile()
                self.done.signal()
            }.start()
        }

        /// What was read; empty if the end did not come within `seconds`.
        func finish(within seconds: Double) -> Data {
            done.wait(timeout: .now() + seconds) == .success ? data : Data()
        }
    }
}
