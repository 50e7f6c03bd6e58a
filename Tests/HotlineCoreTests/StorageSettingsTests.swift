import HotlineCore
import Testing

/// `storage:` in the configuration: which engine, and how the PostgreSQL one is reached.
@Suite struct StorageSettingsTests {
    static func with(_ storage: StorageSettings) -> Configuration {
        var c = ConfigurationTests.shipped
        c.storage = storage
        return c
    }

    @Test func sqliteIsTheDefaultAndNeedsNothingElse() {
        #expect(ConfigurationTests.shipped.storage == StorageSettings(engine: .sqlite, postgresql: nil))
        #expect(ConfigurationTests.shipped.problems() == [])
    }

    @Test func theIssuesExampleHasNoProblems() throws {
        let settings = PostgreSQLSettings(
            hosts: ["/run/postgresql", "db2.control.example:5432"], database: "hotline", user: "hotlined",
            passwordCredential: "hotlined.pgpass", tls: .require)
        #expect(Self.with(StorageSettings(engine: .postgresql, postgresql: settings)).problems() == [])
        #expect(
            try settings.endpoints() == [
                .socket(directory: "/run/postgresql", port: 5432), .tcp(host: "db2.control.example", port: 5432),
            ])
    }

    @Test func postgresqlWithoutItsSettingsIsAProblem() {
        #expect(
            Self.with(StorageSettings(engine: .postgresql)).problems() == [
                .init(path: "storage.postgresql", reason: "is required when storage.engine is postgresql")
            ])
    }

    /// Settings left under `postgresql` while the engine says sqlite are most likely a
    /// forgotten `engine:` line: the log would quietly stay on one disk.
    @Test func postgresqlSettingsUnderSQLiteAreAProblem() {
        let c = Self.with(StorageSettings(engine: .sqlite, postgresql: PostgreSQLSettings(hosts: ["/run/postgresql"])))
        #expect(c.problems().map(\.path) == ["storage.postgresql"])
    }

    @Test(arguments: [
        ("/run/postgresql", PostgresEndpoint.socket(directory: "/run/postgresql", port: 5432)),
        ("/run/postgresql:5433", .socket(directory: "/run/postgresql", port: 5433)),
        ("db2", .tcp(host: "db2", port: 5432)),
        ("db2.control.example:6432", .tcp(host: "db2.control.example", port: 6432)),
        ("10.0.0.2:5432", .tcp(host: "10.0.0.2", port: 5432)),
        ("[2001:db8::2]:5433", .tcp(host: "2001:db8::2", port: 5433)),
        ("[::1]", .tcp(host: "::1", port: 5432)),
    ])
    func hostsParse(text: String, endpoint: PostgresEndpoint) {
        #expect(PostgresEndpoint(text) == endpoint)
    }

    @Test(arguments: [
        "", " ", "db2:", "db2:0", "db2:65536", "db2:54x", "db 2", "2001:db8::2", "[2001:db8::2", "[]:5432", "[db2]:5432",
        "/run/postgresql:", "/a:b:5432", "db2:5432:1", "postgres://db2", "db2/x",
    ])
    func badHostsAreProblemsNamingTheirIndex(text: String) {
        #expect(PostgresEndpoint(text) == nil)
        let c = Self.with(StorageSettings(engine: .postgresql, postgresql: PostgreSQLSettings(hosts: ["/run/postgresql", text])))
        #expect(c.problems().map(\.path) == ["storage.postgresql.hosts.1"])
        #expect(throws: Configuration.Problem.self) { try c.storage.postgresql!.endpoints() }
    }

    @Test func everyOtherSettingIsChecked() {
        let settings = PostgreSQLSettings(
            hosts: [], database: "", user: String(repeating: "u", count: 64), passwordCredential: "../etc/shadow",
            connectTimeoutSeconds: 0)
        #expect(
            Self.with(StorageSettings(engine: .postgresql, postgresql: settings)).problems().map(\.path) == [
                "storage.postgresql.hosts", "storage.postgresql.database", "storage.postgresql.user",
                "storage.postgresql.password_credential", "storage.postgresql.connect_timeout_seconds",
            ])
    }

    @Test func endpointsAreNamedAsTheJournalShowsThem() {
        #expect(PostgresEndpoint.socket(directory: "/run/postgresql", port: 5432).description == "/run/postgresql/.s.PGSQL.5432")
        #expect(PostgresEndpoint.tcp(host: "2001:db8::2", port: 5432).description == "[2001:db8::2]:5432")
        #expect(PostgresEndpoint.tcp(host: "db2", port: 5433).description == "db2:5433")
    }
}
