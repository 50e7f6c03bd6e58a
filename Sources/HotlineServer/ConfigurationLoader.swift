import Foundation
import HotlineCore
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
                    reason: "\"\(configuration.shifts.timezone)\" is not in the system's timezone database (an IANA name such as Europe/London)"))
        }
        guard problems.isEmpty else { throw Failure(file: file, problems: problems.map(\.description)) }
        return configuration
    }
}

/// Finds and reads the encryption key (PROTOCOL.md section 6).
public enum KeyLoader {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The configured key file, else the systemd credential `hotlined.key`. Without either
    /// the daemon must not start: it never writes plaintext.
    public static func keyPath(configured: String?, environment: [String: String]) throws -> String {
        if let configured { return configured }
        if let dir = environment["CREDENTIALS_DIRECTORY"] { return dir + "/hotlined.key" }
        throw Failure(
            description: "no encryption key: set paths.key_file in the configuration, or pass the systemd credential hotlined.key (LoadCredential=hotlined.key:/etc/hotlined/hotlined.key)"
        )
    }

    /// Reads the keys in `path`: one per line, oldest first, the newest sealing new writes.
    public static func load(path: String) throws -> [String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Failure(description: "cannot read the encryption key \(path): \((error as NSError).localizedDescription)")
        }
        let keys = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !keys.isEmpty else { throw Failure(description: "the encryption key file \(path) is empty") }
        return keys
    }
}
