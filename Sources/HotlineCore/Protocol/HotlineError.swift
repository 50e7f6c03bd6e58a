/// An error as the protocol answers it: a code, a sentence a person can act on, and the
/// dotted path of the field at fault.
///
/// Made where the fault is found and carried unchanged to the wire.
public struct HotlineError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var field: String?

    public init(_ code: ErrorCode, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// The answer to anything that arrives while the daemon is stopping.
    public static let shuttingDown = HotlineError(.unavailable, "The daemon is shutting down; send it again shortly.")

    public static func invalid(_ field: String, _ message: String) -> HotlineError {
        HotlineError(.invalid, message, field: field)
    }

    public var description: String {
        if let field { return "\(code.rawValue): \(message) (field \(field))" }
        return "\(code.rawValue): \(message)"
    }

    /// The `error` object of a failure response.
    public var json: JSONValue {
        var members: [String: JSONValue] = ["code": .string(code.rawValue), "message": .string(message)]
        if let field { members["field"] = .string(field) }
        return .object(members)
    }
}
