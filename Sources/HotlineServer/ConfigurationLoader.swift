import CSpawn
import Foundation
import HotlineCore
import HotlineStore
import HotlineTime
import Yams

/// Reads `hotlined.yaml` into a ``Configuration`` and checks it, with errors naming the key.
public enum ConfigurationLoader {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var file: String
        public var problems: [String]
        public var description: String {
            "\(file): " + (problems.count == 1 ? problems[0] : "\n" + problems.map { "  - " + $0 }.joined(separator: "\n"))
        }
    }

    public static func load(path: String) throws -> Configuration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Failure(file: path, problems: ["cannot be read (\((error as NSError).localizedDescription))"])
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String = "configuration") throws -> Configuration {
        let configuration: Configuration
        do {
            configuration = try YAMLDecoder().decode(Configuration.self, from: text)
        } catch let error as DecodingError {
            // Yams reports bad YAML as a DecodingError wrapping its own error.
            if case .dataCorrupted(let context) = error, let yaml = context.underlyingError as? YamlError {
                throw Failure(file: file, problems: ["is not valid YAML: \(yaml)"])
            }
            let (path, reason) = error.pathAndReason
            throw Failure(file: file, problems: [path.isEmpty ? reason : "\(path): \(reason)"])
        } catch let error as YamlError {
            throw Failure(file: file, problems: ["is not valid YAML: \(error)"])
        }
        var problems = configuration.problems()
        if SystemTimeZone(configuration.shifts.timezone) == nil {
            problems.append(
                .init(
                    path: "shifts.timezone",
                    reason:
                        "\"\(configuration.shifts.timezone)\" is not in the system's timezone database (an IANA name such as Europe/London)"
                ))
        }
        guard problems.isEmpty else { throw Failure(file: file, problems: problems.map(\.description)) }
        return configuration
    }
}

/// Finds and reads the encryption key (PROTOCOL.md section 6).
public enum KeyLoader {
    public typealias Failure = KeyRing.Failure

    /// Turns core dumps off for good (RLIMIT_CORE 0, PR_SET_DUMPABLE 0), before the key is
    /// read: a core of this process would hold the key and every identity it had in hand,
    /// and a process that is not dumpable cannot be read through /proc or ptrace by others of
    /// its user (a sink's command, say). The unit says `LimitCORE=0` too.
    public static func forbidCoreDumps() throws {
        guard hotline_forbid_core_dumps() == 0 else {
            throw Failure(description: "cannot turn core dumps off: \(String(cString: strerror(errno)))")
        }
    }

    /// The configured key file, else the systemd credential `hotlined.key`. Without either
    /// the daemon must not start: it never writes plaintext.
    public static func keyPath(configured: String?, environment: [String: String]) throws -> String {
        if let configured { return configured }
        if let dir = environment["CREDENTIALS_DIRECTORY"] { return dir + "/hotlined.key" }
        throw Failure(
            description:
                "no encryption key: set paths.key_file in the configuration, or pass the systemd credential hotlined.key (LoadCredential=hotlined.key:/etc/hotlined/hotlined.key)"
        )
    }

    /// Reads the keys in `path` after checking who may read the file: ``KeyRing/load(path:credentials:owner:)``.
    public static func load(path: String, credentials: String? = nil, owner: uid_t = geteuid()) throws -> KeyRing {
        try KeyRing.load(path: path, credentials: credentials, owner: owner)
    }
}
