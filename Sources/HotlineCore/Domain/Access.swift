/// Who may make each request (PROTOCOL.md section 8), declared here once and used by every
/// entry point: the Dispatcher, the connection handler (subscriptions, writes) and the
/// reasons a read needs (``ReasonsRequired``).
public struct Access: Sendable, Equatable {
    /// The roles that may make the request. Empty: anyone, even a peer with no role
    /// (`hello`, `ping`).
    public let roles: Set<Role>
    /// Of ``roles``, those that reach every call; the others reach only the calls they
    /// started (a handler's `call.get` and `calls.list`).
    public let everyCall: Set<Role>
    /// What a peer with some role, but none of these, is told.
    public let refusal: String
    /// Whether a refusal is audited (the reads of section 8 and `alert.ack`) or only answered.
    public let auditsRefusals: Bool

    init(_ roles: Set<Role>, everyCall: Set<Role>? = nil, refusal: String = "", auditsRefusals: Bool = false) {
        self.roles = roles
        self.everyCall = everyCall ?? roles
        self.refusal = refusal
        self.auditsRefusals = auditsRefusals
    }

    /// What `roles` may do with the request.
    public enum Decision: Sendable, Equatable {
        /// Allowed on every call (or the request concerns no call).
        case everyCall
        /// Allowed only on the calls the peer started.
        case ownCalls
        /// Refused, with the answer to give.
        case refused(HotlineError)
    }

    public func decide(_ held: Set<Role>) -> Decision {
        if roles.isEmpty { return .everyCall }
        guard !held.isEmpty else { return .refused(Self.noRole) }
        guard !held.isDisjoint(with: roles) else { return .refused(HotlineError(.forbidden, refusal)) }
        return held.isDisjoint(with: everyCall) ? .ownCalls : .everyCall
    }

    /// The roles a read is allowed by, for a peer holding `held`: those of them that reach
    /// every call, and on a call the peer started (`ownCall`), the role that reaches its own
    /// calls (whoever took a call reads it as its handler, whatever else it is). A read
    /// needs a reason when every one of them is listed for it in `reasons_required`.
    public func allowing(_ held: Set<Role>, ownCall: Bool = false) -> Set<Role> {
        held.intersection(everyCall).union(ownCall ? roles.subtracting(everyCall) : [])
    }

    /// The answer to a peer with no role at all.
    public static let noRole = HotlineError(
        .forbidden, "Your user has no hotlined role; ask an administrator to add you to a hotline group.")

    public static let open = Access([])
    public static let anyRole = Access(Set(Role.allCases))
    public static let writes = Access([.handler, .supervisor], refusal: "Only handlers and supervisors may write call events.")
    /// `call.get` and `calls.list`: a handler reads only the calls it started.
    public static let callReads = Access(Set(Role.allCases), everyCall: [.supervisor, .auditor])
    public static let auditList = Access([.auditor], refusal: "Only auditors may read the audit log.", auditsRefusals: true)
    public static let verify = Access([.auditor], refusal: "Only auditors may verify the log.", auditsRefusals: true)
    public static let export = Access(
        [.supervisor, .auditor], refusal: "Only supervisors and auditors may export.", auditsRefusals: true)
    public static let alertsSubscribe = Access([.supervisor], refusal: "Only supervisors may subscribe to alerts.")
    public static let alertAck = Access([.supervisor], refusal: "Only supervisors may acknowledge alerts.", auditsRefusals: true)

    /// Legal hold: putting a call on hold, releasing it, and listing the holds.
    public static let holds = Access(
        [.supervisor, .auditor], refusal: "Only supervisors and auditors may put calls on legal hold or release them.",
        auditsRefusals: true)
    public static let holdsList = Access(
        [.supervisor, .auditor], refusal: "Only supervisors and auditors may list the calls on legal hold.", auditsRefusals: true)

    /// Who may lower a call's marking with a `call.update` (raising it is any writer's).
    public static let lowerMarking: Set<Role> = [.supervisor]

    /// The rule for the op named `op`; nil for an op there is not.
    public static func of(_ op: String) -> Access? {
        switch op {
        case "hello", "ping": .open
        case "call.start", "call.update", "call.end": .writes
        case "call.get", "calls.list": .callReads
        case "stats": .anyRole
        case "audit.list": .auditList
        case "verify": .verify
        case "export": .export
        case "alerts.subscribe": .alertsSubscribe
        case "alert.ack": .alertAck
        case "call.hold", "call.release": .holds
        case "holds.list": .holdsList
        default: nil
        }
    }
}

extension Request {
    /// Who may make this request: the rule of its op (every request's op has one).
    public var access: Access {
        guard let rule = Access.of(op) else { preconditionFailure("no access rule for the op \(op)") }
        return rule
    }
}
