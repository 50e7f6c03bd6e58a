/// A decoded, validated request: what a connection asks the daemon to do.
public enum Request: Sendable, Equatable {
    case hello(Hello)
    case ping
    case write(WriteEvent)
    /// `notesAfter`: the `notes_next` of an earlier answer; only the notes after it are answered.
    ///
    /// The five reads take a `reason` (PROTOCOL-NOTES.md, "Reasons for reads"): why the
    /// reader consults or discloses the log, kept sealed in the read's audit entry.
    case callGet(callID: String, notesAfter: Int64? = nil, reason: String? = nil)
    case callsList(CallsQuery, reason: String? = nil)
    case stats
    case alertsSubscribe
    case alertAck(alertID: String)
    case auditList(from: Timestamp, to: Timestamp, reason: String? = nil)
    case verify(reason: String? = nil)
    case export(ExportQuery, reason: String? = nil)
    /// Legal hold (PROTOCOL-NOTES.md): retention never purges a held call. The reason is
    /// required, and sealed in the audit entry.
    case callHold(callID: String, reason: String)
    case callRelease(callID: String, reason: String)
    /// Every call on hold; a read, audited as one.
    case holdsList(reason: String? = nil)

    public struct Hello: Sendable, Equatable {
        public var protocolVersion: Int64
        public var workstation: String?
        public var handler: String?

        public init(protocolVersion: Int64 = RequestDecoder.supportedProtocol, workstation: String? = nil, handler: String? = nil) {
            self.protocolVersion = protocolVersion
            self.workstation = workstation
            self.handler = handler
        }
    }

    /// The reason a read gave, if it is a read and gave one.
    public var reason: String? {
        switch self {
        case .callGet(_, _, let reason), .callsList(_, let reason), .auditList(_, _, let reason), .verify(let reason),
            .export(_, let reason), .holdsList(let reason):
            reason
        case .hello, .ping, .write, .stats, .alertsSubscribe, .alertAck, .callHold, .callRelease: nil
        }
    }

    /// The reason an audit entry of this request seals: a read's, or why a call is held or
    /// released (kept in the entry of a refused hold too).
    public var auditReason: String? {
        switch self {
        case .callHold(_, let reason), .callRelease(_, let reason): reason
        default: reason
        }
    }

    /// The op name, for logs and audit entries.
    public var op: String {
        switch self {
        case .hello: "hello"
        case .ping: "ping"
        case .write(let event): event.op
        case .callGet: "call.get"
        case .callsList: "calls.list"
        case .stats: "stats"
        case .alertsSubscribe: "alerts.subscribe"
        case .alertAck: "alert.ack"
        case .auditList: "audit.list"
        case .verify: "verify"
        case .export: "export"
        case .callHold: "call.hold"
        case .callRelease: "call.release"
        case .holdsList: "holds.list"
        }
    }
}

/// `calls.list`'s filter.
public struct CallsQuery: Sendable, Equatable {
    public var from: Timestamp
    public var to: Timestamp
    public var route: String?
    public var limit: Int
    public var afterSeq: Int64?
    /// Only the calls of one channel (issue 18).
    public var channel: CallChannel?

    public static let defaultLimit = 100
    public static let maxLimit = 1000

    public init(
        from: Timestamp, to: Timestamp, route: String? = nil, limit: Int = defaultLimit, afterSeq: Int64? = nil,
        channel: CallChannel? = nil
    ) {
        self.channel = channel
        self.from = from
        self.to = to
        self.route = route
        self.limit = limit
        self.afterSeq = afterSeq
    }

    public var json: JSONValue {
        var m: [String: JSONValue] = ["from": .string(from.rfc3339), "to": .string(to.rfc3339), "limit": .int(Int64(limit))]
        m["route"] = .optional(route)
        m["after_seq"] = .optional(afterSeq)
        m["channel"] = .optional(channel?.rawValue)
        return .object(m)
    }
}

/// `export`'s page request: a shift (`previous`, `current`, `NAME:YYYY-MM-DD`) or a range.
public struct ExportQuery: Sendable, Equatable {
    public enum Window: Sendable, Equatable {
        case shift(String)
        case range(from: Timestamp, to: Timestamp)
        /// A calendar month (`YYYY-MM`) in the shifts' timezone: the period report.
        case month(String)
    }
    public var window: Window
    public var afterSeq: Int64?
    public var limit: Int
    /// Whether the first page carries the handover lists (a shift's export does; a report
    /// over a period asks for none, so none is read or disclosed).
    public var handover: Bool

    public static let defaultLimit = 1000
    public static let maxLimit = 5000

    public init(window: Window, afterSeq: Int64? = nil, limit: Int = defaultLimit, handover: Bool = true) {
        self.window = window
        self.afterSeq = afterSeq
        self.limit = limit
        self.handover = handover
    }
}
