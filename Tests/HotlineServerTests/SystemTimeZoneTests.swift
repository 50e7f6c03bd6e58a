import Foundation
import HotlineCore
import HotlineServer
import HotlineTime
import Testing

/// Shifts on the system's own timezone database (tzdata), as the daemon and hotlinectl use
/// it: Europe/London's clock changes of 2026, and names it does not know.
@Suite struct SystemTimeZoneTests {
    static func ts(_ text: String) -> Timestamp {
        do { return try Timestamp(rfc3339: text) } catch { fatalError("bad test time \(text)") }
    }

    @Test(arguments: [
        ("2026-03-29T00:59:59Z", 0), ("2026-03-29T01:00:00Z", 3600), ("2026-10-25T00:59:59Z", 3600),
        ("2026-10-25T01:00:00Z", 0), ("2026-07-01T12:00:00Z", 3600), ("2026-12-25T12:00:00Z", 0),
    ])
    func londonChangesItsClocksWhenTheLawSays(instant: String, offset: Int) throws {
        let london = try #require(SystemTimeZone("Europe/London"))
        #expect(london.secondsFromUTC(at: Self.ts(instant)) == offset)
    }

    @Test func nightsAcrossTheChangesAreSevenAndNineHours() throws {
        let calendar = try #require(ShiftSettings().calendar)
        let spring = try calendar.resolve("night:2026-03-28", now: Self.ts("2027-01-01T00:00:00Z"))
        let autumn = try calendar.resolve("night:2026-10-24", now: Self.ts("2027-01-01T00:00:00Z"))
        #expect(spring.to.seconds(since: spring.from) == 7 * 3600)
        #expect(autumn.to.seconds(since: autumn.from) == 9 * 3600)
        #expect(autumn.from == Self.ts("2026-10-24T22:00:00Z"))
    }

    @Test func anUnknownTimezoneIsAConfigurationProblem() throws {
        #expect(SystemTimeZone("Europe/Atlantis") == nil)
        let yaml = try String(contentsOfFile: ConfigurationLoaderTests.shippedPath, encoding: .utf8)
            .replacingOccurrences(of: "timezone: Europe/London", with: "timezone: Europe/Atlantis")
        #expect {
            _ = try ConfigurationLoader.parse(yaml)
        } throws: { error in
            "\(error)".contains("shifts.timezone: \"Europe/Atlantis\" is not in the system's timezone database")
        }
    }
}
