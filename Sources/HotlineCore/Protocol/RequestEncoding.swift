extension Request {
    /// The request as a client sends it (without `req`): the line ``RequestDecoder`` reads
    /// back as this same request. An update or end names no workstation or handler of its
    /// own: the decoder takes them from the connection's `hello`, so they are sent there.
    public var json: JSONValue {
        var m: [String: JSONValue] = ["op": .string(op)]
        switch self {
        case .hello(let hello):
            m["protocol"] = .int(hello.protocolVersion)
            m["workstation"] = hello.workstation.map(JSONValue.string)
            m["handler"] = hello.handler.map(JSONValue.string)
        case .ping, .stats, .alertsSubscribe:
            break
        case .alertAck(let alertID):
            m["alert_id"] = .string(alertID)
        case .write(.start(let e)):
            m["event_id"] = .string(e.eventID)
            var call = Self.identityMembers(e.identity)
            call["id"] = .string(e.callID)
            // An online report without a number is stored with "" and sent without one.
            call["dialled"] = e.dialled.isEmpty ? nil : .string(e.dialled)
            call["received_at"] = .string(e.receivedAt.rfc3339)
            call["answered_at"] = e.answeredAt.map { .string($0.rfc3339) }
            call["workstation"] = e.workstation.map(JSONValue.string)
            call["handler"] = e.handler.map(JSONValue.string)
            call["anonymous_requested"] = e.anonymousRequested.map(JSONValue.bool)
            if e.channel != .voice { call["channel"] = .string(e.channel.rawValue) }
            call["relay"] = e.relay?.json
            call["form_reference"] = e.formReference.map(JSONValue.string)
            m["call"] = .object(call)
        case .write(.update(let e)):
            m["event_id"] = .string(e.eventID)
            m["call_id"] = .string(e.callID)
            m["at"] = .string(e.at.rfc3339)
            let c = e.changes
            var set = Self.identityMembers(c.identity)
            set["category"] = c.category.map(JSONValue.string)
            set["location"] = c.location?.json
            if !c.flags.isEmpty { set["flags"] = .object(c.flags.mapValues(JSONValue.bool)) }
            set["grade"] = c.grade.map { .string($0.rawValue) }
            set["marking"] = c.marking.map { .string($0.rawValue) }
            set["anonymous_requested"] = c.anonymousRequested.map(JSONValue.bool)
            set["outcome"] = c.outcome.map(JSONValue.string)
            set["answered_at"] = c.answeredAt.map { .string($0.rfc3339) }
            set["relay"] = c.relay?.json
            if !set.isEmpty { m["set"] = .object(set) }
            m["note"] = e.note.map(JSONValue.string)
            m["reason"] = e.reason.map(JSONValue.string)
        case .write(.end(let e)):
            m["event_id"] = .string(e.eventID)
            m["call_id"] = .string(e.callID)
            m["ended_at"] = .string(e.endedAt.rfc3339)
            m["outcome"] = e.outcome.map(JSONValue.string)
        case .callGet(let callID, let notesAfter, _):
            m["call_id"] = .string(callID)
            m["notes_after"] = notesAfter.map(JSONValue.int)
        case .callsList(let q, _):
            m["from"] = .string(q.from.rfc3339)
            m["to"] = .string(q.to.rfc3339)
            m["route"] = q.route.map(JSONValue.string)
            m["limit"] = .int(Int64(q.limit))
            m["after_seq"] = q.afterSeq.map(JSONValue.int)
            m["channel"] = q.channel.map { .string($0.rawValue) }
        case .auditList(let from, let to, _):
            m["from"] = .string(from.rfc3339)
            m["to"] = .string(to.rfc3339)
        case .verify, .holdsList:
            break
        case .callHold(let callID, let reason), .callRelease(let callID, let reason):
            m["call_id"] = .string(callID)
            m["reason"] = .string(reason)
        case .export(let q, _):
            switch q.window {
            case .shift(let spec): m["shift"] = .string(spec)
            case .month(let month): m["month"] = .string(month)
            case .range(let from, let to):
                m["from"] = .string(from.rfc3339)
                m["to"] = .string(to.rfc3339)
            }
            m["limit"] = .int(Int64(q.limit))
            m["after_seq"] = q.afterSeq.map(JSONValue.int)
            if !q.handover { m["handover"] = false }
        }
        if let reason { m["reason"] = .string(reason) }
        return .object(m)
    }

    /// `cli` and `caller`, as a start's `call` and an update's `set` carry them.
    private static func identityMembers(_ identity: CallerIdentity) -> [String: JSONValue] {
        identity.json.objectValue ?? [:]
    }

    /// The same read asking again with `reason` (after the daemon answered that one is
    /// required); other requests are returned unchanged.
    public func with(reason: String?) -> Request {
        switch self {
        case .callGet(let id, let after, _): .callGet(callID: id, notesAfter: after, reason: reason)
        case .callsList(let q, _): .callsList(q, reason: reason)
        case .auditList(let from, let to, _): .auditList(from: from, to: to, reason: reason)
        case .verify: .verify(reason: reason)
        case .export(let q, _): .export(q, reason: reason)
        case .holdsList: .holdsList(reason: reason)
        case .callHold, .callRelease,
            .hello, .ping, .write, .stats, .alertsSubscribe, .alertAck:
            self
        }
    }
}
