/// What a peer may do (PROTOCOL.md section 8).
public enum Role: String, Sendable, CaseIterable, Codable, Comparable {
    case handler
    case supervisor
    case auditor

    public static func < (a: Role, b: Role) -> Bool { a.rawValue < b.rawValue }
}

/// Who is on the other end of a connection, as the kernel tells it.
public struct Peer: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    public var roles: Set<Role>

    public init(uid: UInt32, gid: UInt32, pid: Int32, roles: Set<Role>) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.roles = roles
    }

    public func has(_ role: Role) -> Bool { roles.contains(role) }

    /// The single role named in responses and audit entries: the strongest one held.
    public var primaryRole: Role? {
        if roles.contains(.supervisor) { return .supervisor }
        if roles.contains(.auditor) { return .auditor }
        if roles.contains(.handler) { return .handler }
        return nil
    }
}
