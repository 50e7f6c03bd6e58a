/// How the public reached the control room (issue 18): by a voice call, through a relay
/// for deaf and speech-impaired callers (Relay UK's text relay, 999 BSL's video relay), by
/// SMS to 999 (emergencySMS), or by an online report. A call's channel is set when it
/// starts and never changes.
public enum CallChannel: String, Sendable, Equatable, Hashable, CaseIterable, Codable, Comparable {
    case voice
    case textRelay = "text-relay"
    case sms
    case videoRelayBSL = "video-relay-bsl"
    case online

    /// Whether a relay assistant or interpreter may be on a call of this channel: a voice
    /// call may have a telephone interpreter; an SMS conversation and an online report have
    /// nobody between the public and the handler.
    public var acceptsRelay: Bool { self == .voice || isRelayed }

    /// Whether every call of this channel comes through a relay (so its record says so even
    /// before the relay's reference is known).
    public var isRelayed: Bool { self == .textRelay || self == .videoRelayBSL }

    /// Who relays on this channel when the workstation does not say.
    public var defaultRelayKind: RelayKind { self == .textRelay ? .relayAssistant : .interpreter }

    /// Whether a call of this channel names no number: an online report comes from a form.
    public var mayOmitNumber: Bool { self == .online }

    /// The order reports list channels in: voice first, then as declared.
    public static func < (a: CallChannel, b: CallChannel) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Who relayed a call: a Relay UK relay assistant (text relay) or an interpreter (a BSL
/// video relay, or a telephone interpreter on a voice call).
public enum RelayKind: String, Sendable, Equatable, CaseIterable {
    case interpreter
    case relayAssistant = "relay-assistant"
}

/// That an interpreter or relay assistant was on a call, and their reference (the relay
/// service's operator number). The reference is *not* the caller's identity: it is never
/// stripped or erased with it, and is stored in the clear like the handler's number.
public struct Relay: Sendable, Equatable {
    public var kind: RelayKind
    public var reference: String?

    public init(kind: RelayKind, reference: String? = nil) {
        self.kind = kind
        self.reference = reference
    }

    public var json: JSONValue { ["kind": .string(kind.rawValue), "reference": .optional(reference)] }

    public init?(json: JSONValue?) {
        guard let json, let kind = json["kind"]?.stringValue.flatMap(RelayKind.init(rawValue:)) else { return nil }
        self.init(kind: kind, reference: json["reference"]?.stringValue)
    }

    /// A call's relay when it starts on `channel` with `change` (as sent, or nil): a relayed
    /// channel's record says so from the start, reference or not. Nil for a call with none.
    public static func atStart(_ change: RelayChange?, channel: CallChannel) -> Relay? {
        guard change != nil || channel.isRelayed else { return nil }
        return (change ?? RelayChange()).applied(to: nil, channel: channel)
    }
}

/// A relay as a workstation sent it: either part may be missing (the kind then follows the
/// channel, and a reference given later replaces none).
public struct RelayChange: Sendable, Equatable {
    public var kind: RelayKind?
    public var reference: String?

    public init(kind: RelayKind? = nil, reference: String? = nil) {
        self.kind = kind
        self.reference = reference
    }

    /// As the log's public content stores it.
    public var json: JSONValue {
        var m: [String: JSONValue] = [:]
        if let kind { m["kind"] = .string(kind.rawValue) }
        if let reference { m["reference"] = .string(reference) }
        return .object(m)
    }

    /// What ``json`` wrote (verify reads it back from the chained events); nil when absent.
    public init?(json: JSONValue?) {
        guard let json else { return nil }
        self.init(kind: json["kind"]?.stringValue.flatMap(RelayKind.init(rawValue:)), reference: json["reference"]?.stringValue)
    }

    /// `current` with this change applied, on a call of `channel`.
    public func applied(to current: Relay?, channel: CallChannel) -> Relay {
        Relay(
            kind: kind ?? current?.kind ?? channel.defaultRelayKind,
            reference: reference ?? current?.reference)
    }
}
