/// Shifts (`shifts:` in the configuration, PROTOCOL.md section 11): named wall-clock
/// windows in one timezone. A call belongs to the shift in which it was received.
public struct ShiftSettings: Sendable, Equatable, Codable {
    /// An IANA timezone name, read from the system's timezone database.
    public var timezone: String
    /// Where scheduled exports are written; nil: `exports/` beside the database.
    public var exportDir: String?
    public var schedule: [ShiftDefinition]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case timezone
        case exportDir = "export_dir"
        case schedule
    }

    /// The shipped shifts: early 07:00-15:00, late 15:00-23:00, night 23:00-07:00, London.
    public init(
        timezone: String = "Europe/London", exportDir: String? = nil,
        schedule: [ShiftDefinition] = [
            ShiftDefinition(name: "early", start: LocalTime(hour: 7, minute: 0), end: LocalTime(hour: 15, minute: 0)),
            ShiftDefinition(name: "late", start: LocalTime(hour: 15, minute: 0), end: LocalTime(hour: 23, minute: 0)),
            ShiftDefinition(name: "night", start: LocalTime(hour: 23, minute: 0), end: LocalTime(hour: 7, minute: 0)),
        ]
    ) {
        self.timezone = timezone
        self.exportDir = exportDir
        self.schedule = schedule
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ShiftSettings()
        timezone = try c.decodeIfPresent(String.self, forKey: .timezone) ?? d.timezone
        exportDir = try c.decodeIfPresent(String.self, forKey: .exportDir)
        schedule = try c.decodeIfPresent([ShiftDefinition].self, forKey: .schedule) ?? d.schedule
    }

    public func shift(named name: String) -> ShiftDefinition? { schedule.first { $0.name == name } }

    /// When the shifts end, as local wall-clock times, each once: what the export timer fires on.
    public var endTimes: [LocalTime] {
        Array(Set(schedule.map(\.end.minuteOfDay))).sorted().map { LocalTime(hour: $0 / 60, minute: $0 % 60) }
    }

    /// What decoding cannot check (the timezone name needs the timezone database: the
    /// loader checks it).
    public func problems() -> [Configuration.Problem] {
        var problems: [Configuration.Problem] = []
        if schedule.isEmpty { problems.append(.init(path: "shifts.schedule", reason: "must list at least one shift")) }
        var names: Set<String> = []
        for (i, shift) in schedule.enumerated() {
            if !Configuration.isSlug(shift.name) {
                problems.append(.init(path: "shifts.schedule.\(i).name", reason: "must be lower-case letters, digits and '-'"))
            }
            if !names.insert(shift.name).inserted {
                problems.append(.init(path: "shifts.schedule.\(i).name", reason: "shift \"\(shift.name)\" is named twice"))
            }
            if shift.start == shift.end {
                problems.append(.init(path: "shifts.schedule.\(i).end", reason: "must differ from start"))
            }
        }
        // No two shifts may share a minute of the day: a call must fall in one shift only.
        for i in schedule.indices {
            for j in schedule.indices where j > i && schedule[i].overlaps(schedule[j]) {
                problems.append(
                    .init(
                        path: "shifts.schedule.\(j)",
                        reason: "\"\(schedule[j].name)\" overlaps \"\(schedule[i].name)\"; a call must belong to one shift"))
            }
        }
        if timezone.isEmpty { problems.append(.init(path: "shifts.timezone", reason: "must not be empty")) }
        if let dir = exportDir, !dir.hasPrefix("/") {
            problems.append(.init(path: "shifts.export_dir", reason: "must be an absolute path"))
        }
        return problems
    }
}

/// One named shift: from `start` to `end`, local wall-clock times; an `end` at or before
/// `start` is on the next day (a night shift).
public struct ShiftDefinition: Sendable, Equatable, Codable {
    public var name: String
    public var start: LocalTime
    public var end: LocalTime

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, start, end
    }

    public init(name: String, start: LocalTime, end: LocalTime) {
        self.name = name
        self.start = start
        self.end = end
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        start = try c.decode(LocalTime.self, forKey: .start)
        end = try c.decode(LocalTime.self, forKey: .end)
    }

    public var crossesMidnight: Bool { end <= start }

    /// The minutes of the day it covers, as ranges within 0..<1440.
    var minuteRanges: [Range<Int>] {
        if start == end { return [] }  // reported as a problem of its own
        return crossesMidnight
            ? [start.minuteOfDay..<1440, 0..<end.minuteOfDay] : [start.minuteOfDay..<end.minuteOfDay]
    }

    func overlaps(_ other: ShiftDefinition) -> Bool {
        minuteRanges.contains { a in other.minuteRanges.contains { b in a.overlaps(b) } }
    }
}

/// A wall-clock time of day, `HH:MM` in the configuration.
public struct LocalTime: Sendable, Equatable, Comparable, Codable, CustomStringConvertible {
    public var hour: Int
    public var minute: Int

    public init(hour: Int, minute: Int) {
        self.hour = hour
        self.minute = minute
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCII) }),
            let h = Int(parts[0]), let m = Int(parts[1]), (0...23).contains(h), (0...59).contains(m)
        else { return nil }
        self.init(hour: h, minute: m)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let time = LocalTime(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "\"\(text)\" is not a time of day as HH:MM (00:00 to 23:59)"))
        }
        self = time
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public var minuteOfDay: Int { hour * 60 + minute }
    public var description: String { digits(hour, 2) + ":" + digits(minute, 2) }
    public static func < (a: LocalTime, b: LocalTime) -> Bool { a.minuteOfDay < b.minuteOfDay }
}
