import Foundation
import HotlineCore
import HotlineStore
import Testing

/// `KeyRing`: AES-256-GCM at rest, bound to a context, with key ids so keys can be rotated
/// (PROTOCOL.md section 6).
@Suite struct KeyRingTests {
    static let oldKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    static let newKey = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f"

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// The key id a ciphertext carries in bytes 1…4, big-endian.
    static func keyID(of sealed: Data) -> UInt32 {
        let b = [UInt8](sealed)
        return UInt32(b[1]) << 24 | UInt32(b[2]) << 16 | UInt32(b[3]) << 8 | UInt32(b[4])
    }

    static func failure(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as KeyRing.Failure {
            return error.description
        } catch {
            return "not a KeyRing.Failure: \(error)"
        }
    }

    @Test(arguments: ["a", "Caller saw a white van near the station", String(repeating: "long text ", count: 2000)])
    func sealThenOpenGivesThePlaintextBack(text: String) throws {
        let ring = try KeyRing(hexKeys: [Self.newKey])
        let sealed = try ring.seal(Self.bytes(text), context: "call/event/1")
        #expect(try ring.open(sealed, context: "call/event/1") == Self.bytes(text))
        // Format byte, key id, 12-byte nonce, ciphertext, 16-byte tag.
        #expect(sealed.count == 1 + 4 + 12 + text.utf8.count + 16)
        #expect(sealed.first == 1)
        #expect(Self.keyID(of: sealed) == ring.currentID)
    }

    @Test func anEmptyPlaintextRoundTrips() throws {
        let ring = try KeyRing(hexKeys: [Self.newKey])
        let sealed = try ring.seal([], context: "call/identity")
        #expect(sealed.count == 1 + 4 + 12 + 16)
        #expect(try ring.open(sealed, context: "call/identity") == [])
    }

    @Test func jsonRoundTripsThroughSealJSON() throws {
        let ring = try KeyRing(hexKeys: [Self.newKey])
        let value: JSONValue = ["note": "Caller saw a white van", "lat": 52.92, "flags": [true, false]]
        #expect(try ring.openJSON(try ring.sealJSON(value, context: "c/event/7"), context: "c/event/7") == value)
    }

    @Test func anotherContextOrATamperedByteDoesNotOpen() throws {
        let ring = try KeyRing(hexKeys: [Self.newKey])
        let sealed = try ring.seal(Self.bytes("Ann Example"), context: "call-a/identity")
        #expect(throws: (any Error).self) { try ring.open(sealed, context: "call-b/identity") }
        #expect(throws: (any Error).self) { try ring.open(sealed, context: "call-a/identity/2") }
        #expect(throws: (any Error).self) { try ring.open(sealed, context: "") }
        for index in [5, 17, sealed.count - 1] {
            var tampered = sealed
            tampered[tampered.startIndex + index] ^= 0x01
            #expect(throws: (any Error).self, "byte \(index)") { try ring.open(tampered, context: "call-a/identity") }
        }
        // And the untouched ciphertext still opens in its own place.
        #expect(try ring.open(sealed, context: "call-a/identity") == Self.bytes("Ann Example"))
    }

    @Test func aCiphertextInASliceOpens() throws {
        let ring = try KeyRing(hexKeys: [Self.newKey])
        let sealed = try ring.seal(Self.bytes("sliced"), context: "x")
        let padded = Data([9, 9, 9]) + sealed
        #expect(try ring.open(padded[3...], context: "x") == Self.bytes("sliced"))
    }

    @Test func anOldKeyListedFirstStillOpensWhileTheNewestSeals() throws {
        let oldRing = try KeyRing(hexKeys: [Self.oldKey])
        let newOnly = try KeyRing(hexKeys: [Self.newKey])
        #expect(oldRing.currentID != newOnly.currentID)
        let oldSealed = try oldRing.seal(Self.bytes("sealed before the rotation"), context: "c/event/1")
        #expect(Self.keyID(of: oldSealed) == oldRing.currentID)

        let rotated = try KeyRing(hexKeys: [Self.oldKey, Self.newKey])
        #expect(rotated.currentID == newOnly.currentID)
        #expect(try rotated.open(oldSealed, context: "c/event/1") == Self.bytes("sealed before the rotation"))
        let newSealed = try rotated.seal(Self.bytes("sealed after"), context: "c/event/2")
        #expect(Self.keyID(of: newSealed) == newOnly.currentID)
        #expect(try newOnly.open(newSealed, context: "c/event/2") == Self.bytes("sealed after"))

        // Once the old key is no longer listed, its ciphertexts are refused by name.
        let message = Self.failure { _ = try newOnly.open(oldSealed, context: "c/event/1") }
        #expect(message == "a ciphertext was sealed with key \(String(oldRing.currentID, radix: 16)), which is not configured")

        // Newest last: the order of the list decides which key seals.
        #expect(try KeyRing(hexKeys: [Self.newKey, Self.oldKey]).currentID == oldRing.currentID)
    }

    @Test func malformedKeysAreRefusedWithAClearMessage() {
        #expect(
            Self.failure { _ = try KeyRing(hexKeys: [String(Self.newKey.dropLast())]) }
                == "key 1 must be 64 hexadecimal characters (256 bits), found 63 characters")
        #expect(
            Self.failure { _ = try KeyRing(hexKeys: [Self.newKey + "0"]) }
                == "key 1 must be 64 hexadecimal characters (256 bits), found 65 characters")
        #expect(
            Self.failure { _ = try KeyRing(hexKeys: ["g" + Self.newKey.dropFirst()]) }
                == "key 1 has a character that is not hexadecimal")
        #expect(
            Self.failure { _ = try KeyRing(hexKeys: [Self.oldKey, String(Self.newKey.dropLast()) + "z"]) }
                == "key 2 has a character that is not hexadecimal")
        #expect(
            Self.failure { _ = try KeyRing(hexKeys: [Self.oldKey, ""]) }
                == "key 2 must be 64 hexadecimal characters (256 bits), found 0 characters")
        #expect(Self.failure { _ = try KeyRing(hexKeys: []) } == "no key was given")
        // 64 bytes of UTF-8 that are not 64 hexadecimal digits.
        #expect(
            Self.failure { _ = try KeyRing(hexKeys: ["é" + Self.newKey.dropFirst(2)]) }
                == "key 1 has a character that is not hexadecimal")
    }

    @Test(arguments: ["\n", "\r\n", "\n\n"])
    func aTrailingNewlineIsAllowed(ending: String) throws {
        let plain = try KeyRing(hexKeys: [Self.newKey])
        let withEnding = try KeyRing(hexKeys: [Self.newKey + ending])
        #expect(withEnding.currentID == plain.currentID)
        let sealed = try withEnding.seal(Self.bytes("x"), context: "c")
        #expect(try plain.open(sealed, context: "c") == Self.bytes("x"))
    }

    @Test func upperAndLowerCaseHexAreTheSameKey() throws {
        #expect(try KeyRing(hexKeys: [Self.newKey.uppercased()]).currentID == KeyRing(hexKeys: [Self.newKey]).currentID)
    }

    @Test func theSealedBytesHoldNoPlaintext() throws {
        let ring = try KeyRing(hexKeys: [Self.newKey])
        let text = "Harriet Quimby-Smythe, 17 Larkspur Crescent, Derby, 07700 900456"
        let plaintext = Self.bytes(text)
        let sealed = [UInt8](try ring.seal(plaintext, context: "c/identity"))
        // Not the whole text, and not any 6-byte piece of it.
        for start in 0...(plaintext.count - 6) {
            let piece = Array(plaintext[start..<(start + 6)])
            #expect(!sealed.contains(bytes: piece), "\"\(String(decoding: piece, as: UTF8.self))\" is in the ciphertext")
        }
        // A fresh nonce every time: the same plaintext never seals to the same bytes.
        let again = [UInt8](try ring.seal(plaintext, context: "c/identity"))
        #expect(again != sealed)
        #expect(Array(again[5..<17]) != Array(sealed[5..<17]))
    }

    @Test func generatedKeysAreAccepted() throws {
        let hex = KeyRing.generateHex()
        #expect(hex.count == 64)
        #expect(hex.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(hex != KeyRing.generateHex())
        _ = try KeyRing(hexKeys: [hex])
    }
}
