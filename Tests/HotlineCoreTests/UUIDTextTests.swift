import HotlineCore
import Testing

/// UUIDs as text (PROTOCOL.md section 3): `8-4-4-4-12` hex digits, lower case on return.
@Suite struct UUIDTextTests {
    @Test(arguments: [
        ("6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70", "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70"),
        ("6F1C2A8E-3B1D-4C2E-9A7F-0B3C4D5E6F70", "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70"),
        ("6f1C2a8E-3b1D-4C2e-9A7f-0B3c4D5e6F70", "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70"),
        ("00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"),
        ("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "ffffffff-ffff-ffff-ffff-ffffffffffff"),
    ])
    func normalisesToLowerCase(text: String, expected: String) {
        #expect(UUIDText.normalise(text) == expected)
    }

    @Test(arguments: [
        "",
        "6f1c2a8e3b1d4c2e9a7f0b3c4d5e6f70",  // no hyphens
        "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f7",  // one digit short
        "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f700",  // one digit long
        "{6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70}",  // braces
        "urn:uuid:6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70",
        "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6fg0",  // a non-hex letter
        "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f7 ",  // a space
        " 6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f7",
        "6f1c2a8e3-b1d-4c2e-9a7f-0b3c4d5e6f70",  // a hyphen in the wrong place
        "6f1c2a8e-3b1d-4c2e-9a7f_0b3c4d5e6f70",  // not a hyphen
        "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e-f70",  // a hyphen where a digit belongs
        "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f7é",  // 36 characters but 37 bytes
        "6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f７0",  // a full-width digit
    ])
    func refusesAnythingElse(text: String) {
        #expect(UUIDText.normalise(text) == nil)
    }

    @Test func randomUUIDsAreVersion4InLowerCaseAndDistinct() {
        var seen = Set<String>()
        for _ in 0..<500 {
            let id = UUIDText.random()
            #expect(id.utf8.count == 36)
            #expect(UUIDText.normalise(id) == id)
            let chars = Array(id)
            #expect(chars[14] == "4")
            #expect("89ab".contains(chars[19]))
            seen.insert(id)
        }
        #expect(seen.count == 500)
    }
}
