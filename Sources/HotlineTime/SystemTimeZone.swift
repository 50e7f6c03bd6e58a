import Foundation
import HotlineCore

/// A timezone from the system's timezone database (/usr/share/zoneinfo), for the shift
/// arithmetic of the pure core.
public struct SystemTimeZone: TimeZoneRules {
    private let zone: TimeZone
    public var identifier: String { zone.identifier }

    /// Nil when the database has no such zone.
    public init?(_ identifier: String) {
        guard let zone = TimeZone(identifier: identifier) else { return nil }
        self.zone = zone
    }

    public func secondsFromUTC(at instant: Timestamp) -> Int {
        zone.secondsFromGMT(for: Date(timeIntervalSince1970: instant.secondsSince1970))
    }
}

extension ShiftSettings {
    /// The configured shifts on the calendar of their timezone.
    public var calendar: ShiftCalendar? { SystemTimeZone(timezone).map { ShiftCalendar(settings: self, zone: $0) } }
}
