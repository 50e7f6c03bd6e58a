/// Decoding that refuses keys it does not know, so that a misspelt setting is an error
/// that names it rather than a default silently used.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension Decoder {
    func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws {
        let known = Set(Keys.allCases.map(\.stringValue))
        let container = try container(keyedBy: AnyCodingKey.self)
        for key in container.allKeys where !known.contains(key.stringValue) {
            let expected = Keys.allCases.map(\.stringValue).sorted().joined(separator: ", ")
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: codingPath + [key],
                    debugDescription: "unknown key \"\(key.stringValue)\" (expected one of: \(expected))"
                )
            )
        }
    }
}

extension DecodingError {
    /// A dotted path (`routes.1.grade`) and a sentence, for configuration errors.
    public var pathAndReason: (path: String, reason: String) {
        func dotted(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch self {
        case .keyNotFound(let key, let ctx):
            return (dotted(ctx.codingPath + [key]), "is required but missing")
        case .typeMismatch(let type, let ctx):
            return (dotted(ctx.codingPath), "has the wrong type (expected \(Self.describe(type)))")
        case .valueNotFound(let type, let ctx):
            return (dotted(ctx.codingPath), "is empty (expected \(Self.describe(type)))")
        case .dataCorrupted(let ctx):
            return (dotted(ctx.codingPath), ctx.debugDescription)
        @unknown default:
            return ("", "\(self)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        default:
            // YAML decoders name their node kinds (Yams: Node.Sequence, Node.Scalar, Node.Mapping).
            let name = "\(type)"
            if name.contains("Array") || name.contains("Sequence") { return "a list" }
            if name.contains("Scalar") { return "a single value, not a list or mapping" }
            return "a mapping"
        }
    }
}
