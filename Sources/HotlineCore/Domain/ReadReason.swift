/// The justification of a read (Data Protection Act 2018 section 62(2)): the five reads
/// take a `reason`, kept sealed in their audit entry, and ``ReasonsRequired`` says which
/// roles must give one.
public enum ReadReason {
    /// A reason longer than this many bytes (UTF-8) is refused: it is a sentence, not a file.
    public static let maxBytes = 1000

    /// The ops that take a reason: every read of PROTOCOL.md section 8.
    public static let reads: [String] = ["call.get", "calls.list", "audit.list", "verify", "export"]

    /// The `reason` of a read request, if it gave one (`null` is none): a string with
    /// something in it besides spaces, of at most ``maxBytes`` bytes, without control
    /// characters (line breaks and tabs aside) or the marks that reorder text on screen: an
    /// auditor reads it in a terminal, and it must show what was written.
    public static func decode(_ r: ObjectReader) throws(HotlineError) -> String? {
        guard let text = try r.string("reason", maxLength: maxBytes, allowEmpty: true) else { return nil }
        guard text.unicodeScalars.contains(where: { !$0.properties.isWhitespace }) else {
            throw .invalid(r.field("reason"), "\"\(r.field("reason"))\" is blank; say why you read, or leave it out.")
        }
        if let bad = text.unicodeScalars.first(where: isHidden) {
            let code = String(bad.value, radix: 16, uppercase: true)
            throw .invalid(
                r.field("reason"),
                "\"\(r.field("reason"))\" contains U+\(String(repeating: "0", count: max(0, 4 - code.count)) + code), a control or direction character."
            )
        }
        return text
    }

    /// DEL, the C1 controls (U+0080-U+009F, some of which terminals obey) and the
    /// bidirectional embeddings, overrides and isolates, which make text read otherwise
    /// than it is stored.
    static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x7F...0x9F, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}

/// Which roles must give a reason for which reads (`reasons_required:` in the
/// configuration). A read needs one when every role the reader holds that allows it is
/// listed for its op. Whoever took a call reads it as its handler (the server adds handler
/// to the allowing roles), so a supervisor reading a call it took needs no reason unless
/// handlers must give one too.
public struct ReasonsRequired: Sendable, Equatable, Codable {
    public var ops: [Role: Set<String>]

    public init(_ ops: [Role: Set<String>] = [:]) { self.ops = ops }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        var ops: [Role: Set<String>] = [:]
        for key in c.allKeys {
            guard let role = Role(rawValue: key.stringValue) else {
                let expected = Role.allCases.map(\.rawValue).joined(separator: ", ")
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: c.codingPath + [key],
                        debugDescription: "unknown role \"\(key.stringValue)\" (expected one of: \(expected))"))
            }
            let listed = try c.decode([String].self, forKey: key)
            for (i, op) in listed.enumerated() where !ReadReason.reads.contains(op) {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: c.codingPath + [key, AnyCodingKey(intValue: i)!],
                        debugDescription:
                            "\"\(op)\" is not a read that takes a reason (expected one of: \(ReadReason.reads.joined(separator: ", ")))"
                    ))
            }
            ops[role] = Set(listed)
        }
        self.ops = ops
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        for (role, list) in ops.sorted(by: { $0.key < $1.key }) {
            try c.encode(list.sorted(), forKey: AnyCodingKey(stringValue: role.rawValue))
        }
    }

    /// Whether a read `op` allowed by the roles `allowing` (those the reader holds that
    /// permit this read) needs a reason.
    public func isRequired(op: String, allowedBy allowing: Set<Role>) -> Bool {
        !allowing.isEmpty && allowing.allSatisfy { ops[$0]?.contains(op) == true }
    }

    /// The `invalid` answer to a read that needed a reason and gave none.
    public static func missing(op: String, allowedBy allowing: Set<Role>) -> HotlineError {
        let roles = allowing.sorted().map(\.rawValue).joined(separator: " and ")
        return HotlineError(
            .invalid,
            "\"reason\" is required: as \(roles) you must say why you \(op == "verify" ? "verify the log" : "read this") (\(op)); it is kept in the audit log.",
            field: "reason")
    }
}
