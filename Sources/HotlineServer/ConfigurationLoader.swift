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
            description: "no encryption key: set paths.key_file in the configuration, or pass the systemd credential hotlined.key (LoadCredential=hotlined.key:/etc/hotlined/hotlined.key)"
        )
    }

    /// Reads the keys in `path` (one per line, oldest first, the newest sealing new writes;
    /// ``KeyRing/init(keyFile:)``) into a ring, after checking the file as ssh checks a
    /// private key: a regular file, owned by `owner` (the daemon's user) or root, and neither
    /// readable nor writable by group or others. A systemd credential (`credentials` is
    /// `$CREDENTIALS_DIRECTORY`) is not checked so: systemd alone can reach it, and may grant
    /// the service's user access by an ACL, which shows as group bits. The file's bytes are
    /// wiped once read.
    public static func load(path: String, credentials: String? = nil, owner: uid_t = geteuid()) throws -> KeyRing {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            throw Failure(description: "cannot read the encryption key \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw Failure(description: "cannot read the encryption key \(path): \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw Failure(description: "the encryption key \(path) is not a regular file")
        }
        let isCredential = credentials.map { path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") } ?? false
        if !isCredential {
            guard st.st_uid == owner || st.st_uid == 0 else {
                throw Failure(
                    description: "the encryption key \(path) is owned by uid \(st.st_uid), neither the daemon's user (uid \(owner)) nor root: anyone who owns it can change its mode and read it (chown root \(path))")
            }
            guard st.st_mode & 0o077 == 0 else {
                throw Failure(
                    description: "the encryption key \(path) has permissions \(String(st.st_mode & 0o777, radix: 8)), too open: it must not be readable or writable by group or others (chmod 0400 \(path))")
            }
        }
        guard st.st_size <= 64 * 1024 else {
            throw Failure(description: "the encryption key file \(path) is \(st.st_size) bytes; a key file holds a few lines of 64 characters")
        }
        var content = [UInt8](repeating: 0, count: Int(st.st_size) + 1)
        defer { content.withUnsafeMutableBytes { hotline_wipe($0.baseAddress, UInt($0.count)) } }
        var count = 0
        while count < content.count {
            let n = content.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else {
                throw Failure(description: "cannot read the encryption key \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            count += n
        }
        do {
            return try content.withUnsafeBufferPointer { try KeyRing(keyFile: UnsafeBufferPointer(rebasing: $0[0..<count])) }
        } catch let error as KeyRing.Failure {
            if error.description == "no key was given" { throw Failure(description: "the encryption key file \(path) is empty") }
            throw Failure(description: "the encryption key file \(path): \(error.description)")
        }
    }
}
