import Foundation
import HotlineClient
import HotlineCore
import HotlinePostgres
import Logging
import PostgresNIO
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL cluster for the tests (issue 15): a primary and a streaming standby
/// made from it with `pg_basebackup`, synchronous (`synchronous_standby_names`), each on a
/// Unix socket in a temporary directory (no TCP port is opened), run as the `postgres` user
/// when the tests run as root (PostgreSQL refuses root). Stopped and removed when it goes.
final class PostgresCluster {
    let bin: String
    let directory: String
    let primaryPort: Int
    let standbyPort: Int
    /// The role the cluster is made with (a superuser, trusted on the socket).
    let user = "hotlined"
    /// What the standby names itself to the primary; the primary waits for it.
    static let standbyName = "standby1"
    private var running: Set<String> = []

    var primary: String { directory + "/primary" }
    var standby: String { directory + "/standby" }

    /// Starts the primary, then the standby from a base backup of it, and waits until the
    /// primary counts the standby as synchronous.
    init(bin: String) throws {
        self.bin = bin
        Self.sweepLeftovers(bin: bin)
        // The test process's pid in the name: a cluster whose process is gone was left behind.
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "hotline-pg-\(getpid())-\(UUIDText.random().prefix(8))"
            ).path
        primaryPort = Int.random(in: 20_000...39_999)
        standbyPort = primaryPort + 20_000
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0, let pw = getpwnam("postgres") {
            chown(directory, pw.pointee.pw_uid, pw.pointee.pw_gid)
        }
        chmod(directory, 0o700)
        try pg("initdb", ["-D", primary, "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"])
        try append(
            primary + "/postgresql.conf",
            """
            listen_addresses = ''
            unix_socket_directories = '\(directory)'
            port = \(primaryPort)
            wal_level = replica
            max_wal_senders = 4
            synchronous_standby_names = '\(Self.standbyName)'
            synchronous_commit = on
            """)
        try start(primary)
        try pg(
            "pg_basebackup",
            ["-D", standby, "-R", "-X", "stream", "-d", "host=\(directory) port=\(primaryPort) user=\(user)"])
        // The standby's own socket, and the name the primary waits for.
        try append(
            standby + "/postgresql.auto.conf",
            """
            port = \(standbyPort)
            primary_conninfo = 'host=\(directory) port=\(primaryPort) user=\(user) application_name=\(Self.standbyName)'
            """)
        try start(standby)
        let deadline = Date().addingTimeInterval(30)
        while try sql(primaryPort, "SELECT sync_state FROM pg_stat_replication") != "sync" {
            guard Date() < deadline else { throw HotlineConnection.Failure("the standby did not become synchronous") }
            usleep(100_000)
        }
    }

    deinit {
        for data in running { _ = try? pg("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Stops and removes the clusters of test processes that are gone: one that crashed (or
    /// was killed at CI's deadline) never ran the deinit above, and its servers, which
    /// pg_ctl detached, would run on. Once per test process.
    static func sweepLeftovers(bin: String) {
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
                    var command = [bin + "/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"]
                    if getuid() == 0 { command = ["/usr/sbin/runuser", "-u", "postgres", "--"] + command }
                    _ = try? run(command[0], Array(command.dropFirst()), timeout: 60)
                }
                try? FileManager.default.removeItem(atPath: "\(temporary)/\(name)")
            }
        }
    }

    private static let sweep = Mutex(false)

    /// Starts the server in `data`. Not through `run`: the server pg_ctl leaves behind would
    /// hold run's pipes open, and run would wait for their end for ever.
    func start(_ data: String) throws {
        let p = try spawn([bin + "/pg_ctl", "-D", data, "-l", data + ".log", "-w", "-t", "60", "start"])
        running.insert(data)
        guard Daemon.waitForExit(p) == 0 else {
            let log = (try? String(contentsOfFile: data + ".log", encoding: .utf8)) ?? ""
            throw HotlineConnection.Failure("PostgreSQL in \(data) did not start: \(log)")
        }
    }

    /// Stops a server at once, as a crash or a lost machine would.
    func kill(_ data: String) throws {
        try pg("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
        running.remove(data)
    }

    /// Makes the standby the primary, as a failover manager would once the primary is lost.
    func promote(_ data: String) throws {
        try pg("pg_ctl", ["-D", data, "-w", "promote"])
    }

    /// The server at `port` as `storage.postgresql.hosts` names it.
    func host(_ port: Int) -> String { "\(directory):\(port)" }

    func psql(_ port: Int, _ statement: String) -> [String] {
        [bin + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", directory, "-p", "\(port)", "-U", user]
            + ["-d", "postgres", "-c", statement]
    }

    /// Runs `statement` with psql on the server at `port`; its output, trimmed.
    @discardableResult
    func sql(_ port: Int, _ statement: String) throws -> String {
        let command = psql(port, statement)
        let r = try runAs([], command[0], Array(command.dropFirst()))
        guard r.status == 0 else { throw HotlineConnection.Failure("psql \(statement): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether `statement` is still unanswered after `seconds`; psql is then killed. (Not
    /// with timeout(1): the tests' threads block SIGTERM, and a child inherits the mask.)
    func stillWaiting(_ port: Int, _ statement: String, after seconds: Double) throws -> Bool {
        let p = try spawn(psql(port, statement))
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning, Date() < deadline { usleep(50_000) }
        let waiting = p.isRunning
        if waiting { Glibc.kill(-p.processIdentifier, SIGKILL); Glibc.kill(p.processIdentifier, SIGKILL) }
        Daemon.waitForExit(p)
        return waiting
    }

    /// Starts `command` (as `postgres` when root) with no pipes: its input, output and
    /// errors are /dev/null.
    private func spawn(_ command: [String]) throws -> Process {
        let command = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + command : command
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
        let r = try runAs([], bin + "/" + program, arguments)
        guard r.status == 0 else { throw HotlineConnection.Failure("\(program) \(arguments.joined(separator: " ")): \(r.stderr)") }
    }

    /// Runs a PostgreSQL program, as `postgres` when root, after `prefix` (a timeout).
    private func runAs(_ prefix: [String], _ program: String, _ arguments: [String]) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        var command = prefix + [program] + arguments
        if getuid() == 0 { command = ["/usr/sbin/runuser", "-u", "postgres", "--"] + command }
        let r = try run(command[0], Array(command.dropFirst()))
        return (r.status, r.stdout, r.stderr)
    }

    private func append(_ path: String, _ text: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(("\n" + text + "\n").utf8))
    }
}

/// The cluster issue 15's PostgreSQL engine will run its contract and failover tests on;
/// these check that it is what the log's promise needs: a commit the primary acknowledges
/// is on the standby too, and with the standby gone the primary acknowledges nothing.
@Suite(.serialized)
struct PostgresTests {
    @Test(.enabled(if: Requires.postgres != nil, "PostgreSQL is not installed (make test installs it)"))
    func aCommitIsAcknowledgedOnlyOnceTheStandbyHasIt() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let (primary, standby) = (cluster.primaryPort, cluster.standbyPort)
        try cluster.sql(primary, "CREATE TABLE events (seq bigint PRIMARY KEY, body text NOT NULL)")
        // remote_apply: acknowledged once the standby has applied it, so it reads it at once.
        try cluster.sql(primary, "SET synchronous_commit = remote_apply; INSERT INTO events VALUES (1, 'a 999 call')")
        #expect(try cluster.sql(standby, "SELECT body FROM events WHERE seq = 1") == "a 999 call")
        #expect(try cluster.sql(standby, "SELECT pg_is_in_recovery()") == "t")

        // The standby lost: a commit waits rather than be acknowledged on one machine.
        try cluster.kill(cluster.standby)
        #expect(
            try cluster.stillWaiting(primary, "INSERT INTO events VALUES (2, 'while the standby is down')", after: 3),
            "the primary acknowledged a commit with no standby")
        // Back again, it catches up, and what waited completes on both.
        try cluster.start(cluster.standby)
        let deadline = Date().addingTimeInterval(30)
        var onStandby = try cluster.sql(standby, "SELECT count(*) FROM events")
        while onStandby != "2", Date() < deadline {
            usleep(100_000)
            onStandby = try cluster.sql(standby, "SELECT count(*) FROM events")
        }
        #expect(onStandby == "2")
        #expect(try cluster.sql(primary, "SELECT sync_state FROM pg_stat_replication") == "sync")
    }
}

/// Reaching the log's primary and making its schema (HotlinePostgres), on the private cluster.
@Suite(.serialized)
struct PostgresConnectorTests {
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    static func connector(_ cluster: PostgresCluster, _ hosts: [String]) throws -> PostgresConnector {
        try PostgresConnector(
            settings: PostgreSQLSettings(hosts: hosts, database: "postgres", user: cluster.user, connectTimeoutSeconds: 2),
            credentials: nil, logger: logger)
    }

    @Test(.enabled(if: Requires.postgres != nil, "PostgreSQL is not installed (make test installs it)"))
    func thePrimaryIsFoundWhereverItIsListedAndTheSchemaIsMadeOnce() async throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let connector = try Self.connector(cluster, [cluster.host(cluster.standbyPort), cluster.host(cluster.primaryPort)])
        let (connection, endpoint) = try await connector.connectToPrimary()
        #expect(endpoint == .socket(directory: cluster.directory, port: cluster.primaryPort))

        // What an acknowledgement means here: on the standby's disk too.
        let durability = try await PostgresDurability.prepare(connection, logger: Self.logger)
        #expect(durability.isReplicated)
        #expect(durability.synchronousCommit == "on")
        #expect(durability.standbys.map(\.name) == [PostgresCluster.standbyName])
        #expect(durability.standbys.map(\.state) == ["sync"])

        // Two daemons starting at once: each migration is applied once, by one of them.
        let (other, _) = try await connector.connectToPrimary()
        async let first = PostgresSchema.migrate(connection, logger: Self.logger)
        async let second = PostgresSchema.migrate(other, logger: Self.logger)
        let applied = try await [first, second]
        #expect(applied.flatMap { $0 } == PostgresSchema.migrations.map(\.name))
        #expect(try await PostgresSchema.migrate(connection, logger: Self.logger) == [])
        #expect(try await PostgresSchema.applied(connection, logger: Self.logger) == PostgresSchema.migrations.map(\.name))
        // The tables are on the standby as well.
        #expect(try cluster.sql(cluster.standbyPort, "SELECT count(*) FROM events") == "0")
        try await connection.close()
        try await other.close()
    }

    @Test(.enabled(if: Requires.postgres != nil, "PostgreSQL is not installed (make test installs it)"))
    func withNoPrimaryEveryHostIsNamedWithItsReason() async throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let connector = try Self.connector(
            cluster, [cluster.host(cluster.standbyPort), cluster.directory + "-missing:5432", "127.0.0.1:1"])
        do {
            _ = try await connector.connectToPrimary()
            Issue.record("a standby and two dead hosts gave a primary")
        } catch let error as PostgresUnavailable {
            #expect(error.passedOver.map(\.0) == connector.endpoints)
            #expect(error.passedOver[0].1 == "a standby (in recovery)")
            #expect(error.passedOver[1].1.contains("No such file or directory"), "\(error)")
            #expect(error.passedOver[2].1.contains("Connection refused"), "\(error)")
        }
    }

    @Test(.enabled(if: Requires.postgres != nil, "PostgreSQL is not installed (make test installs it)"))
    func afterAFailoverThePromotedStandbyIsFound() async throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let connector = try Self.connector(cluster, [cluster.host(cluster.primaryPort), cluster.host(cluster.standbyPort)])
        let (before, endpoint) = try await connector.connectToPrimary()
        #expect(endpoint == connector.endpoints[0])
        try cluster.kill(cluster.primary)
        try cluster.promote(cluster.standby)
        let (after, promoted) = try await connector.connectToPrimary()
        #expect(promoted == connector.endpoints[1])
        try? await before.close()
        try await after.close()
    }

    /// A host that accepts the connection and then says nothing (here a listener that reads
    /// and never answers) is passed over, naming why, instead of holding the writer for as
    /// long as TCP would: postgres-nio's connect timeout covers the handshake, and the
    /// connector bounds the question that follows (is it a standby?) at twice that.
    @Test func aHostThatAcceptsAndSaysNothingIsPassedOver() async throws {
        let silent = try HTTPReceiver(failFirst: 0)
        let connector = try PostgresConnector(
            settings: PostgreSQLSettings(
                hosts: ["127.0.0.1:\(silent.port)"], database: "hotline", user: "hotlined", connectTimeoutSeconds: 0.5),
            credentials: nil, logger: Self.logger)
        do {
            _ = try await connector.connectToPrimary()
            Issue.record("a silent host was taken for a primary")
        } catch let error as PostgresUnavailable {
            #expect(error.passedOver.count == 1)
            #expect(error.passedOver.allSatisfy { $0.1.contains("timeout") || $0.1.contains("no answer within") }, "\(error)")
        }
    }

    @Test func aPasswordCredentialThatCannotBeReadIsNamed() throws {
        let settings = PostgreSQLSettings(hosts: ["/run/postgresql"], passwordCredential: "hotlined.pgpass")
        #expect(throws: PostgresSetupError.self) { try PostgresConnector(settings: settings, credentials: nil, logger: Self.logger) }
        do {
            _ = try PostgresConnector(settings: settings, credentials: "/nonexistent", logger: Self.logger)
            Issue.record("an unreadable credential was taken")
        } catch let error as PostgresSetupError {
            #expect(error.description.contains("/nonexistent/hotlined.pgpass"), "\(error)")
        }
    }
}
