/// Reads one JSON object of a request field by field, knowing where it is.
///
/// Every failure is an `invalid` ``HotlineError`` whose `field` is the dotted path of the
/// offending member. Members not in `allowed` are refused up front, so a misspelt
/// `anonymous_requested` can never be ignored silently.
public struct ObjectReader {
    public let path: String
    public let members: [String: JSONValue]

    public init(_ value: JSONValue, path: String, allowed: Set<String>) throws(HotlineError) {
        guard case .object(let members) = value else {
            throw .invalid(path, "\(Self.describe(path)) must be an object, not \(value.typeName).")
        }
        self.path = path
        self.members = members
        if let unknown = members.keys.filter({ !allowed.contains($0) }).sorted().first {
            let field = Self.join(path, unknown)
            throw .invalid(
                field,
                "Unknown field \"\(field)\"; expected one of: \(allowed.sorted().joined(separator: ", "))."
            )
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    static func describe(_ path: String) -> String { path.isEmpty ? "The request" : "\"\(path)\"" }

    public func field(_ key: String) -> String { Self.join(path, key) }

    /// The member, treating an explicit `null` as absent.
    public func value(_ key: String) -> JSONValue? {
        guard let v = members[key], v != .null else { return nil }
        return v
    }

    public func has(_ key: String) -> Bool { value(key) != nil }

    public func required<T>(_ key: String, _ read: (String) throws(HotlineError) -> T?) throws(HotlineError) -> T {
        guard let v = try read(key) else { throw .invalid(field(key), "\"\(field(key))\" is required.") }
        return v
    }

    public func string(_ key: String, maxLength: Int = 256, allowEmpty: Bool = false) throws(HotlineError) -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else {
            throw .invalid(field(key), "\"\(field(key))\" must be a string, not \(v.typeName).")
        }
        if !allowEmpty, s.isEmpty { throw .invalid(field(key), "\"\(field(key))\" must not be empty.") }
        if s.utf8.count > maxLength {
            throw .invalid(field(key), "\"\(field(key))\" is longer than \(maxLength) bytes.")
        }
        // Line breaks and tabs are text (a note from a Windows workstation has CR LF);
        // other control characters are not.
        if s.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\r" && $0 != "\t" }) {
            throw .invalid(field(key), "\"\(field(key))\" contains a control character.")
        }
        return s
    }

    public func bool(_ key: String) throws(HotlineError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else {
            throw .invalid(field(key), "\"\(field(key))\" must be true or false, not \(v.typeName).")
        }
        return b
    }

    public func number(_ key: String, in range: ClosedRange<Double>) throws(HotlineError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.doubleValue else {
            throw .invalid(field(key), "\"\(field(key))\" must be a number, not \(v.typeName).")
        }
        guard range.contains(d) else {
            throw .invalid(field(key), "\"\(field(key))\" must be between \(range.lowerBound) and \(range.upperBound).")
        }
        return d
    }

    public func integer(_ key: String, in range: ClosedRange<Int64>) throws(HotlineError) -> Int64? {
        guard let v = value(key) else { return nil }
        guard let i = v.intValue else {
            throw .invalid(field(key), "\"\(field(key))\" must be a whole number, not \(v.typeName).")
        }
        guard range.contains(i) else {
            throw .invalid(field(key), "\"\(field(key))\" must be between \(range.lowerBound) and \(range.upperBound).")
        }
        return i
    }

    /// A UUID, returned in lower case.
    public func uuid(_ key: String) throws(HotlineError) -> String? {
        guard let s = try string(key, maxLength: 64) else { return nil }
        guard let id = UUIDText.normalise(s) else {
            throw .invalid(field(key), "\"\(field(key))\" must be a UUID such as 6f1c2a8e-3b1d-4c2e-9a7f-0b3c4d5e6f70.")
        }
        return id
    }

    public func timestamp(_ key: String) throws(HotlineError) -> Timestamp? {
        guard let s = try string(key, maxLength: 64) else { return nil }
        do {
            return try Timestamp(rfc3339: s)
        } catch .missingZone {
            throw .invalid(field(key), "\"\(field(key))\" has no time zone; write it as 2026-11-24T19:02:11Z.")
        } catch {
            throw .invalid(field(key), "\"\(field(key))\" must be an RFC 3339 time such as 2026-11-24T19:02:11Z.")
        }
    }

    public func enumeration<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) throws(HotlineError) -> E?
    where E.RawValue == String {
        guard let s = try string(key, maxLength: 64) else { return nil }
        guard let e = E(rawValue: s) else {
            let options = E.allCases.map(\.rawValue).joined(separator: ", ")
            throw .invalid(field(key), "\"\(field(key))\" must be one of: \(options).")
        }
        return e
    }

    public func object(_ key: String, allowed: Set<String>) throws(HotlineError) -> ObjectReader? {
        guard let v = value(key) else { return nil }
        return try ObjectReader(v, path: field(key), allowed: allowed)
    }
}

/// UUIDs as text: `8-4-4-4-12` hexadecimal digits, lower case on return.
public enum UUIDText {
    public static func normalise(_ s: String) -> String? {
        let b = Array(s.utf8)
        guard b.count == 36 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(36)
        for (i, c) in b.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard c == UInt8(ascii: "-") else { return nil }
                out.append(c)
                continue
            }
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): out.append(c)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): out.append(c + 32)
            default: return nil
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A new random (version 4) UUID in lower case.
    public static func random() -> String {
        var g = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { b -> String in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-"
            + String(c[20..<32])
    }
}
