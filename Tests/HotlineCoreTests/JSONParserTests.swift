import HotlineCore
import Testing

/// The strict RFC 8259 parser: what it accepts, what it refuses, and that it never traps.
@Suite struct JSONParserTests {
    // MARK: Valid documents

    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONParser.parse(
            #" { "s": "text", "i": -42, "d": 52.92, "t": true, "f": false, "n": null, "a": [1, "two", []], "o": {} } "#
        )
        #expect(
            value
                == .object([
                    "s": .string("text"), "i": .int(-42), "d": .double(52.92), "t": .bool(true), "f": .bool(false),
                    "n": .null, "a": .array([.int(1), .string("two"), .array([])]), "o": .object([:]),
                ])
        )
    }

    @Test(arguments: [
        ("0", JSONValue.int(0)),
        ("-0", .int(0)),
        ("7", .int(7)),
        ("-12", .int(-12)),
        ("9223372036854775807", .int(Int64.max)),
        ("-9223372036854775808", .int(Int64.min)),
        ("1.5", .double(1.5)),
        ("-0.25", .double(-0.25)),
        ("1e3", .double(1000)),
        ("1E+2", .double(100)),
        ("2.5e-1", .double(0.25)),
        ("12.0", .double(12.0)),
        ("9223372036854775808", .double(9_223_372_036_854_775_808.0)),
    ])
    func parsesNumbers(text: String, expected: JSONValue) throws {
        #expect(try JSONParser.parse(text) == expected)
    }

    @Test(arguments: [
        (#""plain""#, "plain"),
        (#""""#, ""),
        (#""a\"b\\c\/d""#, "a\"b\\c/d"),
        (#""\b\f\n\r\t""#, "\u{08}\u{0C}\n\r\t"),
        (#""\u00e9\u00E9""#, "éé"),
        (#""\u0000""#, "\u{0}"),
        (#""\ud83d\ude00""#, "😀"),
        (#""\uD83D\uDE00 and more""#, "😀 and more"),
        ("\"caf\u{E9} \u{1F6A8}\"", "café 🚨"),
        ("\"del\u{7F}\"", "del\u{7F}"),
    ])
    func parsesStrings(text: String, expected: String) throws {
        #expect(try JSONParser.parse(text) == .string(expected))
    }

    @Test func toleratesSurroundingWhitespaceIncludingCRLF() throws {
        #expect(try JSONParser.parse(" \t\r\n{\"op\":\"ping\"}\r\n ") == .object(["op": .string("ping")]))
        #expect(try JSONParser.parse("{\"op\":\"ping\"}\r") == .object(["op": .string("ping")]))
    }

    @Test func parsesFromBytes() throws {
        let bytes: [UInt8] = Array(#"{"a":[true]}"#.utf8)
        #expect(try JSONParser.parse(bytes) == .object(["a": .array([.bool(true)])]))
        #expect(try JSONParser.parse(bytes[...]) == .object(["a": .array([.bool(true)])]))
    }

    @Test(arguments: [
        #"{"op":"call.start","req":7,"call":{"id":"x","caller":{"name":"Ann"},"flags":[true,false,null]}}"#,
        #"[1,-2,3.5,"\u0001\n\"\\",{"z":{},"a":[]}]"#,
        #""just a string""#,
        "null",
        "-9223372036854775808",
        #"{"lat":52.92,"lon":-1.47,"whole":12.0,"tiny":1e-07}"#,
    ])
    func roundTripsThroughTheWriter(text: String) throws {
        let value = try JSONParser.parse(text)
        let written = JSONWriter.string(value)
        #expect(try JSONParser.parse(written) == value)
        // The writer's form is canonical: writing it again gives the same bytes.
        #expect(JSONWriter.string(try JSONParser.parse(written)) == written)
    }

    @Test func acceptsNestingOfExactlyTheMaximumDepth() throws {
        #expect(JSONParser.maxDepth == 64)
        let text = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        var value = try JSONParser.parse(text)
        var depth = 0
        while case .array(let inner) = value {
            depth += 1
            guard let first = inner.first else { break }
            value = first
        }
        #expect(depth == 64)
        let objects = String(repeating: #"{"a":"#, count: 63) + "[]" + String(repeating: "}", count: 63)
        #expect(throws: Never.self) { try JSONParser.parse(objects) }
    }

    // MARK: Refused documents

    /// Parses `text` (or raw `bytes`) and returns the failure, recording an issue if it parsed.
    private func failure(_ bytes: [UInt8]) -> JSONParser.Failure? {
        do {
            let value = try JSONParser.parse(bytes)
            Issue.record("parsed unexpectedly as \(value)")
            return nil
        } catch {
            return error
        }
    }

    private func failure(_ text: String) -> JSONParser.Failure? { failure(Array(text.utf8)) }

    @Test func refusesNestingDeeperThan64() {
        let arrays = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        let f = failure(arrays)
        #expect(f?.message.contains("nesting deeper than 64 levels") == true)
        #expect(f?.offset == 64)
        let objects = String(repeating: #"{"a":"#, count: 65) + "1" + String(repeating: "}", count: 65)
        #expect(failure(objects)?.message.contains("nesting deeper than 64 levels") == true)
    }

    @Test func deepNestingAttacksFailQuicklyWithoutTrapping() {
        // A line of half a million brackets must be refused, not overflow the stack.
        #expect(failure(String(repeating: "[", count: 500_000))?.message.contains("nesting") == true)
        #expect(failure(String(repeating: #"{"a":"#, count: 100_000))?.message.contains("nesting") == true)
        #expect(failure(String(repeating: "[{\"k\":", count: 50_000))?.message.contains("nesting") == true)
    }

    @Test(arguments: [
        [UInt8]([0x22, 0xFF, 0x22]),  // a byte never valid in UTF-8
        [0x22, 0x61, 0xC3, 0x22],  // a truncated two-byte sequence
        [0x22, 0xC0, 0xAF, 0x22],  // an overlong encoding of "/"
        [0x22, 0xED, 0xA0, 0x80, 0x22],  // a UTF-16 surrogate encoded as UTF-8
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // beyond U+10FFFF
        [0x22, 0x80, 0x22],  // a lone continuation byte
        [0x7B, 0x22, 0xFE, 0x22, 0x3A, 0x31, 0x7D],  // in a key
        [0x22, 0x5C, 0x6E, 0xE2, 0x82, 0x22],  // after an escape, truncated
    ])
    func refusesInvalidUTF8InsideStrings(bytes: [UInt8]) {
        #expect(failure(bytes)?.message.contains("invalid UTF-8") == true)
    }

    @Test func reportsWhereTheInvalidUTF8Starts() {
        let f = failure([0x22, 0x61, 0x62, 0x5C, 0x74, 0xFF, 0x22])  // "ab\t<FF>"
        #expect(f?.offset == 5)
        #expect(f?.message == "invalid UTF-8 in a string at byte 6")
    }

    @Test func refusesInvalidBytesOutsideStrings() {
        #expect(failure([0xEF, 0xBB, 0xBF, 0x7B, 0x7D]) != nil)  // a BOM
        #expect(failure([0x7B, 0x7D, 0xFF]) != nil)
    }

    @Test(arguments: [
        #""\ud83d""#,  // a high surrogate alone
        #""\ude00""#,  // a low surrogate alone
        #""\ud83d\u0041""#,  // a high surrogate followed by a non-surrogate
        #""\ud83d\ud83d""#,  // two high surrogates
        #""\ud83dx""#,  // a high surrogate followed by text
        #""\ud83d\n""#,  // a high surrogate followed by another escape
    ])
    func refusesLoneSurrogates(text: String) {
        #expect(failure(text)?.message.contains("unpaired surrogate") == true)
    }

    @Test(arguments: [UInt8(0x00), 0x01, 0x09, 0x0A, 0x0D, 0x1B, 0x1F])
    func refusesRawControlCharactersInStrings(byte: UInt8) {
        let f = failure([0x22, 0x61, byte, 0x62, 0x22])
        #expect(f?.message == "control character in a string at byte 3")
        #expect(f?.offset == 2)
    }

    @Test(arguments: ["01", "-01", "00", "007", "-00.5", "[01]", #"{"a":012}"#])
    func refusesLeadingZeros(text: String) {
        #expect(failure(text)?.message.contains("leading zero") == true)
    }

    @Test(arguments: ["-", "1.", "1.e5", "1e", "1e+", "-a", "2.x", "[-]"])
    func refusesMalformedNumbers(text: String) {
        #expect(failure(text)?.message.contains("invalid number") == true)
    }

    @Test(arguments: ["+1", ".5", "NaN", "Infinity", "-Infinity", "0x10"])
    func refusesNumbersJSONDoesNotHave(text: String) {
        #expect(failure(text) != nil)
    }

    @Test(arguments: [
        "1e400", "-1e400", "1e999999999999", String(repeating: "9", count: 400), "-" + String(repeating: "9", count: 400) + ".5",
    ])
    func refusesNumbersOutOfRange(text: String) {
        let f = failure(text)
        #expect(f?.message.contains("number out of range") == true)
        #expect(f?.offset == 0)
    }

    @Test func hugeIntegersInRangeOfDoubleBecomeDoubles() throws {
        #expect(try JSONParser.parse("1" + String(repeating: "0", count: 30)) == .double(1e30))
        #expect(try JSONParser.parse("1e308") == .double(1e308))
        #expect(try JSONParser.parse("1e-400") == .double(0))
    }

    @Test(arguments: [
        ("{} x", 3),
        ("{}{}", 2),
        ("[1] ,", 4),
        ("1 2", 2),
        (#""a" "b""#, 4),
        ("nullx", 4),
        ("truefalse", 4),
    ])
    func refusesTrailingGarbage(text: String, offset: Int) {
        let f = failure(text)
        #expect(f?.message == "unexpected data after the JSON value at byte \(offset + 1)")
        #expect(f?.offset == offset)
    }

    @Test func refusesDuplicateKeysNamingTheKey() {
        let f = failure(#"{"anonymous_requested":false,"anonymous_requested":true}"#)
        #expect(f?.message == #"duplicate key "anonymous_requested" at byte 30"#)
        #expect(f?.offset == 29)
    }

    @Test func refusesDuplicateKeysInNestedObjectsAndAfterEscapes() {
        #expect(failure(#"{"call":{"cli":"1","cli":"2"}}"#)?.message.contains("duplicate key \"cli\"") == true)
        // The same key spelt once plainly and once with an escape is still the same key.
        #expect(failure(#"{"op":1,"\u006fp":2}"#)?.message.contains("duplicate key \"op\"") == true)
    }

    @Test func sameKeyInSiblingObjectsIsNotADuplicate() throws {
        #expect(try JSONParser.parse(#"[{"a":1},{"a":2}]"#) == .array([.object(["a": 1]), .object(["a": 2])]))
    }

    @Test(arguments: [
        "", " ", "\n", "{", "[", "[1,", #"{"a""#, #"{"a":"#, #"{"a":1,"#, #""abc"#, #""\"#, "t", "fals", "nul",
    ])
    func refusesTruncatedDocuments(text: String) {
        #expect(failure(text) != nil)
    }

    @Test(arguments: [
        "[1,]", #"{"a":1,}"#, "{a:1}", "{'a':1}", "['a']", #"{"a" 1}"#, #"{1:2}"#, "[1 2]", #"{"a":1 "b":2}"#,
        "tru", "trUe", "nil", "undefined", #""\x41""#, #""\u12G4""#, #""\u12""#, #""\U0041""#, "// c\n{}", "/* */{}",
    ])
    func refusesMalformedDocuments(text: String) {
        #expect(failure(text) != nil)
    }

    @Test func failureMessagesNameTheByte() {
        #expect(failure("[1,]")?.message == "unexpected character at byte 4")
        #expect(failure(#"{"a" 1}"#)?.message == "expected ':' at byte 6")
        #expect(failure("[1 2]")?.message == "expected ',' or ']' at byte 4")
        #expect(failure(#""\q""#)?.message == "invalid escape at byte 3")
    }

    @Test func neverTrapsOnArbitraryBytes() {
        // A fixed-seed generator so a failure reproduces.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        let alphabet: [UInt8] = Array(#"{}[]":,.-+eE0123456789tfnrul\ "#.utf8) + [0x00, 0x0A, 0x80, 0xC3, 0xED, 0xFF]
        var parsed = 0
        for _ in 0..<20_000 {
            let length = Int(next() % 40)
            let bytes = (0..<length).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }
            if (try? JSONParser.parse(bytes)) != nil { parsed += 1 }
        }
        // Reaching here is the test; a few of the random lines are even valid JSON.
        #expect(parsed < 20_000)
    }

    @Test func neverTrapsOnEveryPrefixOfAValidRequest() {
        let line = Array(
            #"{"op":"call.update","req":"r\u00e9q","set":{"location":{"lat":52.92,"lon":-1.47e0},"flags":{"threat_to_life":true}},"note":"\ud83d\ude00"}"#
                .utf8
        )
        #expect(throws: Never.self) { try JSONParser.parse(line) }
        for end in 0..<line.count {
            #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(line[0..<end]) }
        }
    }
}
