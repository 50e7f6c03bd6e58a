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

    func write(_ text: String, name: String = "hotlined.key") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
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
        #expect(try KeyLoader.load(path: path) == [Self.newKey])
    }

    @Test func severalLinesAreTheRotationOrderNewestLast() throws {
        let path = try write(Self.oldKey + "\n" + Self.newKey + "\n")
        let keys = try KeyLoader.load(path: path)
        #expect(keys == [Self.oldKey, Self.newKey])
        // The newest seals; the older still opens.
        let ring = try KeyRing(hexKeys: keys)
        #expect(ring.currentID == (try KeyRing(hexKeys: [Self.newKey])).currentID)
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
        #expect(try KeyLoader.load(path: try write(text)) == [Self.oldKey, Self.newKey])
    }

    @Test func windowsLineEndingsAreRead() throws {
        let path = try write("# key\r\n" + Self.oldKey + "\r\n" + Self.newKey + "\r\n")
        #expect(try KeyLoader.load(path: path) == [Self.oldKey, Self.newKey])
    }

    @Test func aLineOfOnlySpacesIsBlank() throws {
        let path = try write(Self.oldKey + "\n   \n\t\n" + Self.newKey + "\n")
        #expect(try KeyLoader.load(path: path) == [Self.oldKey, Self.newKey])
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
}
