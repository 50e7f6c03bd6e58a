/// How often the daemon journals where both chains end (`chain_anchors:` in the
/// configuration): anchors published outside the database, before any rewrite, for
/// `hotlinectl verify --anchors` (docs/SECURITY.md). The heads are journalled once either
/// limit is reached and only when they moved; at start and at stop too.
public struct ChainAnchors: Sendable, Equatable, Codable {
    /// Journal the heads once the logs have grown by this many rows (events and audit entries).
    public var everyRows: Int
    /// Journal the heads at least this often (seconds) while anything was written.
    public var everySeconds: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case everyRows = "every_rows"
        case everySeconds = "every_seconds"
    }

    public init(everyRows: Int = 10_000, everySeconds: Int = 300) {
        self.everyRows = everyRows
        self.everySeconds = everySeconds
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ChainAnchors()
        everyRows = try c.decodeIfPresent(Int.self, forKey: .everyRows) ?? defaults.everyRows
        everySeconds = try c.decodeIfPresent(Int.self, forKey: .everySeconds) ?? defaults.everySeconds
    }

    /// Whether heads that moved by `rows` rows, `seconds` after the last published, are due.
    public func isDue(rows: Int64, seconds: Double) -> Bool {
        rows > 0 && (rows >= Int64(everyRows) || seconds >= Double(everySeconds))
    }
}
