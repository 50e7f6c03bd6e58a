/// Why an answer from hotlined could not be read: which member was missing or of the wrong
/// type, by its dotted path.
public struct AnswerError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var problem: String

    public init(_ field: String, _ problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String {
        field.isEmpty ? "hotlined's answer \(problem)" : "hotlined's answer has \"\(field)\" \(problem)"
    }
}

/// A value of the wire protocol: an answer, a push or a part of one, encoded and decoded
/// here and nowhere else.
public protocol WireValue: Sendable, Equatable {
    /// As the daemon sends it.
    var json: JSONValue { get }
    /// As a client reads it; members it does not know are ignored (a newer daemon may add
    /// some), a missing or mistyped one it needs is an ``AnswerError`` naming it.
    init(json: JSONValue) throws(AnswerError)
}

/// Reads the members of an answer, knowing where it is. The client's counterpart of
/// ``ObjectReader``, but lenient where that is strict: unknown members are ignored, and an
/// explicit `null` is the same as an absent member.
public struct AnswerReader {
    public let path: String
    public let members: [String: JSONValue]

    public init(_ value: JSONValue, path: String = "") throws(AnswerError) {
        guard case .object(let members) = value else { throw AnswerError(path, "is not an object but \(value.typeName)") }
        self.path = path
        self.members = members
    }

    public func field(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    public func value(_ key: String) -> JSONValue? {
        guard let v = members[key], v != .null else { return nil }
        return v
    }

    private func missing(_ key: String) -> AnswerError { AnswerError(field(key), "missing") }

    private func mistyped(_ key: String, _ expected: String, _ v: JSONValue) -> AnswerError {
        AnswerError(field(key), "as \(v.typeName), not \(expected)")
    }

    public func string(_ key: String) throws(AnswerError) -> String {
        guard let s = try optionalString(key) else { throw missing(key) }
        return s
    }

    public func optionalString(_ key: String) throws(AnswerError) -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else { throw mistyped(key, "a string", v) }
        return s
    }

    public func int(_ key: String) throws(AnswerError) -> Int64 {
        guard let i = try optionalInt(key) else { throw missing(key) }
        return i
    }

    public func optionalInt(_ key: String) throws(AnswerError) -> Int64? {
        guard let v = value(key) else { return nil }
        guard let i = v.intValue else { throw mistyped(key, "an integer", v) }
        return i
    }

    public func bool(_ key: String) throws(AnswerError) -> Bool {
        guard let b = try optionalBool(key) else { throw missing(key) }
        return b
    }

    public func optionalBool(_ key: String) throws(AnswerError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw mistyped(key, "true or false", v) }
        return b
    }

    public func optionalDouble(_ key: String) throws(AnswerError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.doubleValue else { throw mistyped(key, "a number", v) }
        return d
    }

    public func time(_ key: String) throws(AnswerError) -> Timestamp {
        guard let t = try optionalTime(key) else { throw missing(key) }
        return t
    }

    public func optionalTime(_ key: String) throws(AnswerError) -> Timestamp? {
        guard let s = try optionalString(key) else { return nil }
        do {
            return try Timestamp(rfc3339: s)
        } catch {
            throw AnswerError(field(key), "as \"\(s)\", not an RFC 3339 time")
        }
    }

    /// A raw string decoded by `make` (an enumeration's raw value, say).
    public func decoded<T>(_ key: String, _ what: String, _ make: (String) -> T?) throws(AnswerError) -> T {
        let s = try string(key)
        guard let v = make(s) else { throw AnswerError(field(key), "as \"\(s)\", not \(what)") }
        return v
    }

    /// A list whose elements are read by `element`, each told its own path (`calls.3`).
    public func array<T>(
        _ key: String, required: Bool = true, _ element: (JSONValue, String) throws(AnswerError) -> T
    ) throws(AnswerError) -> [T] {
        guard let v = value(key) else {
            if required { throw missing(key) }
            return []
        }
        guard case .array(let items) = v else { throw mistyped(key, "a list", v) }
        var out: [T] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() { out.append(try element(item, field(key) + ".\(i)")) }
        return out
    }

    public func strings(_ key: String, required: Bool = true) throws(AnswerError) -> [String] {
        try array(key, required: required) { v, path throws(AnswerError) in
            guard case .string(let s) = v else { throw AnswerError(path, "as \(v.typeName), not a string") }
            return s
        }
    }

    /// A list of wire values.
    public func values<T: WireValue>(_ key: String, required: Bool = true) throws(AnswerError) -> [T] {
        try array(key, required: required) { v, path throws(AnswerError) in try T.within(v, at: path) }
    }

    /// A nested wire value, or nil when absent.
    public func optionalValue<T: WireValue>(_ key: String) throws(AnswerError) -> T? {
        guard let v = value(key) else { return nil }
        return try T.within(v, at: field(key))
    }

    public func value<T: WireValue>(_ key: String) throws(AnswerError) -> T {
        guard let v: T = try optionalValue(key) else { throw missing(key) }
        return v
    }
}

extension WireValue {
    /// Decodes a value found at `path` of a larger answer, so that its errors name the
    /// whole path (`call.notes.2.at`).
    static func within(_ json: JSONValue, at path: String) throws(AnswerError) -> Self {
        do {
            return try Self(json: json)
        } catch {
            let inner = error.field
            throw AnswerError(inner.isEmpty ? path : path + "." + inner, error.problem)
        }
    }
}
