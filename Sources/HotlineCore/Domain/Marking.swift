/// A Government Security Classification marking, ordered by sensitivity.
public enum Marking: String, Sendable, CaseIterable, Codable, Comparable {
    case official = "OFFICIAL"
    case officialSensitive = "OFFICIAL-SENSITIVE"
    case secret = "SECRET"

    public var level: Int {
        switch self {
        case .official: 0
        case .officialSensitive: 1
        case .secret: 2
        }
    }

    public static func < (a: Marking, b: Marking) -> Bool { a.level < b.level }
}
