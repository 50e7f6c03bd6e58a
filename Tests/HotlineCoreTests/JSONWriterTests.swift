import HotlineCore
import Testing

/// The canonical writer: compact, sorted keys, escaped strings, doubles that stay doubles.
@Suite struct JSONWriterTests {
    @Test(arguments: [
        (JSONValue.null, "null"),
        (.bool(true), "true"),
        (.bool(false), "false"),
        (.int(0), "0"),
        (.int(-42), "-42"),
        (.int(Int64.max), "9223372036854775807"),
        (.int(Int64.min), "-9223372036854775808"),
        (.string(""), #""""#),
        (.array([]), "[]"),
        (.object([:]), "{}"),
        (.array([.int(1), .null, .string("x"), .array([.bool(false)])]), #"[1,null,"x",[false]]"#),
    ])
    func writesScalarsAndContainersCompactly(value: JSONValue, expected: String) {
        #expect(JSONWriter.string(value) == expected)
        #expect(JSONWriter.bytes(value) == Array(expected.utf8))
    }

    @Test func sortsObjectKeysAtEveryLevel() {
        let value: JSONValue = [
            "zeta": 1, "alpha": ["y": true, "b": false, "a": nil], "Mid": "m", "_u": 0, "a_b": 1, "ab": 2, "a": [["d": 1, "c": 2]],
        ]
        #expect(
            JSONWriter.string(value)
                == #"{"Mid":"m","_u":0,"a":[{"c":2,"d":1}],"a_b":1,"ab":2,"alpha":{"a":null,"b":false,"y":true},"zeta":1}"#
        )
    }

    @Test func equalValuesGiveEqualBytesWhateverTheInsertionOrder() throws {
        var one: [String: JSONValue] = [:]
        for key in ["event_id", "call_id", "op", "at", "set"] { one[key] = .string(key) }
        var two: [String: JSONValue] = [:]
        for key in ["set", "at", "op", "call_id", "event_id"] { two[key] = .string(key) }
        #expect(JSONWriter.bytes(.object(one)) == JSONWriter.bytes(.object(two)))
        let parsed = try JSONParser.parse(#"{"set":"set","op":"op","event_id":"event_id","call_id":"call_id","at":"at"}"#)
        #expect(JSONWriter.string(parsed) == JSONWriter.string(.object(one)))
    }

    @Test(arguments: [
        ("plain", #""plain""#),
        ("quote \" here", #""quote \" here""#),
        ("back\\slash", #""back\\slash""#),
        ("line\nfeed", #""line\nfeed""#),
        ("carriage\rreturn", #""carriage\rreturn""#),
        ("tab\there", #""tab\there""#),
        ("nul\u{0}", #""nul\u0000""#),
        ("bell\u{07}", #""bell\u0007""#),
        ("backspace\u{08}", #""backspace\u0008""#),
        ("formfeed\u{0C}", #""formfeed\u000c""#),
        ("esc\u{1B}", #""esc\u001b""#),
        ("unit\u{1F}", #""unit\u001f""#),
        ("slash/", #""slash/""#),
        ("del\u{7F}", "\"del\u{7F}\""),
        ("café 🚨 \u{2028}", "\"café 🚨 \u{2028}\""),
    ])
    func escapesStrings(text: String, expected: String) throws {
        #expect(JSONWriter.string(.string(text)) == expected)
        #expect(try JSONParser.parse(expected) == .string(text))
    }

    @Test func escapesObjectKeysToo() {
        #expect(JSONWriter.string(["a\"b\n": 1]) == #"{"a\"b\n":1}"#)
    }

    @Test(arguments: [
        (12.0, "12.0"),
        (0.0, "0.0"),
        (-0.0, "0.0"),
        (-3.0, "-3.0"),
        (1.0, "1.0"),
        (310.0, "310.0"),
        (999_999_999_999_999.0, "999999999999999.0"),
        (0.5, "0.5"),
        (52.92, "52.92"),
        (-1.47, "-1.47"),
        (12.25, "12.25"),
        (0.1, "0.1"),
    ])
    func writesDoubles(value: Double, expected: String) {
        #expect(JSONWriter.string(.double(value)) == expected)
    }

    @Test func wholeDoublesReadBackAsDoubles() throws {
        for d in [12.0, 4.0, -7.0, 0.0, 123_456_789.0] {
            #expect(try JSONParser.parse(JSONWriter.string(.double(d))) == .double(d))
        }
    }

    @Test(arguments: [1e15, 1e20, -1e300, 1.7976931348623157e308, Double.leastNonzeroMagnitude, 1e-7, 0.1 + 0.2, 3.141592653589793])
    func veryLargeOrSmallDoublesStillRoundTrip(value: Double) throws {
        let text = JSONWriter.string(.double(value))
        #expect(try JSONParser.parse(text) == .double(value))
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity])
    func nonFiniteDoublesAreWrittenAsNull(value: Double) {
        #expect(JSONWriter.string(.double(value)) == "null")
    }

    @Test func appendsToAnExistingBuffer() {
        var out: [UInt8] = Array("x=".utf8)
        JSONWriter.write(["b": 2, "a": 1], into: &out)
        #expect(String(decoding: out, as: UTF8.self) == #"x={"a":1,"b":2}"#)
    }

    @Test func writesAWholeResponseCanonically() {
        let response: JSONValue = [
            "ok": true, "req": "r-1", "call_id": "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70", "seq": 1042,
            "route": "anti-terrorist-hotline", "grade": "priority", "marking": "OFFICIAL-SENSITIVE",
            "anonymous": false, "escalated": false, "alert_id": nil, "stripped": [], "median": 12.0,
        ]
        #expect(
            JSONWriter.string(response)
                == #"{"alert_id":null,"anonymous":false,"call_id":"6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70","escalated":false,"grade":"priority","marking":"OFFICIAL-SENSITIVE","median":12.0,"ok":true,"req":"r-1","route":"anti-terrorist-hotline","seq":1042,"stripped":[]}"#
        )
    }
}
