/// An instant, to the microsecond, read from and written as RFC 3339.
///
/// Parsing is our own: it needs no formatter objects (which are slow and not thread-safe on
/// every platform), and it refuses a time without a zone, as the protocol requires.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Microseconds since 1970-01-01T00:00:00Z.
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }

    public init(secondsSince1970 seconds: Double) {
        self.microseconds = Int64((seconds * 1_000_000).rounded())
    }

    public var secondsSince1970: Double { Double(microseconds) / 1_000_000 }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.microseconds < b.microseconds }

    public func adding(seconds: Double) -> Timestamp {
        Timestamp(microseconds: microseconds + Int64((seconds * 1_000_000).rounded()))
    }

    /// Seconds from `earlier` to `self`.
    public func seconds(since earlier: Timestamp) -> Double {
        Double(microseconds - earlier.microseconds) / 1_000_000
    }

    public enum ParseError: Error, Equatable, Sendable {
        case malformed
        case missingZone
        case outOfRange
    }

    /// Parses `2026-11-24T19:02:11Z`, `2026-11-24T19:02:11.250+00:00`, and a space or `t`
    /// in place of `T` as RFC 3339 allows.
    public init(rfc3339 text: String) throws(ParseError) {
        let b = Array(text.utf8)
        var i = 0
        func digits(_ n: Int) throws(ParseError) -> Int {
            guard i + n <= b.count else { throw .malformed }
            var v = 0
            for k in 0..<n {
                let c = b[i + k]
                guard c >= 48 && c <= 57 else { throw .malformed }
                v = v * 10 + Int(c - 48)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8) throws(ParseError) {
            guard i < b.count, b[i] == c else { throw .malformed }
            i += 1
        }
        let year = try digits(4)
        try expect(UInt8(ascii: "-"))
        let month = try digits(2)
        try expect(UInt8(ascii: "-"))
        let day = try digits(2)
        guard i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") || b[i] == UInt8(ascii: " ") else {
            throw .malformed
        }
        i += 1
        let hour = try digits(2)
        try expect(UInt8(ascii: ":"))
        let minute = try digits(2)
        try expect(UInt8(ascii: ":"))
        let second = try digits(2)
        var micros = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var count = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if count < 6 { micros = micros * 10 + Int(b[i] - 48) }
                count += 1
                i += 1
            }
            guard count > 0 else { throw .malformed }
            for _ in count..<max(count, 6) { micros *= 10 }
        }
        guard i < b.count else { throw .missingZone }
        var offsetSeconds = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            let oh = try digits(2)
            try expect(UInt8(ascii: ":"))
            let om = try digits(2)
            guard oh < 24, om < 60 else { throw .outOfRange }
            offsetSeconds = sign * (oh * 3600 + om * 60)
        default:
            throw .malformed
        }
        guard i == b.count else { throw .malformed }
        guard (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
            hour < 24, minute < 60, second < 61, year >= 1
        else { throw .outOfRange }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        let secs = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offsetSeconds)
        self.microseconds = secs * 1_000_000 + Int64(micros)
    }

    /// `2026-11-24T19:02:11Z`, with a fraction only when there is one (`.25`→`.250`).
    public var rfc3339: String {
        let (secs, micros) = microseconds.floorDiv(1_000_000)
        let (days, secOfDay) = secs.floorDiv(86_400)
        let (y, m, d) = Self.civilFromDays(Int(days))
        let hh = Int(secOfDay) / 3600, mm = (Int(secOfDay) % 3600) / 60, ss = Int(secOfDay) % 60
        var s = digits(y, 4) + "-" + digits(m, 2) + "-" + digits(d, 2) + "T" + digits(hh, 2) + ":" + digits(mm, 2) + ":" + digits(ss, 2)
        if micros != 0 {
            if micros % 1000 == 0 {
                s += "." + digits(Int(micros / 1000), 3)
            } else {
                s += "." + digits(Int(micros), 6)
            }
        }
        return s + "Z"
    }

    public var description: String { rfc3339 }

    /// The UTC calendar fields of this instant.
    public var utcComponents: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let (secs, _) = microseconds.floorDiv(1_000_000)
        let (days, secOfDay) = secs.floorDiv(86_400)
        let (y, m, d) = Self.civilFromDays(Int(days))
        return (y, m, d, Int(secOfDay) / 3600, (Int(secOfDay) % 3600) / 60, Int(secOfDay) % 60)
    }

    public init(utcYear year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        self.microseconds = (Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)) * 1_000_000
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

extension Int64 {
    /// Division rounding toward negative infinity, with a non-negative remainder.
    func floorDiv(_ d: Int64) -> (Int64, Int64) {
        let q = self / d, r = self % d
        return r < 0 ? (q - 1, r + d) : (q, r)
    }
}

/// Zero-padded decimal digits, for times, dates and file names.
func digits(_ n: Int, _ width: Int) -> String {
    let text = String(n)
    return String(repeating: "0", count: max(0, width - text.count)) + text
}
