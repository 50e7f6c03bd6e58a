import Foundation
import HotlineCore
import HotlineServer
import HotlineStore
import Testing

/// `KeyLoader`: where the encryption key comes from and how its file is read (PROTOCOL.md
/// section 6).
@Suite struct KeyLoaderTests {
    static let oldKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    static let newKey = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f"

    /// A directory of its own for each test, removed with it.
    final class TemporaryDirectory {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-keys-\(UUIDText.random())")
        init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    let temporary: TemporaryDirectory
    var directory: URL { temporary.url }

    init() throws { temporary = try TemporaryDirectory() }

    func write(_ text: String, name: String = "hotlined.key", mode: mode_t = 0o600) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    /// The ring holds exactly `keys`, the last sealing: each opens what the ring seals
    /// only if it is the last, and the ring opens what each sealed.
    static func expect(_ ring: KeyRing, holds keys: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(ring.currentID == (try KeyRing(hexKeys: [keys.last!])).currentID, sourceLocation: sourceLocation)
        for key in keys {
            let sealed = try KeyRing(hexKeys: [key]).seal(Array("x".utf8), context: "c")
            #expect(try ring.open(sealed, context: "c") == Array("x".utf8), sourceLocation: sourceLocation)
        }
    }

    static func failure(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as KeyLoader.Failure {
            return error.description
        } catch {
            return "not a KeyLoader.Failure: \(error)"
        }
    }

    // MARK: - Where the key is

    @Test func theConfiguredPathWinsOverTheCredential() throws {
        let path = try KeyLoader.keyPath(
            configured: "/etc/hotlined/hotlined.key", environment: ["CREDENTIALS_DIRECTORY": "/run/credentials/hotlined.service"])
        #expect(path == "/etc/hotlined/hotlined.key")
    }

    @Test func withoutAConfiguredPathTheSystemdCredentialIsUsed() throws {
        let path = try KeyLoader.keyPath(
            configured: nil, environment: ["CREDENTIALS_DIRECTORY": "/run/credentials/hotlined.service", "HOME": "/root"])
        #expect(path == "/run/credentials/hotlined.service/hotlined.key")
    }

    @Test func withNeitherTheErrorNamesTheCredentialAndTheSetting() {
        let message = Self.failure { _ = try KeyLoader.keyPath(configured: nil, environment: ["HOME": "/root"]) }
        #expect(message?.hasPrefix("no encryption key: ") == true, "\(message ?? "no error")")
        #expect(message?.contains("credential hotlined.key") == true)
        #expect(message?.contains("paths.key_file") == true)
    }

    // MARK: - Reading the file

    @Test func oneKeyWithATrailingNewline() throws {
        let path = try write(Self.newKey + "\n")
        try Self.expect(try KeyLoader.load(path: path), holds: [Self.newKey])
    }

    @Test func severalLinesAreTheRotationOrderNewestLast() throws {
        let path = try write(Self.oldKey + "\n" + Self.newKey + "\n")
        let ring = try KeyLoader.load(path: path)
        // The newest seals; the older still opens.
        try Self.expect(ring, holds: [Self.oldKey, Self.newKey])
        #expect(ring.currentID != (try KeyRing(hexKeys: [Self.oldKey])).currentID)
        let oldSealed = try KeyRing(hexKeys: [Self.oldKey]).seal(Array("before".utf8), context: "c")
        #expect(try ring.open(oldSealed, context: "c") == Array("before".utf8))
    }

    @Test func commentsAndBlankLinesAreIgnored() throws {
        let text = """
            # hotlined key, rotated 2026-11-01

            \(Self.oldKey)
            # the new one
            \(Self.newKey)


            """
        try Self.expect(try KeyLoader.load(path: try write(text)), holds: [Self.oldKey, Self.newKey])
    }

    @Test func windowsLineEndingsAreRead() throws {
        let path = try write("# key\r\n" + Self.oldKey + "\r\n" + Self.newKey + "\r\n")
        try Self.expect(try KeyLoader.load(path: path), holds: [Self.oldKey, Self.newKey])
    }

    @Test func aLineOfOnlySpacesIsBlank() throws {
        let path = try write(Self.oldKey + "\n   \n\t\n" + Self.newKey + "\n")
        try Self.expect(try KeyLoader.load(path: path), holds: [Self.oldKey, Self.newKey])
    }

    @Test func aFileWithNoKeyIsAnError() throws {
        let path = try write("# nothing here yet\n\n")
        #expect(Self.failure { _ = try KeyLoader.load(path: path) } == "the encryption key file \(path) is empty")
    }

    @Test func aMissingFileSaysItCannotBeRead() {
        let path = directory.appendingPathComponent("absent.key").path
        let message = Self.failure { _ = try KeyLoader.load(path: path) }
        #expect(message?.hasPrefix("cannot read the encryption key \(path): ") == true, "\(message ?? "no error")")
    }

    @Test func aBadLineIsNamedByItsPosition() throws {
        let path = try write("# first\n" + Self.oldKey + "\n" + String(Self.newKey.dropLast()) + "g\n")
        #expect(
            Self.failure { _ = try KeyLoader.load(path: path) }
                == "the encryption key file \(path): key 2 has a character that is not hexadecimal")
        let short = try write(Self.oldKey + "0\n")
        #expect(
            Self.failure { _ = try KeyLoader.load(path: short) }
                == "the encryption key file \(short): key 1 must be 64 hexadecimal characters (256 bits), found 65 characters")
    }

    // MARK: - Who may read the file (as ssh checks a private key)

    @Test func aKeyGroupOrOthersCanReadOrWriteIsRefused() throws {
        for mode: mode_t in [0o640, 0o604, 0o620, 0o602, 0o644] {
            let path = try write(Self.newKey + "\n", mode: mode)
            let message = Self.failure { _ = try KeyLoader.load(path: path) }
            #expect(
                message
                    == "the encryption key \(path) has permissions \(String(mode, radix: 8)), too open: it must not be readable or writable by group or others (chmod 0400 \(path))"
            )
        }
        for mode: mode_t in [0o400, 0o600] {
            try Self.expect(try KeyLoader.load(path: try write(Self.newKey + "\n", mode: mode)), holds: [Self.newKey])
        }
    }

    @Test func aKeyOwnedBySomeoneElseIsRefused() throws {
        let path = try write(Self.newKey + "\n")
        // Owned by neither the daemon's user nor root: as root, give it to nobody; as anyone
        // else, say the daemon runs as another user.
        var owner = geteuid()
        if geteuid() == 0 {
            #expect(chown(path, 65534, 65534) == 0)
        } else {
            owner += 1
        }
        let message = Self.failure { _ = try KeyLoader.load(path: path, owner: owner) }
        #expect(
            message?.hasPrefix("the encryption key \(path) is owned by uid ") == true
                && message?.contains("neither the daemon's user (uid \(owner)) nor root") == true, "\(message ?? "no error")")
        // Owned by root, any daemon's user may use it (the usual /etc/hotlined/hotlined.key).
        if geteuid() == 0 {
            #expect(chown(path, 0, 0) == 0)
            try Self.expect(try KeyLoader.load(path: path, owner: 65534), holds: [Self.newKey])
        }
    }

    @Test func aSystemdCredentialIsTakenAsSystemdLeftIt() throws {
        // systemd may grant the service's user access by an ACL, whose mask shows as group bits.
        let path = try write(Self.newKey + "\n", mode: 0o440)
        try Self.expect(try KeyLoader.load(path: path, credentials: directory.path), holds: [Self.newKey])
        try Self.expect(try KeyLoader.load(path: path, credentials: directory.path + "/"), holds: [Self.newKey])
        #expect(Self.failure { _ = try KeyLoader.load(path: path, credentials: directory.path + "-other") }?.contains("too open") == true)
        // Where the file really is decides, not how its path is spelt.
        let outside = try TemporaryDirectory()
        let elsewhere = outside.url.appendingPathComponent("k").path
        try (Self.newKey + "\n").write(toFile: elsewhere, atomically: true, encoding: .utf8)
        chmod(elsewhere, 0o440)
        let dodge = directory.path + "/../" + outside.url.lastPathComponent + "/k"
        #expect(Self.failure { _ = try KeyLoader.load(path: dodge, credentials: directory.path) }?.contains("too open") == true)
        #expect(Self.failure { _ = try KeyLoader.load(path: path, credentials: "/") }?.contains("too open") == true)
        // Others may never read it, credential or not.
        chmod(path, 0o444)
        #expect(Self.failure { _ = try KeyLoader.load(path: path, credentials: directory.path) }?.contains("others may read") == true)
    }

    @Test func aFIFOWhereTheKeyShouldBeIsRefusedNotWaitedOn() throws {
        let path = directory.appendingPathComponent("fifo.key").path
        #expect(mkfifo(path, 0o600) == 0)
        #expect(Self.failure { _ = try KeyLoader.load(path: path) } == "the encryption key \(path) is not a regular file")
    }

    @Test func aDirectoryIsNotAKeyFile() throws {
        let message = Self.failure { _ = try KeyLoader.load(path: directory.path) }
        #expect(message == "the encryption key \(directory.path) is not a regular file")
    }
}
