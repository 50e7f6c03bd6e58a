import CSpawn
import Crypto
import Foundation
import Glibc
import HotlineCore

/// The keys that encrypt free text and identity at rest (AES-256-GCM).
///
/// Every ciphertext carries the id of the key that sealed it, so keys can be rotated: new
/// writes use the newest key and older ciphertexts stay readable while their key is listed.
/// Each ciphertext is bound to where it belongs (its call and purpose) as authenticated
/// data, so a row's ciphertext cannot be moved to another row unnoticed.
public struct KeyRing: Sendable {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(description: String) { self.description = description }
    }

    private let keys: [UInt32: SymmetricKey]
    /// Each key's line in the key file, oldest first (from 0; a key given twice, its first).
    /// The keyed chain holds links to this order: the file keeps keys in the order they came.
    private let positions: [UInt32: Int]
    /// Each key's chain key, derived from it (``chainMAC(after:digest:)``).
    private let chainKeys: [UInt32: SymmetricKey]
    public let currentID: UInt32
    private static let format: UInt8 = 1

    /// Keys as 64 hexadecimal characters each, newest last.
    public init(hexKeys: [String]) throws {
        guard !hexKeys.isEmpty else { throw Failure(description: "no key was given") }
        var keys: [UInt32: SymmetricKey] = [:]
        var current: UInt32 = 0
        var positions: [UInt32: Int] = [:]
        for (i, hex) in hexKeys.enumerated() {
            let key = try Self.parse(hex, position: i + 1)
            let id = Self.keyID(key)
            keys[id] = key
            if positions[id] == nil { positions[id] = i }
            current = id
        }
        self.keys = keys
        self.positions = positions
        self.chainKeys = keys.mapValues(Self.chainKey)
        self.currentID = current
    }

    /// The keys in a key file's `content`: one per line (64 hexadecimal characters), oldest
    /// first, the newest sealing new writes; blank lines and lines starting with `#` are
    /// skipped, LF or CR LF ends a line. No copy of a key's bytes outlives this call but the
    /// ring's own (SymmetricKey wipes its bytes when freed); wiping `content` is the caller's.
    public init(keyFile content: UnsafeBufferPointer<UInt8>) throws {
        var keys: [UInt32: SymmetricKey] = [:]
        var positions: [UInt32: Int] = [:]
        var current: UInt32? = nil
        var position = 0
        var start = 0
        while start < content.count {
            var end = start
            while end < content.count, content[end] != UInt8(ascii: "\n") { end += 1 }
            var (a, b) = (start, end)
            let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }
            while a < b, blank(content[a]) { a += 1 }
            while b > a, blank(content[b - 1]) { b -= 1 }
            start = end + 1
            guard a < b, content[a] != UInt8(ascii: "#") else { continue }
            position += 1
            let key = try Self.parse(UnsafeBufferPointer(rebasing: content[a..<b]), position: position)
            let id = Self.keyID(key)
            keys[id] = key
            if positions[id] == nil { positions[id] = position }
            current = id
        }
        guard let current else { throw Failure(description: "no key was given") }
        self.keys = keys
        self.positions = positions
        self.chainKeys = keys.mapValues(Self.chainKey)
        self.currentID = current
    }

    /// The key that links the keyed chain, derived from `key` with HKDF-SHA256 under its own
    /// label, so that it is never the key that seals anything.
    private static func chainKey(_ key: SymmetricKey) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Array("hotlined chain mac v1".utf8), outputByteCount: 32)
    }

    /// The keyed link of a row whose content has `digest` and which follows a row whose
    /// link is `previous` (``Chain/macGenesis`` for the first): the current key's id (4 bytes,
    /// big-endian) and HMAC-SHA256 under its chain key of `previous` then `digest`. Without
    /// the key nobody can compute it, so rows rewritten with recomputed hashes are found.
    public func chainMAC(after previous: Data, digest: Data) -> Data {
        Self.chainMAC(id: currentID, key: chainKeys[currentID]!, after: previous, digest: digest)
    }

    private static func chainMAC(id: UInt32, key: SymmetricKey, after previous: Data, digest: Data) -> Data {
        var hmac = HMAC<SHA256>(key: key)
        hmac.update(data: previous)
        hmac.update(data: digest)
        var out = Data()
        out.reserveCapacity(Chain.macGenesis.count)
        withUnsafeBytes(of: id.bigEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: hmac.finalize())
        return out
    }

    /// What a row's keyed link says.
    public enum ChainLink: Sendable, Equatable {
        /// It is the link of its content after `previous`, under a key of this ring: the one
        /// on line `keyPosition` of the key file (0 the oldest).
        case holds(keyPosition: Int)
        /// It is not: the row, or one before it, was changed by someone without the key.
        case broken
        /// It names a key this ring does not hold (retired from the key file, or forged).
        case unknownKey(UInt32)
        /// It is missing or not 36 bytes.
        case malformed
    }

    /// Checks `mac`, a row's stored keyed link, against its `digest` and the link before it.
    public func checkChainMAC(_ mac: Data?, after previous: Data, digest: Data) -> ChainLink {
        guard let mac, mac.count == Chain.macGenesis.count else { return .malformed }
        let id = mac.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard let key = chainKeys[id], let position = positions[id] else { return .unknownKey(id) }
        let expected = Self.chainMAC(id: id, key: key, after: previous, digest: digest)
        // Constant time: how much of a forged link is right is nobody's business.
        return zip(expected, mac).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0 ? .holds(keyPosition: position) : .broken
    }

    /// One key from its 64 hexadecimal characters, decoded straight into the key; the
    /// decoded bytes are wiped.
    static func parse(_ hex: UnsafeBufferPointer<UInt8>, position: Int) throws -> SymmetricKey {
        guard hex.count == 64 else {
            throw Failure(description: "key \(position) must be 64 hexadecimal characters (256 bits), found \(hex.count) characters")
        }
        var raw = [UInt8](repeating: 0, count: 32)
        defer { raw.withUnsafeMutableBytes { hotline_wipe($0.baseAddress, UInt($0.count)) } }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        for i in 0..<32 {
            guard let high = nibble(hex[2 * i]), let low = nibble(hex[2 * i + 1]) else {
                throw Failure(description: "key \(position) has a character that is not hexadecimal")
            }
            raw[i] = high << 4 | low
        }
        return SymmetricKey(data: raw)
    }

    /// Reads a key: 64 hexadecimal characters, a trailing newline allowed.
    public static func parse(_ text: String, position: Int = 1) throws -> SymmetricKey {
        // A trailing newline (LF or CR LF) is allowed; "\r\n" is one Character in Swift.
        let hex = text.trimmingCharacters(in: .newlines)
        guard hex.utf8.count == 64 else {
            throw Failure(description: "key \(position) must be 64 hexadecimal characters (256 bits), found \(hex.utf8.count) characters")
        }
        guard let bytes = Data(hex: hex) else {
            throw Failure(description: "key \(position) has a character that is not hexadecimal")
        }
        return SymmetricKey(data: bytes)
    }

    /// A key's id: the first 32 bits of a hash of it (not the key, and not enough to find it).
    static func keyID(_ key: SymmetricKey) -> UInt32 {
        // Hashed in place: no copy of the key's bytes is made.
        var hasher = SHA256()
        hasher.update(data: Array("hotlined key id v1".utf8))
        key.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        let digest = hasher.finalize()
        return digest.withUnsafeBytes { raw in
            UInt32(raw[0]) << 24 | UInt32(raw[1]) << 16 | UInt32(raw[2]) << 8 | UInt32(raw[3])
        }
    }

    /// A fresh 256-bit key as 64 lower-case hexadecimal characters.
    public static func generateHex() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { raw in Data(raw).hex }
    }

    /// Seals `plaintext` for the place named by `context` (for example `call-id/identity`).
    public func seal(_ plaintext: [UInt8], context: String) throws -> Data {
        let key = keys[currentID]!
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Array(context.utf8))
        guard let combined = box.combined else { throw Failure(description: "AES-GCM produced no ciphertext") }
        var out = Data([Self.format])
        withUnsafeBytes(of: currentID.bigEndian) { out.append(contentsOf: $0) }
        out.append(combined)
        return out
    }

    /// Whether `sealed` names a key this ring holds (not whether it opens: that depends on
    /// its context too).
    public func canOpen(_ sealed: Data) -> Bool {
        Self.keyID(of: sealed).map { keys[$0] != nil } ?? false
    }

    /// The id of the key that sealed `sealed`, read from its header; nil when it is malformed.
    public static func keyID(of sealed: Data) -> UInt32? {
        guard sealed.count >= 5 + 12 + 16, sealed[sealed.startIndex] == format else { return nil }
        return sealed[(sealed.startIndex + 1)..<(sealed.startIndex + 5)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    public func open(_ sealed: Data, context: String) throws -> [UInt8] {
        guard let id = Self.keyID(of: sealed) else {
            throw Failure(description: "a ciphertext in the database is malformed")
        }
        guard let key = keys[id] else {
            throw Failure(description: "a ciphertext was sealed with key \(String(id, radix: 16)), which is not configured")
        }
        let box = try AES.GCM.SealedBox(combined: sealed[(sealed.startIndex + 5)...])
        return Array(try AES.GCM.open(box, using: key, authenticating: Array(context.utf8)))
    }

    public func sealJSON(_ value: JSONValue, context: String) throws -> Data {
        try seal(JSONWriter.bytes(value), context: context)
    }

    public func openJSON(_ sealed: Data, context: String) throws -> JSONValue {
        try JSONParser.parse(try open(sealed, context: context))
    }
}

extension KeyRing {
    /// Reads the keys in `path` (one per line, oldest first, the newest sealing new writes;
    /// ``init(keyFile:)``) into a ring, after checking the file as ssh checks a
    /// private key: a regular file, owned by `owner` (the daemon's user) or root, and neither
    /// readable nor writable by group or others. A systemd credential (`credentials` is
    /// `$CREDENTIALS_DIRECTORY`) is not checked so: systemd alone can reach it, and may grant
    /// the service's user access by an ACL, which shows as group bits. The file's bytes are
    /// wiped once read.
    public static func load(path: String, credentials: String? = nil, owner: uid_t = geteuid()) throws -> KeyRing {
        // O_NONBLOCK: a FIFO put where the key should be must not hang the start; fstat then
        // refuses it as not a regular file.
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
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
        // Judged by where the file really is: `CREDENTIALS_DIRECTORY/../elsewhere` is not a
        // credential, and neither is anything when the directory is `/`.
        func real(_ p: String) -> String? {
            guard let r = realpath(p, nil) else { return nil }
            defer { free(r) }
            return String(cString: r)
        }
        let isCredential =
            credentials.flatMap(real).map { dir in
                dir != "/" && (real(path)?.hasPrefix(dir + "/") ?? false)
            } ?? false
        if isCredential {
            // systemd's ACL shows in the group bits; others have no business with it either way.
            guard st.st_mode & 0o007 == 0 else {
                throw Failure(
                    description:
                        "the encryption key \(path) has permissions \(String(st.st_mode & 0o777, radix: 8)), too open: others may read or write it"
                )
            }
        } else {
            guard st.st_uid == owner || st.st_uid == 0 else {
                throw Failure(
                    description:
                        "the encryption key \(path) is owned by uid \(st.st_uid), neither the daemon's user (uid \(owner)) nor root: anyone who owns it can change its mode and read it (chown root \(path))"
                )
            }
            guard st.st_mode & 0o077 == 0 else {
                throw Failure(
                    description:
                        "the encryption key \(path) has permissions \(String(st.st_mode & 0o777, radix: 8)), too open: it must not be readable or writable by group or others (chmod 0400 \(path))"
                )
            }
        }
        guard st.st_size <= 64 * 1024 else {
            throw Failure(
                description: "the encryption key file \(path) is \(st.st_size) bytes; a key file holds a few lines of 64 characters")
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
        } catch let error as Failure {
            if error.description == "no key was given" { throw Failure(description: "the encryption key file \(path) is empty") }
            throw Failure(description: "the encryption key file \(path): \(error.description)")
        }
    }
}
