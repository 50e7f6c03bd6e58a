/// Where an optional HTTP endpoint of the daemon listens (`metrics.listen`,
/// `wallboard.listen`): a loopback address and port, or a Unix socket. Neither endpoint
/// asks who is reading, so neither may listen beyond this machine: a wider audience is
/// reached through a proxy the administrator puts in front, with its own access control.
public enum ListenAddress: Sendable, Equatable, Codable, CustomStringConvertible {
    /// `HOST:PORT` (`[::1]:PORT` for IPv6); HOST is `localhost`, `::1` or in 127.0.0.0/8.
    case tcp(host: String, port: Int)
    /// `unix:/absolute/path`.
    case unix(path: String)

    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    public init(parsing text: String) throws(Invalid) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/"), path.count > 1 else {
                throw Invalid(description: "\"\(text)\" is not unix: and an absolute path")
            }
            self = .unix(path: path)
            return
        }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw Invalid(description: "\"\(text)\" is not [IPV6]:PORT")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw Invalid(description: "\"\(text)\" has no port: write HOST:PORT (127.0.0.1:9469) or unix:/path")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw Invalid(description: "\"\(text)\" has no port between 1 and 65535")
        }
        guard Self.isLoopback(host) else {
            throw Invalid(
                description:
                    "\"\(text)\" is not a loopback address (127.0.0.0/8, ::1 or localhost): the endpoint asks no one who they are, so it stays on this machine"
            )
        }
        self = .tcp(host: String(host), port: port)
    }

    /// Whether `host` names this machine's loopback: what the HTTP endpoints accept in a
    /// request's Host too.
    public static func isLoopbackHost(_ host: String) -> Bool { isLoopback(Substring(host)) }

    static func isLoopback(_ host: Substring) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "127" else { return false }
        return parts.allSatisfy { part in
            guard let n = Int(part), (0...255).contains(n), part.allSatisfy(\.isASCII) else { return false }
            return String(n) == part
        }
    }

    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            self = try ListenAddress(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// `metrics:` and `wallboard:`: absent, the endpoint is off.
public struct ListenSettings: Sendable, Equatable, Codable {
    public var listen: ListenAddress

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen
    }

    public init(listen: ListenAddress) { self.listen = listen }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        listen = try c.decode(ListenAddress.self, forKey: .listen)
    }
}
