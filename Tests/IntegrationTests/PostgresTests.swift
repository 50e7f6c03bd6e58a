import Foundation
import HotlineClient
import HotlineCore
import HotlinePostgres
import HotlineScratch
import Logging
import PostgresNIO
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The private cluster the PostgreSQL tests run on (HotlineScratch).
typealias PostgresCluster = ScratchPostgres

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
