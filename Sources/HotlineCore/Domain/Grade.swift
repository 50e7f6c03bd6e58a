/// How urgently a call must be dealt with, most urgent first.
public enum Grade: String, Sendable, CaseIterable, Codable, Comparable {
    case emergency
    case priority
    case scheduled
    case resolution

    /// Urgency: higher is more urgent.
    public var urgency: Int {
        switch self {
        case .emergency: 3
        case .priority: 2
        case .scheduled: 1
        case .resolution: 0
        }
    }

    /// `a < b` when `a` is less urgent than `b`.
    public static func < (a: Grade, b: Grade) -> Bool { a.urgency < b.urgency }
}
