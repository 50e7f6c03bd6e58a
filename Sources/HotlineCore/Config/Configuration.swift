/// The daemon's configuration (`Config/hotlined.yaml`), as plain Codable values.
///
/// Decoding is strict: unknown keys and bad values are errors naming the key. Reading the
/// file is the server's business; this type only says what a valid configuration is.
public struct Configuration: Sendable, Equatable, Codable {
    public var paths: Paths
    public var limits: Limits
    public var routes: [RouteRule]
    public var unrouted: RouteRule
    public var outcomes: [String]
    public var roles: Roles
    public var alerts: AlertSettings
    public var retention: [RetentionRule]
    public var shifts: ShiftSettings
    /// Which roles must say why they read (DPA 2018 section 62(2)); absent, none must.
    public var reasonsRequired: ReasonsRequired
    /// How often the chain heads are journalled.
    public var chainAnchors: ChainAnchors
    /// Which engine keeps the log; SQLite at `paths.database` unless set.
    public var storage: StorageSettings
    /// The Prometheus/OpenMetrics endpoint; off (nil) unless configured.
    public var metrics: ListenSettings?
    /// The control room's live wallboard; off (nil) unless configured.
    public var wallboard: ListenSettings?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case paths, limits, routes, unrouted, outcomes, roles, alerts, retention, shifts, storage, metrics, wallboard
        case reasonsRequired = "reasons_required"
        case chainAnchors = "chain_anchors"
    }

    public init(
        paths: Paths = Paths(),
        limits: Limits = Limits(),
        routes: [RouteRule],
        unrouted: RouteRule,
        outcomes: [String],
        roles: Roles = Roles(),
        alerts: AlertSettings = AlertSettings(),
        retention: [RetentionRule] = [],
        shifts: ShiftSettings = ShiftSettings(),
        reasonsRequired: ReasonsRequired = ReasonsRequired(),
        chainAnchors: ChainAnchors = ChainAnchors(),
        storage: StorageSettings = StorageSettings(),
        metrics: ListenSettings? = nil,
        wallboard: ListenSettings? = nil
    ) {
        self.paths = paths
        self.limits = limits
        self.routes = routes
        self.unrouted = unrouted
        self.outcomes = outcomes
        self.roles = roles
        self.alerts = alerts
        self.retention = retention
        self.shifts = shifts
        self.reasonsRequired = reasonsRequired
        self.chainAnchors = chainAnchors
        self.storage = storage
        self.metrics = metrics
        self.wallboard = wallboard
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        paths = try c.decodeIfPresent(Paths.self, forKey: .paths) ?? Paths()
        limits = try c.decodeIfPresent(Limits.self, forKey: .limits) ?? Limits()
        routes = try c.decode([RouteRule].self, forKey: .routes)
        unrouted = try c.decode(RouteRule.self, forKey: .unrouted)
        outcomes = try c.decode([String].self, forKey: .outcomes)
        roles = try c.decodeIfPresent(Roles.self, forKey: .roles) ?? Roles()
        alerts = try c.decodeIfPresent(AlertSettings.self, forKey: .alerts) ?? AlertSettings()
        retention = try c.decodeIfPresent([RetentionRule].self, forKey: .retention) ?? []
        shifts = try c.decodeIfPresent(ShiftSettings.self, forKey: .shifts) ?? ShiftSettings()
        reasonsRequired = try c.decodeIfPresent(ReasonsRequired.self, forKey: .reasonsRequired) ?? ReasonsRequired()
        chainAnchors = try c.decodeIfPresent(ChainAnchors.self, forKey: .chainAnchors) ?? ChainAnchors()
        storage = try c.decodeIfPresent(StorageSettings.self, forKey: .storage) ?? StorageSettings()
        metrics = try c.decodeIfPresent(ListenSettings.self, forKey: .metrics)
        wallboard = try c.decodeIfPresent(ListenSettings.self, forKey: .wallboard)
    }

    /// Seconds an alert on `route` may wait for acknowledgement before it goes up a level.
    public func ackSeconds(route: String) -> Double {
        (routes.first { $0.name == route } ?? (unrouted.name == route ? unrouted : nil))?.ackSeconds
            ?? alerts.ackSeconds
    }

    public struct Paths: Sendable, Equatable, Codable {
        public var socket: String
        public var database: String
        /// A file holding the 256-bit key as 64 hexadecimal characters. When absent, the key
        /// is the systemd credential `$CREDENTIALS_DIRECTORY/hotlined.key`.
        public var keyFile: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case socket
            case database
            case keyFile = "key_file"
        }

        public init(
            socket: String = "/run/hotlined/hotlined.sock",
            database: String = "/var/lib/hotlined/hotlined.sqlite",
            keyFile: String? = nil
        ) {
            self.socket = socket
            self.database = database
            self.keyFile = keyFile
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let defaults = Paths()
            socket = try c.decodeIfPresent(String.self, forKey: .socket) ?? defaults.socket
            database = try c.decodeIfPresent(String.self, forKey: .database) ?? defaults.database
            keyFile = try c.decodeIfPresent(String.self, forKey: .keyFile)
        }
    }

    public struct Limits: Sendable, Equatable, Codable {
        /// The longest request line, LF included (`limits.max_line_bytes`).
        public var maxLineBytes: Int
        public var maxConnections: Int
        /// Connections one Unix user may hold at once, so one user cannot take every slot.
        public var maxConnectionsPerUID: Int
        /// What one connection may hold: requests read and not yet answered plus answers
        /// ready and not yet written. At the cap the daemon stops reading from it.
        public var maxPendingPerConnection: Int
        /// The same budget in bytes (request lines held plus answers not yet written).
        public var maxPendingBytesPerConnection: Int
        /// Writes queued for the writer from every connection together; past it a
        /// connection's next write waits (it is not refused).
        public var maxQueuedWrites: Int
        /// Bulk reads (`calls.list`, `call.get`, `export`, `verify`, `audit.list`) one
        /// connection may have running or unwritten at once.
        public var maxBulkReadsPerConnection: Int
        /// Threads that run bulk reads for every connection together.
        public var bulkReadThreads: Int
        /// The most notes one `call.get` answer carries; the rest are paged.
        public var maxNotesPerAnswer: Int
        /// The bytes of text one page of a paged read carries at most (`call.get`'s notes,
        /// `audit.list`'s entries): the page ends at the item that reaches it, so a page of
        /// long items stays small too.
        public var maxPageBytes: Int
        /// Deliveries to one alert sink (a command's processes, a webhook's requests) at once.
        public var maxDeliveriesPerSink: Int
        /// The most events one transaction commits.
        public var maxBatchEvents: Int
        /// A cap on the database file's size, so the log cannot fill the disk it shares;
        /// writes past it are answered `storage`. Nil: no cap but the disk.
        public var maxDatabaseBytes: Int?
        /// A request line begun must be finished within this many seconds.
        public var lineTimeoutSeconds: Double
        /// A client that reads none of its answers for this long is disconnected.
        public var writeTimeoutSeconds: Double
        /// A connection with nothing sent, nothing owed and no alert subscription is closed
        /// after this long.
        public var idleTimeoutSeconds: Double

        enum CodingKeys: String, CodingKey, CaseIterable {
            case maxLineBytes = "max_line_bytes"
            case maxConnections = "max_connections"
            case maxConnectionsPerUID = "max_connections_per_uid"
            case maxPendingPerConnection = "max_pending_per_connection"
            case maxPendingBytesPerConnection = "max_pending_bytes_per_connection"
            case maxQueuedWrites = "max_queued_writes"
            case maxBulkReadsPerConnection = "max_bulk_reads_per_connection"
            case bulkReadThreads = "bulk_read_threads"
            case maxNotesPerAnswer = "max_notes_per_answer"
            case maxPageBytes = "max_page_bytes"
            case maxDeliveriesPerSink = "max_deliveries_per_sink"
            case maxBatchEvents = "max_batch_events"
            case maxDatabaseBytes = "max_database_bytes"
            case lineTimeoutSeconds = "line_timeout_seconds"
            case writeTimeoutSeconds = "write_timeout_seconds"
            case idleTimeoutSeconds = "idle_timeout_seconds"
        }

        public init(
            maxLineBytes: Int = 65536,
            maxConnections: Int = 512,
            maxConnectionsPerUID: Int = 64,
            maxPendingPerConnection: Int = 1024,
            maxPendingBytesPerConnection: Int = 262_144,
            maxQueuedWrites: Int = 8192,
            maxBulkReadsPerConnection: Int = 1,
            bulkReadThreads: Int = 2,
            maxNotesPerAnswer: Int = 1000,
            maxPageBytes: Int = 1_048_576,
            maxDeliveriesPerSink: Int = 4,
            maxBatchEvents: Int = 512,
            maxDatabaseBytes: Int? = nil,
            lineTimeoutSeconds: Double = 30,
            writeTimeoutSeconds: Double = 60,
            idleTimeoutSeconds: Double = 3600
        ) {
            self.maxLineBytes = maxLineBytes
            self.maxConnections = maxConnections
            self.maxConnectionsPerUID = maxConnectionsPerUID
            self.maxPendingPerConnection = maxPendingPerConnection
            self.maxPendingBytesPerConnection = maxPendingBytesPerConnection
            self.maxQueuedWrites = maxQueuedWrites
            self.maxBulkReadsPerConnection = maxBulkReadsPerConnection
            self.bulkReadThreads = bulkReadThreads
            self.maxNotesPerAnswer = maxNotesPerAnswer
            self.maxPageBytes = maxPageBytes
            self.maxDeliveriesPerSink = maxDeliveriesPerSink
            self.maxBatchEvents = maxBatchEvents
            self.maxDatabaseBytes = maxDatabaseBytes
            self.lineTimeoutSeconds = lineTimeoutSeconds
            self.writeTimeoutSeconds = writeTimeoutSeconds
            self.idleTimeoutSeconds = idleTimeoutSeconds
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Limits()
            maxLineBytes = try c.decodeIfPresent(Int.self, forKey: .maxLineBytes) ?? d.maxLineBytes
            maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections) ?? d.maxConnections
            maxConnectionsPerUID = try c.decodeIfPresent(Int.self, forKey: .maxConnectionsPerUID) ?? d.maxConnectionsPerUID
            maxPendingPerConnection =
                try c.decodeIfPresent(Int.self, forKey: .maxPendingPerConnection) ?? d.maxPendingPerConnection
            maxPendingBytesPerConnection =
                try c.decodeIfPresent(Int.self, forKey: .maxPendingBytesPerConnection) ?? d.maxPendingBytesPerConnection
            maxQueuedWrites = try c.decodeIfPresent(Int.self, forKey: .maxQueuedWrites) ?? d.maxQueuedWrites
            maxBulkReadsPerConnection =
                try c.decodeIfPresent(Int.self, forKey: .maxBulkReadsPerConnection) ?? d.maxBulkReadsPerConnection
            bulkReadThreads = try c.decodeIfPresent(Int.self, forKey: .bulkReadThreads) ?? d.bulkReadThreads
            maxNotesPerAnswer = try c.decodeIfPresent(Int.self, forKey: .maxNotesPerAnswer) ?? d.maxNotesPerAnswer
            maxPageBytes =
                try c.decodeIfPresent(Int.self, forKey: .maxPageBytes) ?? d.maxPageBytes
            maxDeliveriesPerSink = try c.decodeIfPresent(Int.self, forKey: .maxDeliveriesPerSink) ?? d.maxDeliveriesPerSink
            maxBatchEvents = try c.decodeIfPresent(Int.self, forKey: .maxBatchEvents) ?? d.maxBatchEvents
            maxDatabaseBytes = try c.decodeIfPresent(Int.self, forKey: .maxDatabaseBytes)
            lineTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .lineTimeoutSeconds) ?? d.lineTimeoutSeconds
            writeTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .writeTimeoutSeconds) ?? d.writeTimeoutSeconds
            idleTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .idleTimeoutSeconds) ?? d.idleTimeoutSeconds
        }
    }

    /// Which Unix users and groups hold each role, by name or by number.
    public struct Roles: Sendable, Equatable, Codable {
        public var handler: Members
        public var supervisor: Members
        public var auditor: Members

        enum CodingKeys: String, CodingKey, CaseIterable {
            case handler, supervisor, auditor
        }

        public init(handler: Members = Members(), supervisor: Members = Members(), auditor: Members = Members()) {
            self.handler = handler
            self.supervisor = supervisor
            self.auditor = auditor
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            handler = try c.decodeIfPresent(Members.self, forKey: .handler) ?? Members()
            supervisor = try c.decodeIfPresent(Members.self, forKey: .supervisor) ?? Members()
            auditor = try c.decodeIfPresent(Members.self, forKey: .auditor) ?? Members()
        }

        public func members(of role: Role) -> Members {
            switch role {
            case .handler: handler
            case .supervisor: supervisor
            case .auditor: auditor
            }
        }
    }

    public struct Members: Sendable, Equatable, Codable {
        /// User names or numeric uids.
        public var users: [String]
        /// Group names or numeric gids.
        public var groups: [String]

        enum CodingKeys: String, CodingKey, CaseIterable {
            case users, groups
        }

        public init(users: [String] = [], groups: [String] = []) {
            self.users = users
            self.groups = groups
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            users = try c.decodeIfPresent([IDName].self, forKey: .users)?.map(\.text) ?? []
            groups = try c.decodeIfPresent([IDName].self, forKey: .groups)?.map(\.text) ?? []
        }
    }

    /// A user or group given as a name or a number in YAML.
    struct IDName: Decodable {
        var text: String
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let n = try? c.decode(UInt32.self) {
                text = String(n)
            } else {
                text = try c.decode(String.self)
            }
        }
    }
}

/// One row of the routes table (PROTOCOL.md section 5).
public struct RouteRule: Sendable, Equatable, Codable {
    public var name: String
    /// Normalised numbers that take this route; empty for the `unrouted` fallback.
    public var numbers: [String]
    public var grade: Grade
    public var marking: Marking
    public var anonymity: Anonymity
    /// Raise an `emergency-line` alert on `call.start`.
    public var alertOnStart: Bool
    /// This route's acknowledgement time for alerts (else `alerts.ack_seconds`).
    public var ackSeconds: Double?
    /// The answer-time standard the route is measured on (999: 90% within 10 s); nil for a
    /// route reported by its average wait alone (101).
    public var answerStandard: AnswerStandard?
    /// The categories a call on this route may be given, with the labels reports show;
    /// empty: any category (a slug) is accepted.
    public var categories: [CategoryLabel]
    /// Accept a category not in ``categories`` as well (shown by its slug).
    public var freeCategories: Bool
    /// What this route takes on one channel only (issue 18): numbers there (Relay UK's
    /// 18000 on `text-relay`), or every call of the channel but those a `match` elsewhere
    /// names by number (online reports). ``numbers`` are taken on every channel.
    public var match: [RouteMatch]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, numbers, grade, marking, anonymity, categories, match
        case alertOnStart = "alert_on_start"
        case ackSeconds = "ack_seconds"
        case answerStandard = "answer_standard"
        case freeCategories = "free_categories"
    }

    public init(
        name: String,
        numbers: [String],
        grade: Grade,
        marking: Marking,
        anonymity: Anonymity,
        alertOnStart: Bool = false,
        ackSeconds: Double? = nil,
        answerStandard: AnswerStandard? = nil,
        categories: [CategoryLabel] = [],
        freeCategories: Bool = false,
        match: [RouteMatch] = []
    ) {
        self.match = match
        self.name = name
        self.numbers = numbers
        self.grade = grade
        self.marking = marking
        self.anonymity = anonymity
        self.alertOnStart = alertOnStart
        self.ackSeconds = ackSeconds
        self.answerStandard = answerStandard
        self.categories = categories
        self.freeCategories = freeCategories
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        numbers = try c.decodeIfPresent([String].self, forKey: .numbers) ?? []
        grade = try c.decode(Grade.self, forKey: .grade)
        marking = try c.decode(Marking.self, forKey: .marking)
        anonymity = try c.decode(Anonymity.self, forKey: .anonymity)
        alertOnStart = try c.decodeIfPresent(Bool.self, forKey: .alertOnStart) ?? false
        ackSeconds = try c.decodeIfPresent(Double.self, forKey: .ackSeconds)
        answerStandard = try c.decodeIfPresent(AnswerStandard.self, forKey: .answerStandard)
        categories = try c.decodeIfPresent([CategoryLabel].self, forKey: .categories) ?? []
        freeCategories = try c.decodeIfPresent(Bool.self, forKey: .freeCategories) ?? false
        match = try c.decodeIfPresent([RouteMatch].self, forKey: .match) ?? []
    }

    /// Whether a call on this route may be given `category`.
    public func accepts(category: String) -> Bool {
        categories.isEmpty || freeCategories || categories.contains { $0.slug == category }
    }
}

/// One of a route's ``RouteRule/match`` entries: `numbers` on `channel`, or, without
/// `numbers`, every call on `channel` (but a number some `match` names on it).
public struct RouteMatch: Sendable, Equatable, Codable {
    public var channel: CallChannel
    public var numbers: [String]

    enum CodingKeys: String, CodingKey, CaseIterable { case channel, numbers }

    public init(channel: CallChannel, numbers: [String] = []) {
        self.channel = channel
        self.numbers = numbers
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        channel = try c.decode(CallChannel.self, forKey: .channel)
        numbers = try c.decodeIfPresent([String].self, forKey: .numbers) ?? []
        // An empty list read as "every call of the channel" would turn a typo into a route
        // for all of it (every text relay call an emergency): only leaving it out says that.
        if c.contains(.numbers), numbers.isEmpty {
            throw DecodingError.dataCorruptedError(
                forKey: .numbers, in: c,
                debugDescription: "must list at least one number; leave it out to take every call of the channel")
        }
    }
}

/// An answer-time standard: `share` of the calls answered in under `withinSeconds`.
public struct AnswerStandard: Sendable, Equatable, Codable {
    public var withinSeconds: Double
    /// A fraction, 0 to 1 (0.9 for the 999 standard).
    public var share: Double

    enum CodingKeys: String, CodingKey, CaseIterable {
        case withinSeconds = "within_seconds"
        case share
    }

    public init(withinSeconds: Double, share: Double) {
        self.withinSeconds = withinSeconds
        self.share = share
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        withinSeconds = try c.decode(Double.self, forKey: .withinSeconds)
        share = try c.decode(Double.self, forKey: .share)
    }

    /// The national 999 standard: 90% of calls answered within 10 seconds.
    public static let national999 = AnswerStandard(withinSeconds: 10, share: 0.9)

    public var json: JSONValue { ["within_seconds": .double(withinSeconds), "share": .double(share)] }
}

/// A category a route offers: the slug workstations send, the label reports show.
public struct CategoryLabel: Sendable, Equatable, Codable {
    public var slug: String
    public var label: String

    enum CodingKeys: String, CodingKey, CaseIterable { case slug, label }

    public init(slug: String, label: String) {
        self.slug = slug
        self.label = label
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        slug = try c.decode(String.self, forKey: .slug)
        label = try c.decode(String.self, forKey: .label)
    }
}

extension Configuration {
    /// A problem with a configuration that decoded but does not make sense.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }
        public var description: String { "\(path): \(reason)" }
    }

    /// Checks what decoding cannot: numbers that normalise, no number on two routes,
    /// unique route names, sane limits. Returns every problem, not just the first.
    public func problems() -> [Problem] {
        var problems: [Problem] = []
        var seenNumbers: [String: String] = [:]
        var seenChannels: [CallChannel: String] = [:]
        var seenOnChannel: [String: String] = [:]
        var seenNames: Set<String> = [unrouted.name]
        if !Self.isSlug(unrouted.name) {
            problems.append(.init(path: "unrouted.name", reason: "must be lower-case letters, digits and '-'"))
        }
        if !unrouted.numbers.isEmpty {
            problems.append(.init(path: "unrouted.numbers", reason: "the fallback route takes no numbers"))
        }
        if !unrouted.match.isEmpty {
            problems.append(.init(path: "unrouted.match", reason: "the fallback route takes what no route matches"))
        }
        if routes.isEmpty { problems.append(.init(path: "routes", reason: "must list at least one route")) }
        if !(1...1_000_000_000).contains(chainAnchors.everyRows) {
            problems.append(.init(path: "chain_anchors.every_rows", reason: "must be from 1 to 1000000000"))
        }
        if !(1...86_400).contains(chainAnchors.everySeconds) {
            problems.append(.init(path: "chain_anchors.every_seconds", reason: "must be from 1 to 86400 (a day)"))
        }
        for (i, route) in routes.enumerated() {
            if !Self.isSlug(route.name) {
                problems.append(.init(path: "routes.\(i).name", reason: "must be lower-case letters, digits and '-'"))
            }
            if !seenNames.insert(route.name).inserted {
                problems.append(.init(path: "routes.\(i).name", reason: "route \"\(route.name)\" is named twice"))
            }
            if route.numbers.isEmpty, route.match.isEmpty {
                problems.append(.init(path: "routes.\(i).numbers", reason: "must list at least one number (or a match)"))
            }
            for (j, number) in route.numbers.enumerated() {
                guard let normal = try? DialledNumber.normalise(number) else {
                    problems.append(.init(path: "routes.\(i).numbers.\(j)", reason: "\"\(number)\" is not a phone number"))
                    continue
                }
                if let other = seenNumbers.updateValue(route.name, forKey: normal) {
                    problems.append(
                        .init(path: "routes.\(i).numbers.\(j)", reason: "\(normal) is already routed to \"\(other)\"")
                    )
                }
            }
            for (j, match) in route.match.enumerated() {
                let channel = match.channel.rawValue
                if match.numbers.isEmpty,
                    let other = seenChannels.updateValue(route.name, forKey: match.channel)
                {
                    problems.append(
                        .init(path: "routes.\(i).match.\(j)", reason: "every \(channel) call is already routed to \"\(other)\""))
                }
                for (k, number) in match.numbers.enumerated() {
                    if match.channel == .textRelay, let normal = try? DialledNumber.normalise(number), normal.hasPrefix("18001") {
                        problems.append(
                            .init(
                                path: "routes.\(i).match.\(j).numbers.\(k)",
                                reason: "18001 is Relay UK's prefix, which hotlined drops from a text relay call: give the number after it")
                        )
                        continue
                    }
                    guard let normal = try? DialledNumber.normalise(number) else {
                        problems.append(
                            .init(path: "routes.\(i).match.\(j).numbers.\(k)", reason: "\"\(number)\" is not a phone number"))
                        continue
                    }
                    if let other = seenOnChannel.updateValue(route.name, forKey: "\(channel) \(normal)") {
                        problems.append(
                            .init(
                                path: "routes.\(i).match.\(j).numbers.\(k)",
                                reason: "\(normal) on \(channel) is already routed to \"\(other)\""))
                    }
                }
            }
        }
        if outcomes.isEmpty { problems.append(.init(path: "outcomes", reason: "must list at least one outcome")) }
        for (i, outcome) in outcomes.enumerated() where !Self.isSlug(outcome) {
            problems.append(.init(path: "outcomes.\(i)", reason: "\"\(outcome)\" must be lower-case letters, digits and '-'"))
        }
        if Set(outcomes).count != outcomes.count {
            problems.append(.init(path: "outcomes", reason: "lists an outcome twice"))
        }
        if limits.maxLineBytes < 1024 || limits.maxLineBytes > 16 * 1024 * 1024 {
            problems.append(.init(path: "limits.max_line_bytes", reason: "must be between 1024 and 16777216"))
        }
        if limits.maxConnections < 1 {
            problems.append(.init(path: "limits.max_connections", reason: "must be at least 1"))
        }
        // Above max_connections it is simply never reached: not an error.
        if limits.maxConnectionsPerUID < 1 {
            problems.append(.init(path: "limits.max_connections_per_uid", reason: "must be at least 1"))
        }
        if limits.maxPendingPerConnection < 1 {
            problems.append(.init(path: "limits.max_pending_per_connection", reason: "must be at least 1"))
        }
        // A line is taken while the connection holds less than this, so a line longer than
        // the budget still fits; the floor only keeps pipelining worth having.
        if limits.maxPendingBytesPerConnection < 65536 {
            problems.append(.init(path: "limits.max_pending_bytes_per_connection", reason: "must be at least 65536"))
        }
        if limits.maxQueuedWrites < 1 {
            problems.append(.init(path: "limits.max_queued_writes", reason: "must be at least 1"))
        }
        for (key, value, range) in [
            ("max_bulk_reads_per_connection", limits.maxBulkReadsPerConnection, 1...64),
            ("bulk_read_threads", limits.bulkReadThreads, 1...64),
            ("max_notes_per_answer", limits.maxNotesPerAnswer, 1...100_000),
            ("max_page_bytes", limits.maxPageBytes, 16_384...67_108_864),
            ("max_deliveries_per_sink", limits.maxDeliveriesPerSink, 1...1024),
        ] where !range.contains(value) {
            problems.append(
                .init(path: "limits.\(key)", reason: "must be between \(range.lowerBound) and \(range.upperBound)"))
        }
        if limits.maxBatchEvents < 1 {
            problems.append(.init(path: "limits.max_batch_events", reason: "must be at least 1"))
        }
        for (key, value) in [
            ("line_timeout_seconds", limits.lineTimeoutSeconds), ("write_timeout_seconds", limits.writeTimeoutSeconds),
            ("idle_timeout_seconds", limits.idleTimeoutSeconds),
        ] where !(value >= 0.1 && value <= 86_400) {
            problems.append(.init(path: "limits.\(key)", reason: "must be between 0.1 and 86400 seconds"))
        }
        if let cap = limits.maxDatabaseBytes, cap < 1_048_576 {
            problems.append(.init(path: "limits.max_database_bytes", reason: "must be at least 1048576 (1 MiB)"))
        }
        problems += alerts.problems()
        for (i, route) in (routes + [unrouted]).enumerated() {
            let at = i < routes.count ? "routes.\(i)" : "unrouted"
            if let standard = route.answerStandard {
                if !(standard.withinSeconds > 0 && standard.withinSeconds <= 3600) {
                    problems.append(.init(path: "\(at).answer_standard.within_seconds", reason: "must be more than 0 and at most 3600"))
                }
                if !(standard.share > 0 && standard.share <= 1) {
                    problems.append(
                        .init(path: "\(at).answer_standard.share", reason: "must be a fraction more than 0 and at most 1, such as 0.9"))
                }
            }
            var slugs: Set<String> = []
            for (j, category) in route.categories.enumerated() {
                if !Self.isSlug(category.slug) {
                    problems.append(
                        .init(path: "\(at).categories.\(j).slug", reason: "\"\(category.slug)\" must be lower-case letters, digits and '-'")
                    )
                }
                if !slugs.insert(category.slug).inserted {
                    problems.append(.init(path: "\(at).categories.\(j).slug", reason: "\"\(category.slug)\" is listed twice"))
                }
                if category.label.allSatisfy({ $0 == " " }) || category.label.utf8.count > 200 {
                    problems.append(.init(path: "\(at).categories.\(j).label", reason: "must be a label of 1 to 200 bytes"))
                }
            }
            if route.freeCategories, route.categories.isEmpty {
                problems.append(
                    .init(
                        path: "\(at).free_categories",
                        reason: "means nothing without a list of categories (a route without one takes any category)"))
            }
            if let seconds = route.ackSeconds, !(seconds > 0) {
                problems.append(.init(path: "\(at).ack_seconds", reason: "must be more than 0"))
            }
        }
        let routeNames = Set((routes + [unrouted]).map(\.name))
        for (i, rule) in retention.enumerated() {
            if rule.purgeAfterDays < 1 || rule.purgeAfterDays > 36_500 {
                problems.append(.init(path: "retention.\(i).purge_after_days", reason: "must be between 1 and 36500"))
            }
            if let route = rule.route, !routeNames.contains(route) {
                problems.append(.init(path: "retention.\(i).route", reason: "\"\(route)\" is not a configured route"))
            }
        }
        problems += shifts.problems()
        problems += storage.problems()
        if let metrics, let wallboard, metrics.listen == wallboard.listen {
            problems.append(.init(path: "wallboard.listen", reason: "is metrics.listen too: give each endpoint its own address"))
        }
        for (key, listen) in [("metrics", metrics?.listen), ("wallboard", wallboard?.listen)] {
            if case .unix(let path) = listen, path == paths.socket {
                problems.append(.init(path: "\(key).listen", reason: "is the workstations' socket (paths.socket)"))
            }
        }
        if paths.socket.isEmpty { problems.append(.init(path: "paths.socket", reason: "must not be empty")) }
        if paths.database.isEmpty { problems.append(.init(path: "paths.database", reason: "must not be empty")) }
        return problems
    }

    static func isSlug(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 64
            && s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }
}
