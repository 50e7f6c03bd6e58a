/// A route's anonymity policy (PROTOCOL.md section 6).
public enum Anonymity: String, Sendable, CaseIterable, Codable {
    /// The caller may ask to stay anonymous; their identity is then erased.
    case allowed
    /// The caller's line identity is kept (999/112); the wish is recorded.
    case forbidden
    /// Identifying fields are never stored on this route.
    case always
}
