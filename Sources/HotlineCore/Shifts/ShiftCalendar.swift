/// A timezone's offsets from UTC: the one thing shift arithmetic needs from the system's
/// timezone database, which the adapters supply (the core reads no files).
public protocol TimeZoneRules: Sendable {
    /// The IANA name, as reported in exports.
    var identifier: String { get }
    /// Seconds to add to UTC to get local wall-clock time at `instant`.
    func secondsFromUTC(at instant: Timestamp) -> Int
}

/// One shift on one day, as an instant range `[from, to)` in UTC.
public struct ShiftWindow: Sendable, Equatable, CustomStringConvertible {
    /// The shift's name, or nil for a range given by hand (`--from/--to`).
    public var name: String?
    /// The local date the shift starts on (`YYYY-MM-DD`), or nil for a range given by hand.
    public var date: String?
    public var from: Timestamp
    public var to: Timestamp
    public var timezone: String

    public init(name: String?, date: String?, from: Timestamp, to: Timestamp, timezone: String) {
        self.name = name
        self.date = date
        self.from = from
        self.to = to
        self.timezone = timezone
    }

    public var json: JSONValue {
        [
            "name": .optional(name), "date": .optional(date), "from": .string(from.rfc3339), "to": .string(to.rfc3339),
            "timezone": .string(timezone),
        ]
    }

    /// The base of the export files' names: `night-2026-11-23`, or
    /// `calls-20261124T190000Z-20261125T070000Z` for a range given by hand.
    public var fileStem: String {
        if let name, let date { return "\(name)-\(date)" }
        func compact(_ t: Timestamp) -> String {
            let c = t.utcComponents
            return digits(c.year, 4) + digits(c.month, 2) + digits(c.day, 2) + "T" + digits(c.hour, 2) + digits(c.minute, 2)
                + digits(c.second, 2) + "Z"
        }
        return "calls-\(compact(from))-\(compact(to))"
    }

    public var description: String { "\(name ?? "range") \(date ?? "") [\(from.rfc3339), \(to.rfc3339))" }

    /// Every UTC hour the window touches, from the hour `from` falls in: `per_hour`'s rows.
    public var hours: [Timestamp] {
        let hour: Int64 = 3_600_000_000
        var t = Timestamp(microseconds: from.microseconds - ((from.microseconds % hour) + hour) % hour)
        var out: [Timestamp] = []
        while t < to {
            out.append(t)
            t = Timestamp(microseconds: t.microseconds + hour)
        }
        return out
    }
}

/// The configured shifts laid on the calendar of one timezone (PROTOCOL.md section 11):
/// a shift that crosses a daylight-saving change is as long as the wall clock says.
public struct ShiftCalendar: Sendable {
    public let settings: ShiftSettings
    public let zone: any TimeZoneRules

    public init(settings: ShiftSettings, zone: any TimeZoneRules) {
        self.settings = settings
        self.zone = zone
    }

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// The instant a local wall-clock time happens. A time the clocks skip (spring
    /// forward) is read with the offset before the change, so it lands just after the gap;
    /// a time that happens twice (fall back) is its first occurrence.
    public func instant(localDays days: Int, minuteOfDay: Int) -> Timestamp {
        let local = (Int64(days) * 86_400 + Int64(minuteOfDay) * 60) * 1_000_000
        let before = offset(at: local - 86_400_000_000)
        let after = offset(at: local + 86_400_000_000)
        let candidates = Set([local - before, local - after]).sorted()
        for c in candidates where c + offset(at: c) == local { return Timestamp(microseconds: c) }
        return Timestamp(microseconds: local - before)
    }

    private func offset(at utcMicroseconds: Int64) -> Int64 {
        Int64(zone.secondsFromUTC(at: Timestamp(microseconds: utcMicroseconds))) * 1_000_000
    }

    /// The local date (days since 1970-01-01) of `instant`.
    public func localDays(of instant: Timestamp) -> Int {
        let local = instant.microseconds + offset(at: instant.microseconds)
        return Int((local / 1_000_000).floorDiv(86_400))
    }

    /// `shift` starting on local date `days`.
    public func window(_ shift: ShiftDefinition, startingOn days: Int) -> ShiftWindow {
        let from = instant(localDays: days, minuteOfDay: shift.start.minuteOfDay)
        let to = instant(localDays: shift.crossesMidnight ? days + 1 : days, minuteOfDay: shift.end.minuteOfDay)
        let (y, m, d) = Timestamp.civilFromDays(days)
        let date = digits(y, 4) + "-" + digits(m, 2) + "-" + digits(d, 2)
        return ShiftWindow(name: shift.name, date: date, from: from, to: to, timezone: zone.identifier)
    }

    /// Every shift window that starts on local dates `days - 1 … days + 1`, in time order.
    private func windows(around days: Int) -> [ShiftWindow] {
        (days - 1...days + 1).flatMap { d in settings.schedule.map { window($0, startingOn: d) } }
            .sorted { $0.from < $1.from }
    }

    /// The shift `instant` falls in, if any (shifts may leave gaps).
    public func shift(containing instant: Timestamp) -> ShiftWindow? {
        windows(around: localDays(of: instant)).first { $0.from <= instant && instant < $0.to }
    }

    /// The last shift that had ended by `now`.
    public func previous(at now: Timestamp) -> ShiftWindow? {
        let days = localDays(of: now)
        for d in stride(from: days, through: days - 2, by: -1) {
            if let w = windows(around: d).filter({ $0.to <= now }).max(by: { $0.to < $1.to }) { return w }
        }
        return nil
    }

    /// `previous`, `current` or `NAME:YYYY-MM-DD`, as `hotlinectl export --shift` takes it.
    public func resolve(_ spec: String, now: Timestamp) throws(Failure) -> ShiftWindow {
        switch spec {
        case "previous":
            guard let w = previous(at: now) else { throw Failure(description: "no shift has ended yet") }
            return w
        case "current":
            guard let w = shift(containing: now) else {
                throw Failure(description: "no shift is running now (the configured shifts leave this time uncovered)")
            }
            return w
        default:
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            let names = settings.schedule.map(\.name).joined(separator: ", ")
            guard parts.count == 2 else {
                throw Failure(description: "\"\(spec)\" is not a shift: give previous, current or NAME:YYYY-MM-DD (names: \(names))")
            }
            guard let shift = settings.shift(named: parts[0]) else {
                throw Failure(description: "there is no shift named \"\(parts[0])\" (names: \(names))")
            }
            guard let days = Self.days(parts[1]) else {
                throw Failure(description: "\"\(parts[1])\" is not a date as YYYY-MM-DD")
            }
            return window(shift, startingOn: days)
        }
    }

    /// The calendar month `YYYY-MM` from local midnight on its first day to local midnight
    /// on the next month's: 743 or 745 hours for a month with a clock change.
    public func window(month text: String) throws(Failure) -> ShiftWindow {
        guard let (y, m) = Self.month(text) else { throw Failure(description: "\"\(text)\" is not a month as YYYY-MM") }
        let first = Timestamp.daysFromCivil(year: y, month: m, day: 1)
        let next = m == 12 ? Timestamp.daysFromCivil(year: y + 1, month: 1, day: 1) : Timestamp.daysFromCivil(year: y, month: m + 1, day: 1)
        return ShiftWindow(
            name: "month", date: text, from: instant(localDays: first, minuteOfDay: 0), to: instant(localDays: next, minuteOfDay: 0),
            timezone: zone.identifier)
    }

    /// The local days `window` touches, each as its date and the instants it runs between
    /// (clipped to the window): a day with a clock change is 23 or 25 hours long.
    public func days(of window: ShiftWindow) -> [(date: String, from: Timestamp, to: Timestamp)] {
        guard window.from < window.to else { return [] }
        var out: [(date: String, from: Timestamp, to: Timestamp)] = []
        var day = localDays(of: window.from)
        while true {
            let start = instant(localDays: day, minuteOfDay: 0)
            guard start < window.to else { break }
            let end = instant(localDays: day + 1, minuteOfDay: 0)
            let (y, m, d) = Timestamp.civilFromDays(day)
            out.append((digits(y, 4) + "-" + digits(m, 2) + "-" + digits(d, 2), max(start, window.from), min(end, window.to)))
            day += 1
        }
        return out
    }

    /// The year and month of `YYYY-MM`, if it is one.
    public static func month(_ text: String) -> (Int, Int)? {
        let p = text.split(separator: "-", omittingEmptySubsequences: false)
        guard p.count == 2, p[0].count == 4, p[1].count == 2, let y = Int(p[0]), let m = Int(p[1]), (1...12).contains(m), y >= 1970
        else { return nil }
        return (y, m)
    }

    /// Days since 1970-01-01 of a `YYYY-MM-DD` date, if it is a real one.
    static func days(_ text: String) -> Int? {
        let p = text.split(separator: "-", omittingEmptySubsequences: false)
        guard p.count == 3, p[0].count == 4, p[1].count == 2, p[2].count == 2, let y = Int(p[0]), let m = Int(p[1]),
            let d = Int(p[2]), (1...12).contains(m), (1...31).contains(d)
        else { return nil }
        let days = Timestamp.daysFromCivil(year: y, month: m, day: d)
        let back = Timestamp.civilFromDays(days)
        return back == (y, m, d) ? days : nil
    }

}

extension Int64 {
    fileprivate func floorDiv(_ d: Int64) -> Int64 { self >= 0 ? self / d : -((-self + d - 1) / d) }
}
