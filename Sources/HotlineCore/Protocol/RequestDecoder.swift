/// Turns one request line into a validated ``Request``, or a ``HotlineError`` that names
/// the field at fault (PROTOCOL.md sections 2-5 and 9).
public struct RequestDecoder: Sendable {
    /// The outcomes `call.end` accepts.
    public var outcomes: Set<String>
    /// Defaults from `hello` for events that do not name their workstation or handler.
    public var workstation: String?
    public var handler: String?

    public static let supportedProtocol: Int64 = 1
    /// `silent` and `pressed_55`: a 999 caller who could not speak, and who pressed 55 when
    /// the Silent Solution asked them to (PROTOCOL-NOTES.md).
    public static let flags: Set<String> = ["threat_to_life", "vulnerable_person", "silent", "pressed_55"]
    /// The longest `reason` a write takes (why a grade or marking was changed).
    static let maxReasonBytes = 1024
    static let maxNoteBytes = 16384
    static let maxTextBytes = 4096

    public init(outcomes: Set<String>, workstation: String? = nil, handler: String? = nil) {
        self.outcomes = outcomes
        self.workstation = workstation
        self.handler = handler
    }

    /// A parsed line: the `req` to echo (when one could be read) and the request or its error.
    public struct Decoded: Sendable {
        public var req: JSONValue?
        public var op: String?
        public var result: Result<Request, HotlineError>
    }

    /// Decodes one line (without its LF; a trailing CR is tolerated).
    public func decode<Bytes: Collection>(line: Bytes) -> Decoded where Bytes.Element == UInt8 {
        let value: JSONValue
        do {
            value = try JSONParser.parse(line)
        } catch {
            return Decoded(req: nil, op: nil, result: .failure(HotlineError(.badJSON, "The line is not valid JSON: \(error.message).")))
        }
        return decode(value)
    }

    public func decode(_ value: JSONValue) -> Decoded {
        guard case .object(let members) = value else {
            return Decoded(
                req: nil, op: nil,
                result: .failure(HotlineError(.badJSON, "The line must be one JSON object, not \(value.typeName)."))
            )
        }
        var req: JSONValue? = nil
        if let r = members["req"] {
            switch r {
            case .string, .int, .double: req = r
            case .null: req = nil
            default:
                return Decoded(req: nil, op: nil, result: .failure(.invalid("req", "\"req\" must be a string or a number.")))
            }
        }
        guard let opValue = members["op"] else {
            return Decoded(req: req, op: nil, result: .failure(.invalid("op", "\"op\" is required.")))
        }
        guard case .string(let op) = opValue else {
            return Decoded(req: req, op: nil, result: .failure(.invalid("op", "\"op\" must be a string.")))
        }
        do {
            return Decoded(req: req, op: op, result: .success(try decode(op: op, value)))
        } catch {
            return Decoded(req: req, op: op, result: .failure(error))
        }
    }

    private static let envelope: Set<String> = ["op", "req"]

    private func decode(op: String, _ value: JSONValue) throws(HotlineError) -> Request {
        func reader(_ keys: Set<String>) throws(HotlineError) -> ObjectReader {
            try ObjectReader(value, path: "", allowed: keys.union(Self.envelope))
        }
        switch op {
        case "hello":
            let r = try reader(["protocol", "workstation", "handler"])
            let version = try r.required("protocol") { (k) throws(HotlineError) in try r.integer(k, in: 0...Int64(Int32.max)) }
            guard version == Self.supportedProtocol else {
                throw HotlineError(
                    .unsupportedProtocol,
                    "This daemon speaks protocol version \(Self.supportedProtocol), not \(version).",
                    field: "protocol"
                )
            }
            return .hello(
                .init(
                    protocolVersion: version, workstation: try r.string("workstation", maxLength: 64),
                    handler: try r.string("handler", maxLength: 64)))
        case "ping":
            _ = try reader([])
            return .ping
        case "stats":
            _ = try reader([])
            return .stats
        case "alerts.subscribe":
            _ = try reader([])
            return .alertsSubscribe
        case "alert.ack":
            let r = try reader(["alert_id"])
            return .alertAck(alertID: try r.required("alert_id", r.uuid))
        case "call.start":
            return .write(.start(try decodeStart(try reader(["event_id", "call"]))))
        case "call.update":
            return .write(.update(try decodeUpdate(try reader(["event_id", "call_id", "at", "set", "note", "reason"]))))
        case "call.end":
            return .write(.end(try decodeEnd(try reader(["event_id", "call_id", "ended_at", "outcome"]))))
        case "audit.list":
            let r = try reader(["from", "to", "reason"])
            let from = try r.required("from", r.timestamp)
            let to = try r.required("to", r.timestamp)
            guard from <= to else { throw .invalid("to", "\"to\" must not be before \"from\".") }
            return .auditList(from: from, to: to, reason: try ReadReason.decode(r))
        case "verify":
            let r = try reader(["reason"])
            return .verify(reason: try ReadReason.decode(r))
        case "export":
            let r = try reader(["shift", "month", "from", "to", "after_seq", "limit", "reason", "handover"])
            let shift = try r.string("shift", maxLength: 80)
            let month = try r.string("month", maxLength: 7)
            let from = try r.timestamp("from")
            let to = try r.timestamp("to")
            let window: ExportQuery.Window
            if let month {
                guard shift == nil, from == nil, to == nil else {
                    throw .invalid("month", "Give \"month\", \"shift\", or \"from\" and \"to\": one of them.")
                }
                guard ShiftCalendar.month(month) != nil else {
                    throw .invalid("month", "\"month\" must be a month as YYYY-MM, such as 2026-11.")
                }
                window = .month(month)
            } else {
                switch (shift, from, to) {
                case (let shift?, nil, nil):
                    window = .shift(shift)
                case (nil, let from?, let to?):
                    guard from <= to else { throw .invalid("to", "\"to\" must not be before \"from\".") }
                    window = .range(from: from, to: to)
                case (_?, _, _):
                    throw .invalid("shift", "Give either \"shift\" or \"from\" and \"to\", not both.")
                case (nil, nil, _):
                    throw .invalid("from", "Give \"shift\" (previous, current or NAME:YYYY-MM-DD), or \"from\" and \"to\".")
                case (nil, _, nil):
                    throw .invalid("to", "\"to\" is required with \"from\".")
                }
            }
            let limit = try r.integer("limit", in: 1...Int64(ExportQuery.maxLimit)) ?? Int64(ExportQuery.defaultLimit)
            return .export(
                ExportQuery(
                    window: window, afterSeq: try r.integer("after_seq", in: 0...Int64.max), limit: Int(limit),
                    handover: try r.bool("handover") ?? true),
                reason: try ReadReason.decode(r))
        case "call.hold", "call.release":
            let r = try reader(["call_id", "reason"])
            let callID = try r.required("call_id", r.uuid)
            let reason = try r.required("reason") { (k) throws(HotlineError) in try r.string(k, maxLength: Self.maxReasonBytes) }
            guard !reason.allSatisfy(\.isWhitespace) else {
                throw .invalid("reason", "\"reason\" must say why, not be blank.")
            }
            return op == "call.hold" ? .callHold(callID: callID, reason: reason) : .callRelease(callID: callID, reason: reason)
        case "holds.list":
            let r = try reader(["reason"])
            return .holdsList(reason: try ReadReason.decode(r))
        case "call.get":
            let r = try reader(["call_id", "notes_after", "reason"])
            let callID = try r.required("call_id", r.uuid)
            let notesAfter: Int64?
            do {
                notesAfter = try r.integer("notes_after", in: 0...Int64.max)
            } catch {
                throw .invalid(
                    "notes_after",
                    "\"notes_after\" must be the \"notes_next\" of an earlier call.get answer: a whole number, 0 or more.")
            }
            return .callGet(callID: callID, notesAfter: notesAfter, reason: try ReadReason.decode(r))
        case "calls.list":
            let r = try reader(["from", "to", "route", "limit", "after_seq", "reason", "channel"])
            let from = try r.required("from", r.timestamp)
            let to = try r.required("to", r.timestamp)
            guard from <= to else { throw .invalid("to", "\"to\" must not be before \"from\".") }
            let limit = try r.integer("limit", in: 1...Int64(CallsQuery.maxLimit)) ?? Int64(CallsQuery.defaultLimit)
            return .callsList(
                CallsQuery(
                    from: from, to: to, route: try r.string("route", maxLength: 64), limit: Int(limit),
                    afterSeq: try r.integer("after_seq", in: 0...Int64.max), channel: try r.enumeration("channel", CallChannel.self)
                ),
                reason: try ReadReason.decode(r)
            )
        default:
            throw HotlineError(.unknownOp, "There is no op \"\(op)\".", field: "op")
        }
    }

    private func decodeStart(_ r: ObjectReader) throws(HotlineError) -> CallStart {
        let eventID = try r.required("event_id", r.uuid)
        guard let callValue = r.value("call") else { throw .invalid("call", "\"call\" is required.") }
        let c = try ObjectReader(
            callValue, path: "call",
            allowed: [
                "id", "dialled", "received_at", "answered_at", "workstation", "handler", "cli", "caller",
                "anonymous_requested", "channel", "relay", "form_reference",
            ]
        )
        let callID = try c.required("id", c.uuid)
        let channel = try c.enumeration("channel", CallChannel.self) ?? .voice
        // An online report comes from a form: it may name no number (stored as "").
        var rawDialled =
            channel.mayOmitNumber
            ? try c.string("dialled", maxLength: 64)
            : try c.required("dialled") { (k) throws(HotlineError) in try c.string(k, maxLength: 64) }
        if channel == .textRelay { rawDialled = rawDialled.map(DialledNumber.droppingRelayPrefix) }
        var dialled = ""
        do {
            if let rawDialled { dialled = try DialledNumber.normalise(rawDialled) }
        } catch .notDigits(let ch) {
            throw .invalid(
                "call.dialled", "\"call.dialled\" has \"\(ch)\" in it; only digits, spaces, -, ., ( ) and a leading +44 are allowed.")
        } catch .tooLong {
            throw .invalid("call.dialled", "\"call.dialled\" has more than \(DialledNumber.maxDigits) digits.")
        } catch {
            throw .invalid("call.dialled", "\"call.dialled\" has no digits.")
        }
        let receivedAt = try c.required("received_at", c.timestamp)
        let answeredAt = try c.timestamp("answered_at")
        if let answeredAt, answeredAt < receivedAt {
            throw .invalid("call.answered_at", "\"call.answered_at\" is before \"call.received_at\".")
        }
        let relay = try self.relay(c, path: "call.relay")
        if relay != nil, !channel.acceptsRelay {
            throw .invalid(
                "call.relay",
                "\"call.relay\" is for a call through a relay or an interpreter (channel voice, text-relay or video-relay-bsl), not a \(channel.rawValue) one."
            )
        }
        let formReference = try c.string("form_reference", maxLength: 64)
        if let formReference, formReference.allSatisfy(\.isWhitespace) {
            throw .invalid("call.form_reference", "\"call.form_reference\" must not be blank.")
        }
        if formReference != nil, channel != .online {
            throw .invalid(
                "call.form_reference", "\"call.form_reference\" is an online report's; this call's channel is \(channel.rawValue).")
        }
        return CallStart(
            eventID: eventID, callID: callID, dialled: dialled, receivedAt: receivedAt, answeredAt: answeredAt,
            workstation: try c.string("workstation", maxLength: 64) ?? workstation,
            handler: try c.string("handler", maxLength: 64) ?? handler,
            identity: try identity(c), anonymousRequested: try c.bool("anonymous_requested"), channel: channel, relay: relay,
            formReference: formReference
        )
    }

    /// A `relay` object (issue 18): `kind` and `reference`, either one; nil when absent.
    private func relay(_ r: ObjectReader, path: String) throws(HotlineError) -> RelayChange? {
        guard let o = try r.object("relay", allowed: ["kind", "reference"]) else { return nil }
        let change = RelayChange(kind: try o.enumeration("kind", RelayKind.self), reference: try o.string("reference", maxLength: 64))
        if change == RelayChange() {
            throw .invalid(path, "\"\(path)\" needs \"kind\" or \"reference\" (or both).")
        }
        if let reference = change.reference, reference.allSatisfy(\.isWhitespace) {
            throw .invalid(path + ".reference", "\"\(path).reference\" must not be blank.")
        }
        return change
    }

    private func identity(_ r: ObjectReader) throws(HotlineError) -> CallerIdentity {
        var id = CallerIdentity(cli: try r.string("cli", maxLength: 64))
        if let caller = try r.object("caller", allowed: ["name", "contact", "address"]) {
            id.name = try caller.string("name", maxLength: 256)
            id.contact = try caller.string("contact", maxLength: 256)
            id.address = try caller.string("address", maxLength: 1024)
        }
        return id
    }

    private func decodeUpdate(_ r: ObjectReader) throws(HotlineError) -> CallUpdate {
        let eventID = try r.required("event_id", r.uuid)
        let callID = try r.required("call_id", r.uuid)
        let at = try r.required("at", r.timestamp)
        let note = try r.string("note", maxLength: Self.maxNoteBytes)
        var changes = CallChanges()
        let s = try r.object(
            "set",
            allowed: [
                "category", "location", "flags", "grade", "marking", "anonymous_requested", "cli", "caller", "outcome",
                "answered_at", "relay",
            ]
        )
        if let s {
            if let category = try s.string("category", maxLength: 64) {
                guard Configuration.isSlug(category) else {
                    throw .invalid(
                        "set.category", "\"set.category\" must be lower-case letters, digits and '-', such as suspicious-activity.")
                }
                changes.category = category
            }
            if let l = try s.object("location", allowed: ["text", "lat", "lon"]) {
                let location = Location(
                    text: try l.string("text", maxLength: Self.maxTextBytes),
                    lat: try l.number("lat", in: -90...90),
                    lon: try l.number("lon", in: -180...180)
                )
                if (location.lat == nil) != (location.lon == nil) {
                    throw .invalid(
                        location.lat == nil ? "set.location.lat" : "set.location.lon",
                        "\"set.location\" needs both \"lat\" and \"lon\", or neither.")
                }
                changes.location = location
            }
            if let f = try s.object("flags", allowed: Self.flags) {
                for key in Self.flags {
                    if let b = try f.bool(key) { changes.flags[key] = b }
                }
            }
            changes.grade = try s.enumeration("grade", Grade.self)
            changes.marking = try s.enumeration("marking", Marking.self)
            changes.anonymousRequested = try s.bool("anonymous_requested")
            changes.identity = try identity(s)
            changes.outcome = try outcome(s, "outcome", path: "set.outcome")
            changes.answeredAt = try s.timestamp("answered_at")
            changes.relay = try relay(s, path: "set.relay")
        }
        if note == nil, changes == CallChanges() {
            throw .invalid("set", "A call.update needs \"set\" with at least one field, or \"note\".")
        }
        let reason = try r.string("reason", maxLength: Self.maxReasonBytes)
        if let reason, reason.allSatisfy(\.isWhitespace) {
            throw .invalid("reason", "\"reason\" must say why, not be blank.")
        }
        return CallUpdate(
            eventID: eventID, callID: callID, at: at, changes: changes, note: note, workstation: workstation,
            handler: handler, reason: reason
        )
    }

    private func decodeEnd(_ r: ObjectReader) throws(HotlineError) -> CallEnd {
        let eventID = try r.required("event_id", r.uuid)
        let callID = try r.required("call_id", r.uuid)
        let endedAt = try r.required("ended_at", r.timestamp)
        return CallEnd(
            eventID: eventID, callID: callID, endedAt: endedAt, outcome: try outcome(r, "outcome", path: "outcome"),
            workstation: workstation, handler: handler
        )
    }

    /// An outcome, one of the configured ones, if `key` is there.
    private func outcome(_ r: ObjectReader, _ key: String, path: String) throws(HotlineError) -> String? {
        guard let outcome = try r.string(key, maxLength: 64) else { return nil }
        guard outcomes.contains(outcome) else {
            throw .invalid(path, "\"\(path)\" must be one of: \(outcomes.sorted().joined(separator: ", ")).")
        }
        return outcome
    }
}
