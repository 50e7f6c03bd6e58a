/// Where the log is kept (`storage:` in the configuration): SQLite in one file (the default,
/// `paths.database`), or a PostgreSQL cluster whose synchronous standbys keep it on more
/// than one machine (docs/DEPLOYMENT.md).
public struct StorageSettings: Sendable, Equatable, Codable {
    public enum Engine: String, Sendable, Equatable, Codable, CaseIterable {
        case sqlite, postgresql
    }

    public var engine: Engine
    /// Required when `engine` is `postgresql`; ignored (and refused, to catch a typo in
    /// `engine`) otherwise.
    public var postgresql: PostgreSQLSettings?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case engine, postgresql
    }

    public init(engine: Engine = .sqlite, postgresql: PostgreSQLSettings? = nil) {
        self.engine = engine
        self.postgresql = postgresql
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        engine = try c.decodeIfPresent(Engine.self, forKey: .engine) ?? .sqlite
        postgresql = try c.decodeIfPresent(PostgreSQLSettings.self, forKey: .postgresql)
    }

    func problems() -> [Configuration.Problem] {
        switch (engine, postgresql) {
        case (.sqlite, nil): return []
        case (.sqlite, .some):
            return [.init(path: "storage.postgresql", reason: "is set but storage.engine is sqlite; set engine: postgresql")]
        case (.postgresql, nil):
            return [.init(path: "storage.postgresql", reason: "is required when storage.engine is postgresql")]
        case (.postgresql, .some(let settings)):
            return settings.problems(at: "storage.postgresql")
        }
    }
}

/// How hotlined reaches its PostgreSQL cluster.
public struct PostgreSQLSettings: Sendable, Equatable, Codable {
    /// Tried in order; the first that answers and is not a standby (in recovery) is used.
    public var hosts: [String]
    public var database: String
    public var user: String
    /// A systemd credential (a file name in `$CREDENTIALS_DIRECTORY`) holding the password;
    /// absent, no password is sent (peer or certificate authentication).
    public var passwordCredential: String?
    /// TLS on TCP hosts; a Unix socket never uses it.
    public var tls: TLSMode
    /// How long one host may take to accept a connection before the next is tried.
    public var connectTimeoutSeconds: Double

    public enum TLSMode: String, Sendable, Equatable, Codable, CaseIterable {
        case disable, prefer, require
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case hosts, database, user, tls
        case passwordCredential = "password_credential"
        case connectTimeoutSeconds = "connect_timeout_seconds"
    }

    public init(
        hosts: [String], database: String = "hotline", user: String = "hotlined", passwordCredential: String? = nil,
        tls: TLSMode = .require, connectTimeoutSeconds: Double = 5
    ) {
        self.hosts = hosts
        self.database = database
        self.user = user
        self.passwordCredential = passwordCredential
        self.tls = tls
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = PostgreSQLSettings(hosts: [])
        hosts = try c.decode([String].self, forKey: .hosts)
        database = try c.decodeIfPresent(String.self, forKey: .database) ?? defaults.database
        user = try c.decodeIfPresent(String.self, forKey: .user) ?? defaults.user
        passwordCredential = try c.decodeIfPresent(String.self, forKey: .passwordCredential)
        tls = try c.decodeIfPresent(TLSMode.self, forKey: .tls) ?? defaults.tls
        connectTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .connectTimeoutSeconds) ?? defaults.connectTimeoutSeconds
    }

    /// The hosts, parsed; throws the first that does not parse.
    public func endpoints() throws -> [PostgresEndpoint] {
        try hosts.enumerated().map { i, host in
            guard let endpoint = PostgresEndpoint(host) else {
                throw Configuration.Problem(path: "storage.postgresql.hosts.\(i)", reason: PostgresEndpoint.expected)
            }
            return endpoint
        }
    }

    func problems(at path: String) -> [Configuration.Problem] {
        var problems: [Configuration.Problem] = []
        if hosts.isEmpty { problems.append(.init(path: "\(path).hosts", reason: "must list at least one host")) }
        for (i, host) in hosts.enumerated() where PostgresEndpoint(host) == nil {
            problems.append(.init(path: "\(path).hosts.\(i)", reason: "\"\(host)\": \(PostgresEndpoint.expected)"))
        }
        for (key, value) in [("database", database), ("user", user)] where value.isEmpty || value.utf8.count > 63 {
            problems.append(.init(path: "\(path).\(key)", reason: "must be 1 to 63 bytes (PostgreSQL's limit on names)"))
        }
        if let name = passwordCredential, name.isEmpty || name.contains("/") || name == "." || name == ".." {
            problems.append(
                .init(path: "\(path).password_credential", reason: "must be a credential's file name, without '/'"))
        }
        if !(connectTimeoutSeconds >= 0.1 && connectTimeoutSeconds <= 300) {
            problems.append(.init(path: "\(path).connect_timeout_seconds", reason: "must be between 0.1 and 300 seconds"))
        }
        return problems
    }
}

/// One entry of `storage.postgresql.hosts`: a Unix socket directory (`/run/postgresql`,
/// `/run/postgresql:5433`) or a TCP host (`db2.example`, `db2.example:5432`,
/// `[2001:db8::2]:5432`). The port defaults to PostgreSQL's, 5432.
public enum PostgresEndpoint: Sendable, Equatable, CustomStringConvertible {
    case socket(directory: String, port: Int)
    case tcp(host: String, port: Int)

    static let expected = "expected a socket directory (/run/postgresql[:port]) or host[:port]"

    public init?(_ text: String) {
        func port(_ digits: Substring) -> Int? {
            guard !digits.isEmpty, digits.count <= 5, digits.allSatisfy(\.isASCII), let n = Int(digits), (1...65535).contains(n)
            else { return nil }
            return n
        }
        guard !text.isEmpty, !text.contains(where: { $0.isWhitespace }) else { return nil }
        if text.hasPrefix("/") {
            // A directory may hold ':' only as the port's separator.
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2, let p = parts.count == 2 ? port(parts[1]) : 5432 else { return nil }
            self = .socket(directory: String(parts[0]), port: p)
        } else if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard !host.isEmpty, host.contains(":") else { return nil }
            if rest.isEmpty {
                self = .tcp(host: String(host), port: 5432)
            } else {
                guard rest.hasPrefix(":"), let p = port(rest.dropFirst()) else { return nil }
                self = .tcp(host: String(host), port: p)
            }
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2, !parts[0].isEmpty,
                parts[0].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }),
                let p = parts.count == 2 ? port(parts[1]) : 5432
            else { return nil }
            self = .tcp(host: String(parts[0]), port: p)
        }
    }

    /// As the journal and errors name it.
    public var description: String {
        switch self {
        case .socket(let directory, let port): "\(directory)/.s.PGSQL.\(port)"
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}
