import Foundation
import HotlineCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// Reaches the primary of the cluster that keeps the log: the configured hosts are tried in
/// order, and the first that accepts and is not a standby (`pg_is_in_recovery()` false) is
/// the one written to. After a failover the same call finds the promoted standby.
public struct PostgresConnector: Sendable {
    public let settings: PostgreSQLSettings
    public let endpoints: [PostgresEndpoint]
    let password: String?
    let tlsContext: NIOSSLContext?
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger

    /// `credentials` is `$CREDENTIALS_DIRECTORY`, where `password_credential` is read.
    public init(
        settings: PostgreSQLSettings, credentials: String?, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) throws {
        self.settings = settings
        endpoints = try settings.endpoints()
        if let name = settings.passwordCredential {
            guard let directory = credentials else {
                throw PostgresSetupError(
                    "storage.postgresql.password_credential is \(name) but no credentials were passed ($CREDENTIALS_DIRECTORY is unset; LoadCredential= in the unit)"
                )
            }
            do {
                // One line; a trailing newline (echo > file) is not part of the password.
                password = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
                    .trimmingCharacters(in: .newlines)
            } catch {
                throw PostgresSetupError("cannot read the credential \(directory)/\(name): \(error.localizedDescription)")
            }
        } else {
            password = nil
        }
        if settings.tls != .disable, endpoints.contains(where: { if case .tcp = $0 { true } else { false } }) {
            // The system's trust store; the server's name is checked against its certificate.
            tlsContext = try NIOSSLContext(configuration: .makeClientConfiguration())
        } else {
            tlsContext = nil
        }
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// The configuration postgres-nio is given for `endpoint`.
    func configuration(for endpoint: PostgresEndpoint, name: String = "hotlined") -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        switch endpoint {
        case .socket(let directory, let port):
            configuration = .init(
                unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: settings.user, password: password,
                database: settings.database)
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS =
                switch (settings.tls, tlsContext) {
                case (.require, let context?): .require(context)
                case (.prefer, let context?): .prefer(context)
                default: .disable
                }
            configuration = .init(
                host: host, port: port, username: settings.user, password: password, database: settings.database, tls: tls)
        }
        configuration.options.connectTimeout = .milliseconds(Int64(settings.connectTimeoutSeconds * 1000))
        // Every session of hotlined's is named so in pg_stat_activity.
        configuration.options.additionalStartupParameters = [("application_name", name)]
        return configuration
    }

    /// A connection to the primary, and which host it is; throws ``PostgresUnavailable``
    /// naming every host and why it was passed over.
    /// - Parameter name: the session's `application_name` (pg_stat_activity shows it).
    public func connectToPrimary(name: String = "hotlined") async throws -> (connection: PostgresConnection, endpoint: PostgresEndpoint) {
        var passedOver: [(PostgresEndpoint, String)] = []
        for (i, endpoint) in endpoints.enumerated() {
            switch await attempt(endpoint, id: i, name: name) {
            case .success(let connection): return (connection, endpoint)
            case .failure(let reason): passedOver.append((endpoint, reason.description))
            }
        }
        throw PostgresUnavailable(passedOver: passedOver)
    }

    /// One host: connected, and asked whether it is a standby, within twice the connect
    /// timeout in all. A host that accepts and then says nothing (a hung server, a machine
    /// half gone) is passed over at that bound rather than holding its caller (the writer)
    /// for as long as TCP takes; the connection, should it come later, is closed.
    private func attempt(_ endpoint: PostgresEndpoint, id: Int, name: String) async -> Result<PostgresConnection, PostgresSetupError> {
        let (configuration, group, logger) = (configuration(for: endpoint, name: name), eventLoopGroup, logger)
        let bound = Duration.milliseconds(Int64(settings.connectTimeoutSeconds * 2000))
        return await withCheckedContinuation { (answer: CheckedContinuation<Result<PostgresConnection, PostgresSetupError>, Never>) in
            let once = FirstAnswer(answer)
            Task(executorPreference: PostgresExecutor.shared) {
                do {
                    let connection = try await PostgresConnection.connect(
                        on: group.next(), configuration: configuration, id: id, logger: logger)
                    do {
                        var inRecovery = true
                        for try await flag in try await connection.query("SELECT pg_is_in_recovery()", logger: logger).decode(Bool.self) {
                            inRecovery = flag
                        }
                        if !inRecovery, once.give(.success(connection)) { return }
                        _ = once.give(.failure(PostgresSetupError("a standby (in recovery)")))
                    } catch {
                        _ = once.give(.failure(PostgresSetupError(PostgresFailure.describe(error))))
                    }
                    try? await connection.close()
                } catch {
                    _ = once.give(.failure(PostgresSetupError(PostgresFailure.describe(error))))
                }
            }
            Task(executorPreference: PostgresExecutor.shared) {
                try? await Task.sleep(for: bound)
                _ = once.give(.failure(PostgresSetupError("no answer within \(bound)")))
            }
        }
    }

    /// The first of two racing answers; the other is dropped.
}

/// The first of several racing answers to a continuation; the later ones are dropped. An
/// answer given before the continuation is attached (a cancellation handler that ran
/// first) is kept and resumes it once attached.
final class FirstAnswer<T: Sendable>: Sendable {
    private let state = Mutex<(answer: CheckedContinuation<T, Never>?, given: T?)>((nil, nil))

    init() {}

    convenience init(_ answer: CheckedContinuation<T, Never>) {
        self.init()
        attach(answer)
    }

    /// The continuation to resume; at once if the answer came already.
    func attach(_ answer: CheckedContinuation<T, Never>) {
        let given = state.withLock { s -> T? in
            if s.given == nil { s.answer = answer }
            return s.given
        }
        if let given { answer.resume(returning: given) }
    }

    /// Answers with `value` unless answered already; whether it did.
    @discardableResult
    func give(_ value: T) -> Bool {
        let (first, answer) = state.withLock { s -> (Bool, CheckedContinuation<T, Never>?) in
            guard s.given == nil else { return (false, nil) }
            s.given = value
            defer { s.answer = nil }
            return (true, s.answer)
        }
        answer?.resume(returning: value)
        return first
    }

    var isAnswered: Bool { state.withLock { $0.given != nil } }
}

/// No configured host is a primary that accepts hotlined now.
public struct PostgresUnavailable: Error, CustomStringConvertible {
    public let passedOver: [(PostgresEndpoint, String)]
    public var description: String {
        "no PostgreSQL primary is reachable: "
            + passedOver.map { "\($0.0): \($0.1)" }.joined(separator: "; ")
    }
}

/// A setting that cannot be used as it is (a credential that cannot be read).
public struct PostgresSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

enum PostgresFailure {
    /// What went wrong, as an administrator needs it: postgres-nio's errors print a generic
    /// text on purpose (a query might hold secrets); the server's message and SQLSTATE, or
    /// the connection's underlying error, are what say why.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] {
            let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return message + state
        }
        if let underlying = error.underlying {
            return "\(error.code): " + (underlying is PSQLError ? describe(underlying) : "\(underlying)")
        }
        return "\(error.code)"
    }
}

/// What a commit's acknowledgement means on this server: `synchronous_commit` in force for
/// hotlined's sessions, and the standbys the primary waits for.
public struct PostgresDurability: Sendable, Equatable, CustomStringConvertible {
    /// `synchronous_commit` as hotlined's session has it (after ``prepare(_:logger:)``).
    public var synchronousCommit: String
    /// `synchronous_standby_names`: empty, a commit is on the primary's disk alone.
    public var standbyNames: String
    /// The standbys connected now and whether the primary counts each synchronous.
    public var standbys: [(name: String, state: String)]

    public static func == (a: Self, b: Self) -> Bool {
        a.synchronousCommit == b.synchronousCommit && a.standbyNames == b.standbyNames
            && a.standbys.map(\.name) == b.standbys.map(\.name) && a.standbys.map(\.state) == b.standbys.map(\.state)
    }

    /// Whether an acknowledged commit is on a standby's disk as well as the primary's.
    public var isReplicated: Bool { !standbyNames.isEmpty && ["on", "remote_apply"].contains(synchronousCommit) }

    public var description: String {
        guard isReplicated else {
            return
                "commits are on the primary's disk only (synchronous_standby_names is empty): the loss of this server loses acknowledged events"
        }
        let connected = standbys.map { "\($0.name) (\($0.state))" }.joined(separator: ", ")
        return
            "commits wait for the synchronous standbys \(standbyNames) (synchronous_commit \(synchronousCommit)); connected: \(connected.isEmpty ? "none, so commits wait" : connected)"
    }

    /// Makes the session's commits wait for the synchronous standbys (`synchronous_commit`
    /// `on` at least: an administrator's `remote_apply` is kept; `off`, `local` and
    /// `remote_write` would acknowledge an event a lost machine could take with it), then
    /// reads what that means on this server. Every session of hotlined's is prepared so.
    ///
    /// The session's statement and lock timeouts are turned off: one set on the role or the
    /// database would cancel a COMMIT's wait for the standbys, and PostgreSQL then commits on
    /// the primary alone with a mere warning, which would be acknowledged as if the standby
    /// had it. hotlined bounds its waits itself (``PostgresSession``). A session left idle
    /// inside a transaction (its daemon cut off mid-batch) is ended after 30 s, and a client
    /// gone is noticed within seconds (keepalives on TCP, a check every 5 s during a
    /// statement), so that a lost room never holds the writers' lock for the others for
    /// long. Transactions are read committed whatever the default: the rows read under the
    /// writers' lock must be those committed before it was granted.
    public static func prepare(_ connection: PostgresConnection, logger: Logger) async throws -> PostgresDurability {
        // Read to the end: an error (a setting this server does not have) comes with the rows.
        _ = try await connection.query(
            """
            SELECT set_config('statement_timeout', '0', false), set_config('lock_timeout', '0', false),
                set_config('idle_in_transaction_session_timeout', '30s', false),
                set_config('default_transaction_isolation', 'read committed', false),
                set_config('tcp_keepalives_idle', '10', false), set_config('tcp_keepalives_interval', '5', false),
                set_config('tcp_keepalives_count', '3', false), set_config('client_connection_check_interval', '5s', false)
            """, logger: logger
        ).collect()
        var mode = try await Self.value("SHOW synchronous_commit", connection, logger)
        if mode != "remote_apply" {
            _ = try await connection.query("SET synchronous_commit = on", logger: logger).collect()
            mode = "on"
        }
        let names = try await Self.value("SHOW synchronous_standby_names", connection, logger)
        let rows = try await connection.query(
            "SELECT application_name, sync_state FROM pg_stat_replication ORDER BY application_name", logger: logger)
        var standbys: [(String, String)] = []
        for try await (name, state) in rows.decode((String, String).self) { standbys.append((name, state)) }
        return PostgresDurability(synchronousCommit: mode, standbyNames: names, standbys: standbys)
    }

    private static func value(_ sql: String, _ connection: PostgresConnection, _ logger: Logger) async throws -> String {
        var value = ""
        for try await text in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String.self) {
            value = text
        }
        return value
    }
}
