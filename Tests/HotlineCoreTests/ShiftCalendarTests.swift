import HotlineCore
import Testing

/// London's rules for 2025 to 2027, written out by hand (BST from 01:00 UTC on the last
/// Sunday of March to 01:00 UTC on the last Sunday of October): the core's shift arithmetic
/// against a zone whose every offset is known. `SystemTimeZoneTests` checks the system's
/// timezone database says the same.
struct HandWrittenLondon: TimeZoneRules {
    var identifier: String { "Europe/London" }
    static let summers: [(Timestamp, Timestamp)] = [
        (ts("2025-03-30T01:00:00Z"), ts("2025-10-26T01:00:00Z")),
        (ts("2026-03-29T01:00:00Z"), ts("2026-10-25T01:00:00Z")),
        (ts("2027-03-28T01:00:00Z"), ts("2027-10-31T01:00:00Z")),
    ]
    func secondsFromUTC(at t: Timestamp) -> Int { Self.summers.contains { $0.0 <= t && t < $0.1 } ? 3600 : 0 }
}

func ts(_ text: String) -> Timestamp {
    do { return try Timestamp(rfc3339: text) } catch { fatalError("bad test time \(text)") }
}

@Suite struct ShiftCalendarTests {
    let calendar = ShiftCalendar(settings: ShiftSettings(), zone: HandWrittenLondon())

    func window(_ spec: String) throws -> ShiftWindow { try calendar.resolve(spec, now: ts("2030-01-01T00:00:00Z")) }

    @Test func aWinterShiftIsItsWallClockHoursInUTC() throws {
        let w = try window("night:2026-11-23")
        #expect(
            w
                == ShiftWindow(
                    name: "night", date: "2026-11-23", from: ts("2026-11-23T23:00:00Z"), to: ts("2026-11-24T07:00:00Z"),
                    timezone: "Europe/London"))
        #expect(w.hours.count == 8)
        #expect(w.fileStem == "night-2026-11-23")
    }

    @Test func aSummerShiftIsAnHourEarlierInUTC() throws {
        #expect(try window("early:2026-06-01").from == ts("2026-06-01T06:00:00Z"))
        #expect(try window("early:2026-06-01").to == ts("2026-06-01T14:00:00Z"))
    }

    /// The night the clocks go forward (23:00 GMT to 07:00 BST) is 7 hours; the night they
    /// go back (23:00 BST to 07:00 GMT) is 9. The shifts either side meet it exactly.
    @Test(arguments: [
        ("2026-03-28", "2026-03-28T23:00:00Z", "2026-03-29T06:00:00Z", 7, "2026-03-29"),
        ("2026-10-24", "2026-10-24T22:00:00Z", "2026-10-25T07:00:00Z", 9, "2026-10-25"),
    ])
    func aNightAcrossAClockChangeIsAsLongAsTheWallClockSays(
        date: String, from: String, to: String, hours: Int, nextDay: String
    ) throws {
        let w = try window("night:\(date)")
        #expect(w.from == ts(from))
        #expect(w.to == ts(to))
        #expect(w.to.seconds(since: w.from) == Double(hours * 3600))
        #expect(w.hours.count == hours)
        #expect(try window("late:\(date)").to == w.from)
        #expect(try window("early:\(nextDay)").from == w.to)
    }

    @Test func aCallExactlyOnABoundaryBelongsToTheShiftThatStarts() {
        #expect(calendar.shift(containing: ts("2026-11-24T07:00:00Z"))?.name == "early")
        #expect(calendar.shift(containing: ts("2026-11-24T06:59:59.999999Z"))?.date == "2026-11-23")
        #expect(calendar.shift(containing: ts("2026-11-24T06:59:59.999999Z"))?.name == "night")
        #expect(calendar.shift(containing: ts("2026-11-24T00:30:00Z"))?.date == "2026-11-23")  // after midnight
        // The hour the clocks go back happens twice; both are in the same night shift.
        #expect(calendar.shift(containing: ts("2026-10-25T00:30:00Z"))?.date == "2026-10-24")
        #expect(calendar.shift(containing: ts("2026-10-25T01:30:00Z"))?.date == "2026-10-24")
    }

    @Test func previousIsTheLastShiftThatHasEnded() throws {
        let night = try window("night:2026-11-23")
        #expect(calendar.previous(at: ts("2026-11-24T07:00:00Z")) == night)
        #expect(calendar.previous(at: ts("2026-11-24T06:59:59Z"))?.name == "late")
        #expect(calendar.previous(at: ts("2026-11-24T06:59:59Z"))?.date == "2026-11-23")
        #expect(calendar.previous(at: ts("2026-11-24T15:00:01Z"))?.name == "early")
        #expect(try calendar.resolve("previous", now: ts("2026-03-29T06:00:00Z")) == window("night:2026-03-28"))
        #expect(try calendar.resolve("current", now: ts("2026-03-29T06:00:00Z")) == window("early:2026-03-29"))
    }

    @Test(arguments: [
        ("dawn:2026-11-23", "no shift named \"dawn\""), ("night:2026-02-30", "not a date"),
        ("night", "is not a shift"), ("night:23-11-2026", "not a date"),
    ])
    func aBadShiftSaysWhatIsWrong(spec: String, message: String) {
        #expect {
            _ = try calendar.resolve(spec, now: ts("2026-11-24T12:00:00Z"))
        } throws: { error in
            (error as? ShiftCalendar.Failure)?.description.contains(message) == true
        }
    }

    @Test func aWallClockTimeTheClocksSkipOrRepeatIsReadOneWay() {
        let days = 20_541  // 2026-03-29
        // 01:30 does not exist that morning: read with the offset before, it is 01:30 UTC.
        #expect(calendar.instant(localDays: days, minuteOfDay: 90) == ts("2026-03-29T01:30:00Z"))
        // 01:30 on 2026-10-25 happens twice: the first time.
        #expect(calendar.instant(localDays: 20_751, minuteOfDay: 90) == ts("2026-10-25T00:30:00Z"))
    }

    @Test func aCalendarWithGapsHasNoCurrentShiftInThem() throws {
        let day = ShiftSettings(schedule: [ShiftDefinition(name: "day", start: LocalTime("08:00")!, end: LocalTime("18:00")!)])
        let c = ShiftCalendar(settings: day, zone: HandWrittenLondon())
        #expect(c.shift(containing: ts("2026-11-24T20:00:00Z")) == nil)
        #expect(c.previous(at: ts("2026-11-24T20:00:00Z"))?.date == "2026-11-24")
        #expect(c.previous(at: ts("2026-11-24T07:00:00Z"))?.date == "2026-11-23")
        #expect(c.settings.endTimes == [LocalTime(hour: 18, minute: 0)])
        #expect(calendar.settings.endTimes.map(\.description) == ["07:00", "15:00", "23:00"])
    }

    @Test func shiftSettingsThatCannotWorkAreProblems() {
        var s = ShiftSettings()
        s.schedule += [
            ShiftDefinition(name: "late", start: LocalTime("05:00")!, end: LocalTime("06:00")!),
            ShiftDefinition(name: "Odd Name", start: LocalTime("06:00")!, end: LocalTime("06:00")!),
        ]
        s.exportDir = "exports"
        let paths = s.problems().map(\.path)
        #expect(
            paths == [
                "shifts.schedule.3.name", "shifts.schedule.4.name", "shifts.schedule.4.end", "shifts.schedule.3",
                "shifts.export_dir",
            ])
        #expect(ShiftSettings().problems().isEmpty)
        #expect(LocalTime("24:00") == nil)
        #expect(LocalTime("7:00") == nil)
        #expect(LocalTime("07:60") == nil)
        #expect(LocalTime("23:59")?.minuteOfDay == 1439)
    }
}
