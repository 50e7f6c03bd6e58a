/// One entry of the audit log (PROTOCOL.md section 8): who consulted or disclosed what,
/// and when. Data Protection Act 2018 section 62 asks for exactly this of every read.
public struct AuditEntry: Sendable, Equatable {
    /// Its position in the audit log; 0 until it is stored.
    public var seq: Int64
    public var at: Timestamp
    public var uid: UInt32
    public var pid: Int32
    /// The role the request was allowed by (nil for the daemon's own work, like retention).
    public var role: Role?
    public var op: String
    /// What was read or done: `call_ids`, `filter`, `result`, … (op-specific members).
    public var detail: [String: JSONValue]
    /// Why the reader read (DPA 2018 section 62(2)), as it said. Stored sealed, in the detail
    /// member ``sealedReasonKey`` (added as the entry is stored, taken out as it is read
    /// back); read back only with the key it was sealed under.
    public var reason: String?
    /// Why the entry's sealed reason could not be read, if it could not.
    public var reasonUnreadable: ReasonUnreadable?

    public enum ReasonUnreadable: String, Sendable, Equatable {
        /// Sealed under a key the key file no longer holds.
        case keyRetired = "key_retired"
        /// Under a key it holds, yet it does not open for this entry: moved from another
        /// entry, or changed.
        case altered
    }

    /// The detail member holding the sealed reason (base64), chained with the rest.
    public static let sealedReasonKey = "reason_sealed"

    public init(
        seq: Int64 = 0, at: Timestamp, uid: UInt32, pid: Int32, role: Role?, op: String, detail: [String: JSONValue],
        reason: String? = nil, reasonUnreadable: ReasonUnreadable? = nil
    ) {
        self.seq = seq
        self.at = at
        self.uid = uid
        self.pid = pid
        self.role = role
        self.op = op
        self.detail = detail
        self.reason = reason
        self.reasonUnreadable = reasonUnreadable
    }

    /// An entry for `peer`'s request, at the role that allowed it.
    public init(peer: Peer, op: String, at: Timestamp, detail: [String: JSONValue], reason: String? = nil) {
        self.init(at: at, uid: peer.uid, pid: peer.pid, role: peer.primaryRole, op: op, detail: detail, reason: reason)
    }

    /// The context a reason is sealed for: its entry, so that it cannot be moved to another.
    public static func reasonContext(seq: Int64) -> String { "audit/\(seq)/reason" }

    /// As `audit.list` answers it: the fixed members, then the op's own.
    public var json: JSONValue {
        var m = detail
        if let reason { m["reason"] = .string(reason) }
        if let reasonUnreadable { m["reason_unreadable"] = .string(reasonUnreadable.rawValue) }
        m["seq"] = .int(seq)
        m["at"] = .string(at.rfc3339)
        m["uid"] = .int(Int64(uid))
        m["pid"] = .int(Int64(pid))
        m["role"] = .optional(role?.rawValue)
        m["op"] = .string(op)
        return .object(m)
    }

    /// The detail as stored and chained: canonical JSON (sorted keys).
    public var detailText: String { JSONWriter.string(.object(detail)) }
}

/// The ops that write audit entries besides the reads of PROTOCOL.md section 8.
public enum AuditOp {
    /// A supervisor lowered a call's marking (written with the event that did it).
    public static let markingLowered = "marking.lower"
    /// Retention removed the content of ended calls.
    public static let retentionPurge = "retention.purge"
    /// An upgrade sealed what an older version had written in the clear and chained the event
    /// log again from there (`v6-sealed-coordinates`).
    public static let chainReseal = "chain.reseal"
    /// An upgrade laid the keyed chain over the log an older version had written
    /// (`v7-keyed-chain`): where both logs stood then, and the key's id.
    public static let chainKeyed = "chain.keyed"
}

extension AuditEntry: WireValue {
    /// The members every entry has; the rest are the op's own ``detail``.
    static let fixedMembers: Set<String> = ["seq", "at", "uid", "pid", "role", "op", "reason", "reason_unreadable"]

    /// An entry as `audit.list` answers it.
    public init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        let role = try r.optionalString("role")
        let unreadable = try r.optionalString("reason_unreadable")
        self.init(
            seq: try r.int("seq"), at: try r.time("at"), uid: UInt32(truncatingIfNeeded: try r.int("uid")),
            pid: Int32(truncatingIfNeeded: try r.optionalInt("pid") ?? 0),
            role: try role.map { (s: String) throws(AnswerError) -> Role in
                guard let role = Role(rawValue: s) else { throw AnswerError(r.field("role"), "as \"\(s)\", not a role") }
                return role
            },
            op: try r.string("op"), detail: r.members.filter { !Self.fixedMembers.contains($0.key) },
            reason: try r.optionalString("reason"),
            reasonUnreadable: try unreadable.map { (s: String) throws(AnswerError) -> ReasonUnreadable in
                ReasonUnreadable(rawValue: s) ?? .altered
            })
    }

    // What an entry's detail says, by the members the daemon writes (PROTOCOL-NOTES.md,
    // "Audit entries"); nil where this entry does not say it.

    /// The calls read, refused or changed.
    public var callIDs: [String]? { detail["call_ids"]?.arrayValue.map { $0.compactMap(\.stringValue) } }
    /// `call.get`'s page of notes: after this seq (nil from the first)…
    public var notesAfter: Int64? { detail["notes_after"]?.intValue }
    /// …up to this one (nil to the last).
    public var notesNext: Int64? { detail["notes_next"]?.intValue }
    /// The filter of a list or an export, as it was asked.
    public var filter: JSONValue? { detail["filter"].flatMap { $0 == .null ? nil : $0 } }
    public var alertID: String? { detail["alert_id"]?.stringValue }
    /// `ok`, or the error code a refused or missed read was answered with.
    public var result: String? { detail["result"]?.stringValue }
    /// A lowered marking: from and to.
    public var markingChange: (from: String, to: String)? {
        guard op == AuditOp.markingLowered else { return nil }
        return (detail["from"]?.stringValue ?? "?", detail["to"]?.stringValue ?? "?")
    }
    /// A `verify`'s verdict.
    public var verifiedIntact: Bool? { detail["ok"]?.boolValue }
}
