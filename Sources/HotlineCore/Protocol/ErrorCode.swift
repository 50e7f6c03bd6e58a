/// The error codes of the workstation protocol (PROTOCOL.md section 2).
public enum ErrorCode: String, Sendable, CaseIterable, Codable {
    case badJSON = "bad_json"
    case lineTooLong = "line_too_long"
    case unknownOp = "unknown_op"
    case invalid
    case unsupportedProtocol = "unsupported_protocol"
    case forbidden
    case notFound = "not_found"
    case conflict
    case storage
    case unavailable
}
