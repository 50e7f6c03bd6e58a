import HotlineCore
import Testing

/// RFC 3339 times (PROTOCOL.md section 3): read with a zone, kept and written in UTC.
@Suite struct TimestampTests {
    /// 2026-11-24T19:02:11Z in seconds since 1970.
    static let example: Int64 = 1_795_546_931

    @Test func parsesUTCWithZ() throws {
        let t = try Timestamp(rfc3339: "2026-11-24T19:02:11Z")
        #expect(t.microseconds == Self.example * 1_000_000)
        #expect(t.rfc3339 == "2026-11-24T19:02:11Z")
    }

    @Test func parsesAFractionAndAZeroOffset() throws {
        let t = try Timestamp(rfc3339: "2026-11-24T19:02:11.250+00:00")
        #expect(t.microseconds == Self.example * 1_000_000 + 250_000)
        #expect(t.rfc3339 == "2026-11-24T19:02:11.250Z")
    }

    @Test func theEpochIsZero() throws {
        #expect(try Timestamp(rfc3339: "1970-01-01T00:00:00Z").microseconds == 0)
        #expect(Timestamp(microseconds: 0).rfc3339 == "1970-01-01T00:00:00Z")
    }

    @Test(arguments: [
        ("2026-11-24T20:02:11+01:00", "2026-11-24T19:02:11Z"),
        ("2026-11-24T13:32:11-05:30", "2026-11-24T19:02:11Z"),
        ("2026-11-24T19:02:11-00:00", "2026-11-24T19:02:11Z"),
        ("2026-11-25T04:47:11+09:45", "2026-11-24T19:02:11Z"),
        ("2026-11-24T23:30:00-05:30", "2026-11-25T05:00:00Z"),
        ("2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00Z"),
        ("2024-03-01T00:15:00+00:30", "2024-02-29T23:45:00Z"),
        ("2026-12-31T23:59:59-23:59", "2027-01-01T23:58:59Z"),
        ("2026-11-24T20:02:11.5+01:00", "2026-11-24T19:02:11.500Z"),
    ])
    func convertsOffsetsToUTC(text: String, utc: String) throws {
        #expect(try Timestamp(rfc3339: text).rfc3339 == utc)
        #expect(try Timestamp(rfc3339: text) == Timestamp(rfc3339: utc))
    }

    @Test(arguments: [
        "2026-11-24t19:02:11Z",
        "2026-11-24 19:02:11Z",
        "2026-11-24T19:02:11z",
    ])
    func acceptsTheSeparatorsAndZoneLettersRFC3339Allows(text: String) throws {
        #expect(try Timestamp(rfc3339: text).rfc3339 == "2026-11-24T19:02:11Z")
    }

    @Test(arguments: [
        "2026-11-24T19:02:11",
        "2026-11-24T19:02:11.250",
        "2026-11-24T19:02:11.123456789",
        "2026-11-24 19:02:11",
    ])
    func refusesATimeWithoutAZone(text: String) {
        #expect(throws: Timestamp.ParseError.missingZone) { try Timestamp(rfc3339: text) }
    }

    @Test(arguments: [
        "",
        "2026-11-24",
        "2026-11-24T",
        "2026-11-24T19:02Z",
        "2026-11-24T19:02:11+0100",
        "2026-11-24T19:02:11+01",
        "2026-11-24T19:02:11 +01:00",
        "2026-11-24T19:02:11.Z",
        "2026-11-24T19:02:11ZZ",
        "2026-11-24T19:02:11Z ",
        " 2026-11-24T19:02:11Z",
        "2026-11-24T19:02:11GMT",
        "2026-11-24T19:02:11UTC",
        "26-11-24T19:02:11Z",
        "2026/11/24T19:02:11Z",
        "2026-1-24T19:02:11Z",
        "2026-11-24X19:02:11Z",
        "2026-11-24T9:02:11Z",
        "２026-11-24T19:02:11Z",
        "1795546931",
        "2026-11-24T19:02:11,250Z",
    ])
    func refusesMalformedTimes(text: String) {
        #expect(throws: Timestamp.ParseError.malformed) { try Timestamp(rfc3339: text) }
    }

    @Test(arguments: [
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-11-24T24:00:00Z",
        "2026-11-24T19:60:00Z",
        "2026-11-24T19:02:61Z",
        "2026-11-24T19:02:11+24:00",
        "2026-11-24T19:02:11+01:60",
        "0000-01-01T00:00:00Z",
    ])
    func refusesFieldsOutOfRange(text: String) {
        #expect(throws: Timestamp.ParseError.outOfRange) { try Timestamp(rfc3339: text) }
    }

    @Test(arguments: [
        ("2024-02-29T12:00:00Z", true),
        ("2028-02-29T00:00:00Z", true),
        ("2000-02-29T00:00:00Z", true),
        ("2026-02-29T12:00:00Z", false),
        ("2025-02-29T00:00:00Z", false),
        ("1900-02-29T00:00:00Z", false),
        ("2100-02-29T00:00:00Z", false),
    ])
    func february29thExistsOnlyInLeapYears(text: String, valid: Bool) throws {
        if valid {
            #expect(try Timestamp(rfc3339: text).rfc3339 == text)
        } else {
            #expect(throws: Timestamp.ParseError.outOfRange) { try Timestamp(rfc3339: text) }
        }
    }

    @Test func leapDayIsTheRightInstant() throws {
        #expect(try Timestamp(rfc3339: "2024-02-29T12:00:00Z").microseconds == 1_709_208_000 * 1_000_000)
        #expect(try Timestamp(rfc3339: "2000-02-29T00:00:00Z").microseconds == 951_782_400 * 1_000_000)
        let feb28 = try Timestamp(rfc3339: "2024-02-28T12:00:00Z")
        let mar1 = try Timestamp(rfc3339: "2024-03-01T12:00:00Z")
        #expect(mar1.seconds(since: feb28) == 2 * 86_400)
        let feb28b = try Timestamp(rfc3339: "2026-02-28T12:00:00Z")
        let mar1b = try Timestamp(rfc3339: "2026-03-01T12:00:00Z")
        #expect(mar1b.seconds(since: feb28b) == 86_400)
    }

    @Test func aLeapSecondIsReadAsTheSecondBefore() throws {
        #expect(try Timestamp(rfc3339: "2016-12-31T23:59:60Z").rfc3339 == "2016-12-31T23:59:59Z")
    }

    @Test(arguments: [
        ("2026-11-24T19:02:11.25Z", 250_000, "2026-11-24T19:02:11.250Z"),
        ("2026-11-24T19:02:11.5Z", 500_000, "2026-11-24T19:02:11.500Z"),
        ("2026-11-24T19:02:11.001Z", 1_000, "2026-11-24T19:02:11.001Z"),
        ("2026-11-24T19:02:11.000001Z", 1, "2026-11-24T19:02:11.000001Z"),
        ("2026-11-24T19:02:11.123456Z", 123_456, "2026-11-24T19:02:11.123456Z"),
        ("2026-11-24T19:02:11.1234567Z", 123_456, "2026-11-24T19:02:11.123456Z"),
        ("2026-11-24T19:02:11.999999999Z", 999_999, "2026-11-24T19:02:11.999999Z"),
        ("2026-11-24T19:02:11.000Z", 0, "2026-11-24T19:02:11Z"),
        ("2026-11-24T19:02:11.0000001Z", 0, "2026-11-24T19:02:11Z"),
    ])
    func readsAndWritesFractions(text: String, micros: Int64, output: String) throws {
        let t = try Timestamp(rfc3339: text)
        #expect(t.microseconds == Self.example * 1_000_000 + micros)
        #expect(t.rfc3339 == output)
        #expect(t.description == output)
    }

    @Test func outputAlwaysHasFourDigitYearsAndPaddedFields() throws {
        #expect(try Timestamp(rfc3339: "0099-01-02T03:04:05Z").rfc3339 == "0099-01-02T03:04:05Z")
        #expect(try Timestamp(rfc3339: "9999-12-31T23:59:59.999999Z").rfc3339 == "9999-12-31T23:59:59.999999Z")
    }

    @Test func instantsBeforeTheEpochAreWrittenCorrectly() throws {
        #expect(Timestamp(microseconds: -1_000_000).rfc3339 == "1969-12-31T23:59:59Z")
        #expect(Timestamp(microseconds: -1).rfc3339 == "1969-12-31T23:59:59.999999Z")
        #expect(Timestamp(microseconds: -500_000).rfc3339 == "1969-12-31T23:59:59.500Z")
        #expect(try Timestamp(rfc3339: "1969-12-31T23:59:59.5Z").microseconds == -500_000)
        #expect(try Timestamp(rfc3339: "1900-01-01T00:00:00Z").rfc3339 == "1900-01-01T00:00:00Z")
    }

    @Test func rfc3339OutputParsesBackToTheSameInstant() throws {
        for micros: Int64 in [0, 1, 999_999, 1_795_546_931_250_000, -86_400_000_001, 4_102_444_799_999_999] {
            let t = Timestamp(microseconds: micros)
            #expect(try Timestamp(rfc3339: t.rfc3339) == t)
        }
    }

    @Test func orderingFollowsTheInstantNotTheText() throws {
        let a = try Timestamp(rfc3339: "2026-11-24T19:30:00+01:00")  // 18:30Z
        let b = try Timestamp(rfc3339: "2026-11-24T19:00:00Z")
        let c = try Timestamp(rfc3339: "2026-11-24T14:00:00.000001-05:00")  // 19:00:00.000001Z
        #expect(a < b)
        #expect(b < c)
        #expect(a < c)
        #expect(!(b < b))
        #expect(b <= b)
        #expect([c, a, b].sorted() == [a, b, c])
        let sameAsB = try Timestamp(rfc3339: "2026-11-24T20:00:00+01:00")
        #expect(sameAsB == b)
        #expect(Set([b, sameAsB]).count == 1)
    }

    @Test func arithmetic() throws {
        let t = try Timestamp(rfc3339: "2026-11-24T19:02:11Z")
        #expect(t.adding(seconds: 4).rfc3339 == "2026-11-24T19:02:15Z")
        #expect(t.adding(seconds: 0.25).rfc3339 == "2026-11-24T19:02:11.250Z")
        #expect(t.adding(seconds: -3600).rfc3339 == "2026-11-24T18:02:11Z")
        #expect(t.adding(seconds: 310).seconds(since: t) == 310)
        #expect(t.seconds(since: t.adding(seconds: 1.5)) == -1.5)
        #expect(t.secondsSince1970 == Double(Self.example))
        #expect(Timestamp(secondsSince1970: Double(Self.example) + 0.25) == t.adding(seconds: 0.25))
    }

    @Test func utcComponentsAndTheCalendarInitialiserAgree() throws {
        let t = try Timestamp(rfc3339: "2026-11-24T20:02:11.250+01:00")
        let c = t.utcComponents
        #expect(c.year == 2026 && c.month == 11 && c.day == 24)
        #expect(c.hour == 19 && c.minute == 2 && c.second == 11)
        #expect(Timestamp(utcYear: 2026, month: 11, day: 24, hour: 19, minute: 2, second: 11).microseconds == Self.example * 1_000_000)
        #expect(Timestamp(utcYear: 2024, month: 2, day: 29).rfc3339 == "2024-02-29T00:00:00Z")
    }

    @Test func civilDayConversionsAreInverse() {
        #expect(Timestamp.daysFromCivil(year: 1970, month: 1, day: 1) == 0)
        #expect(Timestamp.daysFromCivil(year: 2000, month: 3, day: 1) == 11_017)
        #expect(Timestamp.daysFromCivil(year: 1969, month: 12, day: 31) == -1)
        for days in stride(from: -800_000, through: 800_000, by: 997) {
            let (y, m, d) = Timestamp.civilFromDays(days)
            #expect(Timestamp.daysFromCivil(year: y, month: m, day: d) == days)
        }
    }
}
