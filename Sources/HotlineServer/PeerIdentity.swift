#if canImport(Glibc)
    import Glibc
#endif
import HotlineCore
import NIOCore

/// Who is on the other end of a Unix socket, from the kernel (SO_PEERCRED), never from what
/// the client says; and which roles the configuration gives that uid and its groups.
enum PeerIdentity {
    /// `struct ucred` from <sys/socket.h> (only visible to C with _GNU_SOURCE): same layout.
    struct Credentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// SO_PEERCRED on Linux.
    static let soPeerCred: CInt = 17

    static func credentials(of channel: any Channel) -> EventLoopFuture<Credentials> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        return provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(soPeerCred))
    }

    /// The roles `uid` holds: uid 0 holds every role; otherwise the user or one of its groups
    /// (primary or supplementary) must be listed for the role.
    static func roles(uid: UInt32, gid: UInt32, configuration: Configuration.Roles) -> Set<Role> {
        if uid == 0 { return Set(Role.allCases) }
        let user = userName(uid)
        let groups = groupIDs(uid: uid, gid: gid)
        var roles: Set<Role> = []
        for role in Role.allCases {
            let members = configuration.members(of: role)
            let userMatch = members.users.contains { $0 == String(uid) || $0 == user }
            let groupMatch = members.groups.contains { entry in
                if let number = UInt32(entry) { return groups.contains(number) }
                return groupID(entry).map(groups.contains) ?? false
            }
            if userMatch || groupMatch { roles.insert(role) }
        }
        return roles
    }

    static func userName(_ uid: UInt32) -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &pwd, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return String(cString: pwd.pw_name)
    }

    static func groupID(_ name: String) -> UInt32? {
        var grp = group()
        var result: UnsafeMutablePointer<group>? = nil
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(name, &grp, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return grp.gr_gid
    }

    /// The uid's primary group, the peer's gid, and every supplementary group of the user.
    static func groupIDs(uid: UInt32, gid: UInt32) -> Set<UInt32> {
        var groups: Set<UInt32> = [gid]
        guard let name = userName(uid) else { return groups }
        var count: Int32 = 64
        var list = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &list, &count) == -1 {
            list = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(name, gid, &list, &count)
        }
        for g in list.prefix(Int(max(count, 0))) { groups.insert(g) }
        return groups
    }
}
