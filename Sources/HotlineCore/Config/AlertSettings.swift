/// How alerts are escalated and where they go besides subscribed consoles
/// (`alerts:` in the configuration; PROTOCOL.md section 7).
public struct AlertSettings: Sendable, Equatable, Codable {
    /// The highest level an unacknowledged alert is raised to.
    public var maxLevel: Int
    /// Seconds an alert may wait for acknowledgement before it is pushed again one level
    /// higher, unless its route sets its own (`routes[].ack_seconds`).
    public var ackSeconds: Double
    /// Pushes a subscriber may have unread before it is disconnected (it gets its backlog
    /// again when it reconnects).
    public var subscriberQueue: Int
    public var sinks: [AlertSink]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxLevel = "max_level"
        case ackSeconds = "ack_seconds"
        case subscriberQueue = "subscriber_queue"
        case sinks
    }

    public init(maxLevel: Int = 3, ackSeconds: Double = 60, subscriberQueue: Int = 256, sinks: [AlertSink] = []) {
        self.maxLevel = maxLevel
        self.ackSeconds = ackSeconds
        self.subscriberQueue = subscriberQueue
        self.sinks = sinks
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AlertSettings()
        maxLevel = try c.decodeIfPresent(Int.self, forKey: .maxLevel) ?? d.maxLevel
        ackSeconds = try c.decodeIfPresent(Double.self, forKey: .ackSeconds) ?? d.ackSeconds
        subscriberQueue = try c.decodeIfPresent(Int.self, forKey: .subscriberQueue) ?? d.subscriberQueue
        sinks = try c.decodeIfPresent([AlertSink].self, forKey: .sinks) ?? []
    }

    /// The sinks that take an alert reaching `level`.
    public func sinks(forLevel level: Int) -> [AlertSink] {
        sinks.filter { $0.levels.contains(level) }
    }

    func problems() -> [Configuration.Problem] {
        var problems: [Configuration.Problem] = []
        if maxLevel < 1 || maxLevel > 10 { problems.append(.init(path: "alerts.max_level", reason: "must be from 1 to 10")) }
        if !(ackSeconds > 0) { problems.append(.init(path: "alerts.ack_seconds", reason: "must be more than 0")) }
        if subscriberQueue < 1 { problems.append(.init(path: "alerts.subscriber_queue", reason: "must be at least 1")) }
        var names: Set<String> = []
        for (i, sink) in sinks.enumerated() {
            let at = "alerts.sinks.\(i)"
            if !Configuration.isSlug(sink.name) {
                problems.append(.init(path: "\(at).name", reason: "must be lower-case letters, digits and '-'"))
            }
            if !names.insert(sink.name).inserted {
                problems.append(.init(path: "\(at).name", reason: "sink \"\(sink.name)\" is named twice"))
            }
            if sink.levels.isEmpty || sink.levels.contains(where: { $0 < 1 || $0 > maxLevel }) {
                problems.append(.init(path: "\(at).levels", reason: "must list levels from 1 to \(maxLevel)"))
            }
            if !(sink.timeoutSeconds > 0) { problems.append(.init(path: "\(at).timeout_seconds", reason: "must be more than 0")) }
            switch sink.kind {
            case .journal:
                break
            case .command:
                if sink.argv.isEmpty || !(sink.argv.first ?? "").hasPrefix("/") {
                    problems.append(.init(path: "\(at).argv", reason: "must start with an absolute path to the program (no shell is used)"))
                }
            case .webhook:
                let url = sink.url ?? ""
                if !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
                    problems.append(.init(path: "\(at).url", reason: "must be an http:// or https:// URL"))
                }
            }
        }
        return problems
    }
}

/// Somewhere alerts are delivered besides subscribed consoles.
public struct AlertSink: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// journald at PRIORITY=2 with a MESSAGE_ID.
        case journal
        /// A program run without a shell, the alert as JSON on its standard input.
        case command
        /// A JSON POST, retried with backoff until a 2xx.
        case webhook
    }

    public var name: String
    public var kind: Kind
    /// The levels this sink takes (1 = first raised).
    public var levels: [Int]
    public var argv: [String]
    public var url: String?
    public var timeoutSeconds: Double

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name
        case kind = "type"
        case levels, argv, url
        case timeoutSeconds = "timeout_seconds"
    }

    public init(
        name: String, kind: Kind, levels: [Int], argv: [String] = [], url: String? = nil, timeoutSeconds: Double = 10
    ) {
        self.name = name
        self.kind = kind
        self.levels = levels
        self.argv = argv
        self.url = url
        self.timeoutSeconds = timeoutSeconds
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decode(Kind.self, forKey: .kind)
        levels = try c.decodeIfPresent([Int].self, forKey: .levels) ?? [1]
        argv = try c.decodeIfPresent([String].self, forKey: .argv) ?? []
        url = try c.decodeIfPresent(String.self, forKey: .url)
        timeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .timeoutSeconds) ?? 10
    }
}

/// When an unacknowledged alert goes up a level: pure arithmetic on the stored raise time,
/// so the timers survive restarts.
public enum Escalation {
    /// The level an alert raised at `raisedAt` should be at `now`.
    public static func level(raisedAt: Timestamp, now: Timestamp, ackSeconds: Double, maxLevel: Int) -> Int {
        let waited = now.seconds(since: raisedAt)
        guard waited > 0, ackSeconds > 0 else { return 1 }
        return min(maxLevel, 1 + Int((waited / ackSeconds).rounded(.down)))
    }

    /// When the alert reaches its next level, or nil at the top.
    public static func nextDue(raisedAt: Timestamp, level: Int, ackSeconds: Double, maxLevel: Int) -> Timestamp? {
        guard level < maxLevel else { return nil }
        return raisedAt.adding(seconds: ackSeconds * Double(level))
    }
}
