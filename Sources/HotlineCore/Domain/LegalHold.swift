/// A legal hold on a call (issue 16): while it holds, retention never purges the call.
/// Put on and released by a supervisor or auditor with a reason, each audited.
public struct LegalHold: WireValue {
    public var callID: String
    public var heldAt: Timestamp
    /// The uid that put it on hold, and the role it did so as.
    public var heldBy: UInt32
    public var role: Role?
    /// Why (sealed at rest); nil when it cannot be opened with the key file's keys.
    public var reason: String?
    /// The audit entry that records it.
    public var auditSeq: Int64
    /// What the list shows of the call beside the hold (no identifying field).
    public var route: String?
    public var receivedAt: Timestamp?

    public init(
        callID: String, heldAt: Timestamp, heldBy: UInt32, role: Role?, reason: String?, auditSeq: Int64, route: String? = nil,
        receivedAt: Timestamp? = nil
    ) {
        self.callID = callID
        self.heldAt = heldAt
        self.heldBy = heldBy
        self.role = role
        self.reason = reason
        self.auditSeq = auditSeq
        self.route = route
        self.receivedAt = receivedAt
    }

    public var json: JSONValue {
        [
            "call_id": .string(callID), "held_at": .string(heldAt.rfc3339), "held_by": .int(Int64(heldBy)),
            "role": .optional(role?.rawValue), "reason": .optional(reason), "audit_seq": .int(auditSeq),
            "route": .optional(route), "received_at": .optional(receivedAt?.rfc3339),
        ]
    }

    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        self.init(
            callID: try r.string("call_id"), heldAt: try r.time("held_at"), heldBy: UInt32(truncatingIfNeeded: try r.int("held_by")),
            role: try r.optionalString("role").flatMap(Role.init(rawValue:)), reason: try r.optionalString("reason"),
            auditSeq: try r.int("audit_seq"), route: try r.optionalString("route"), receivedAt: try r.optionalTime("received_at"))
    }
}

/// `holds.list`'s answer.
public struct HoldsListAnswer: WireValue {
    public var holds: [LegalHold]

    public init(holds: [LegalHold]) { self.holds = holds }

    public var json: JSONValue { ["holds": .array(holds.map(\.json))] }

    public init(json: JSONValue) throws(AnswerError) {
        self.init(holds: try AnswerReader(json).values("holds"))
    }
}

extension AuditOp {
    /// A write changed a call's grade or marking (raising or lowering; a lowered marking
    /// is ``markingLowered``): written with the event that did it, its reason sealed.
    public static let reclassified = "call.reclassify"
    /// A call put on legal hold, and released from it (the reason sealed in the entry).
    public static let hold = "call.hold"
    public static let release = "call.release"
}
