import HotlineCore
import Testing

/// Normalisation of `dialled` (PROTOCOL.md section 3).
@Suite struct DialledNumberTests {
    @Test(arguments: [
        // The protocol's own examples.
        ("+44 800 789 321", "0800789321"),
        ("0800 789 321", "0800789321"),
        ("0800-789-321", "0800789321"),
        // Every separator the protocol names, alone and mixed.
        ("0800.789.321", "0800789321"),
        ("(0800) 789 321", "0800789321"),
        ("0800789321", "0800789321"),
        (" 0800 789 321 ", "0800789321"),
        ("0800 - 789 . 321", "0800789321"),
        ("(0)800)789(321", "0800789321"),
        // A leading +44 or 0044 becomes 0.
        ("+44800789321", "0800789321"),
        ("0044 800 789 321", "0800789321"),
        ("0044800789321", "0800789321"),
        ("+44 (800) 789-321", "0800789321"),
        ("+ 44 800 789 321", "0800789321"),
        ("00 44 800 789 321", "0800789321"),
        ("+447700900123", "07700900123"),
        // Short codes.
        ("999", "999"),
        ("112", "112"),
        ("101", "101"),
        ("9 9 9", "999"),
        ("1-1-2", "112"),
        // Only a *leading* 44 prefix is rewritten.
        ("0800 44 44 44", "0800444444"),
        ("44 800 789 321", "44800789321"),
        ("044800789321", "044800789321"),
    ])
    func normalisesTheCommonUKForms(raw: String, expected: String) throws {
        #expect(try DialledNumber.normalise(raw) == expected)
    }

    @Test func theInternationalFormWithABracketedTrunkZeroMeansTheSameNumber() throws {
        // "+44 (0)800 789 321" is how UK numbers are often written: the bracketed 0 is
        // the trunk prefix, not dialled after +44. Read literally it would be 00800….
        #expect(try DialledNumber.normalise("+44 (0)800 789 321") == "0800789321")
        #expect(try DialledNumber.normalise("0044 (0) 800 789 321") == "0800789321")
        #expect(try DialledNumber.normalise("+44(0)101") == "0101")
    }

    @Test func normalisingIsIdempotent() throws {
        for raw in ["+44 800 789 321", "0044 101", "999", "(0800) 789-321"] {
            let once = try DialledNumber.normalise(raw)
            #expect(try DialledNumber.normalise(once) == once)
        }
    }

    @Test(arguments: [
        ("0800 HOTLINE", Character("H")),
        ("0800789321x", "x"),
        ("0800/789/321", "/"),
        ("+1 555 0100", "+"),
        ("+", "+"),
        ("++44800", "+"),
        ("0800_789_321", "_"),
        ("999#", "#"),
        ("*999", "*"),
        ("0800,789", ","),
        ("０８００", "０"),
        ("٩٩٩", "٩"),
        ("99\u{0301}9", "9\u{0301}"),
        ("0800\n789", "\n"),
        ("phone", "p"),
        ("1e3", "e"),
    ])
    func refusesAnythingButDigitsAfterNormalising(raw: String, bad: Character) {
        #expect(throws: DialledNumber.Failure.notDigits(bad)) { try DialledNumber.normalise(raw) }
    }

    @Test(arguments: ["", " ", "   ", "-", "()", " . - ( ) "])
    func refusesANumberWithNoDigits(raw: String) {
        #expect(throws: DialledNumber.Failure.empty) { try DialledNumber.normalise(raw) }
    }

    @Test func theRewrittenPrefixAloneIsTheDigitZero() throws {
        #expect(try DialledNumber.normalise("+44") == "0")
        #expect(try DialledNumber.normalise("0044") == "0")
    }

    @Test func allowsUpToTwentyDigits() throws {
        #expect(DialledNumber.maxDigits == 20)
        let twenty = String(repeating: "1", count: 20)
        #expect(try DialledNumber.normalise(twenty) == twenty)
        // Separators do not count towards the limit.
        let spaced = Array(twenty).map(String.init).joined(separator: " ")
        #expect(try DialledNumber.normalise(spaced) == twenty)
        // A +44 prefix counts as the one digit it becomes.
        #expect(try DialledNumber.normalise("+44" + String(repeating: "2", count: 19)) == "0" + String(repeating: "2", count: 19))
    }

    @Test(arguments: [21, 22, 64, 10_000])
    func refusesMoreThanTwentyDigits(count: Int) {
        #expect(throws: DialledNumber.Failure.tooLong) {
            try DialledNumber.normalise(String(repeating: "7", count: count))
        }
    }

    @Test func reportsTheFirstOffendingCharacterEvenInALongNumber() {
        #expect(throws: DialledNumber.Failure.notDigits("A")) {
            try DialledNumber.normalise(String(repeating: "1", count: 30) + "A")
        }
    }
}
