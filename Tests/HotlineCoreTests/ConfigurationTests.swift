import HotlineCore
import Testing

/// What a configuration that decoded must also satisfy (`Configuration.problems()`), and the
/// route table built from it. YAML decoding is tested with the server.
@Suite struct ConfigurationTests {
    static let emergency = RouteRule(
        name: "emergency", numbers: ["999", "112"], grade: .emergency, marking: .official, anonymity: .forbidden,
        alertOnStart: true
    )
    static let hotline = RouteRule(
        name: "anti-terrorist-hotline", numbers: ["0800 789 321"], grade: .priority, marking: .officialSensitive,
        anonymity: .allowed
    )
    static let nonEmergency = RouteRule(
        name: "non-emergency", numbers: ["101"], grade: .scheduled, marking: .official, anonymity: .allowed
    )
    static let unrouted = RouteRule(
        name: "unrouted", numbers: [], grade: .scheduled, marking: .official, anonymity: .allowed
    )
    static let outcomes = [
        "dispatched", "transferred", "advice-given", "report-taken", "referred", "no-further-action", "abandoned", "hoax",
    ]

    /// The shipped configuration (Config/hotlined.yaml).
    static var shipped: Configuration {
        Configuration(routes: [emergency, hotline, nonEmergency], unrouted: unrouted, outcomes: outcomes)
    }

    static func route(_ name: String, _ numbers: [String]) -> RouteRule {
        RouteRule(name: name, numbers: numbers, grade: .scheduled, marking: .official, anonymity: .allowed)
    }

    @Test func theShippedConfigurationHasNoProblems() {
        #expect(Self.shipped.problems() == [])
        #expect(
            Self.shipped.limits
                == Configuration.Limits(maxLineBytes: 65536, maxConnections: 512, maxPendingPerConnection: 1024, maxBatchEvents: 512))
        #expect(Self.shipped.paths.socket == "/run/hotlined/hotlined.sock")
    }

    // MARK: Numbers

    @Test(arguments: ["0800-789-321", "0800789321", "+44 800 789 321", "0044 800 789 321", "(0800) 789.321"])
    func aNumberOnTwoRoutesIsAProblemWhateverItsForm(number: String) {
        var c = Self.shipped
        c.routes.append(Self.route("tip-line", ["0115 967 0999", number]))
        #expect(
            c.problems() == [
                .init(path: "routes.3.numbers.1", reason: "0800789321 is already routed to \"anti-terrorist-hotline\"")
            ]
        )
    }

    @Test func aNumberTwiceOnTheSameRouteIsAProblem() {
        var c = Self.shipped
        c.routes[0].numbers = ["999", "112", "9 9 9"]
        #expect(c.problems() == [.init(path: "routes.0.numbers.2", reason: "999 is already routed to \"emergency\"")])
    }

    @Test(arguments: ["99a", "", " ", "+1 555 0100", "0800 HOTLINE", "123456789012345678901", "()"])
    func aNumberThatDoesNotNormaliseIsAProblem(number: String) {
        var c = Self.shipped
        c.routes[2].numbers = ["101", number]
        #expect(c.problems() == [.init(path: "routes.2.numbers.1", reason: "\"\(number)\" is not a phone number")])
    }

    @Test func aRouteWithNoNumbersIsAProblem() {
        var c = Self.shipped
        c.routes[1].numbers = []
        #expect(c.problems() == [.init(path: "routes.1.numbers", reason: "must list at least one number (or a match)")])
    }

    @Test func noRoutesAtAllIsAProblem() {
        var c = Self.shipped
        c.routes = []
        #expect(c.problems() == [.init(path: "routes", reason: "must list at least one route")])
    }

    @Test func theFallbackTakesNoNumbers() {
        var c = Self.shipped
        c.unrouted.numbers = ["0300 123 4567"]
        #expect(c.problems() == [.init(path: "unrouted.numbers", reason: "the fallback route takes no numbers")])
    }

    // MARK: Names

    @Test func aRouteNamedTwiceIsAProblem() {
        var c = Self.shipped
        c.routes.append(Self.route("emergency", ["0300 123 4567"]))
        #expect(c.problems() == [.init(path: "routes.3.name", reason: "route \"emergency\" is named twice")])
    }

    @Test func aRouteMayNotTakeTheFallbacksName() {
        var c = Self.shipped
        c.routes.append(Self.route("unrouted", ["0300 123 4567"]))
        #expect(c.problems() == [.init(path: "routes.3.name", reason: "route \"unrouted\" is named twice")])
    }

    @Test(arguments: ["Emergency", "anti terrorist", "non_emergency", "", "route/1", "é", String(repeating: "a", count: 65)])
    func aRouteNameMustBeASlug(name: String) {
        var c = Self.shipped
        c.routes[2].name = name
        #expect(c.problems() == [.init(path: "routes.2.name", reason: "must be lower-case letters, digits and '-'")])
    }

    @Test func theFallbackNameMustBeASlug() {
        var c = Self.shipped
        c.unrouted.name = "Unrouted"
        #expect(c.problems() == [.init(path: "unrouted.name", reason: "must be lower-case letters, digits and '-'")])
    }

    // MARK: Outcomes

    @Test func noOutcomesIsAProblem() {
        var c = Self.shipped
        c.outcomes = []
        #expect(c.problems() == [.init(path: "outcomes", reason: "must list at least one outcome")])
    }

    @Test func anOutcomeMustBeASlug() {
        var c = Self.shipped
        c.outcomes[1] = "Report Taken"
        #expect(
            c.problems() == [.init(path: "outcomes.1", reason: "\"Report Taken\" must be lower-case letters, digits and '-'")]
        )
    }

    @Test func anOutcomeListedTwiceIsAProblem() {
        var c = Self.shipped
        c.outcomes.append("hoax")
        #expect(c.problems() == [.init(path: "outcomes", reason: "lists an outcome twice")])
    }

    // MARK: Limits and paths

    @Test(arguments: [1024, 4096, 65536, 16_777_216])
    func lineLimitsInRangeAreFine(bytes: Int) {
        var c = Self.shipped
        c.limits.maxLineBytes = bytes
        #expect(c.problems() == [])
    }

    @Test(arguments: [Int.min, -1, 0, 1023, 16_777_217, Int.max])
    func lineLimitsOutOfRangeAreAProblem(bytes: Int) {
        var c = Self.shipped
        c.limits.maxLineBytes = bytes
        #expect(c.problems() == [.init(path: "limits.max_line_bytes", reason: "must be between 1024 and 16777216")])
    }

    @Test(arguments: [0, -1])
    func countLimitsMustBeAtLeastOne(value: Int) {
        var c = Self.shipped
        c.limits.maxConnections = value
        c.limits.maxConnectionsPerUID = value
        c.limits.maxPendingPerConnection = value
        c.limits.maxBatchEvents = value
        c.limits.maxQueuedWrites = value
        #expect(
            c.problems() == [
                .init(path: "limits.max_connections", reason: "must be at least 1"),
                .init(path: "limits.max_connections_per_uid", reason: "must be at least 1"),
                .init(path: "limits.max_pending_per_connection", reason: "must be at least 1"),
                .init(path: "limits.max_queued_writes", reason: "must be at least 1"),
                .init(path: "limits.max_batch_events", reason: "must be at least 1"),
            ]
        )
        c.limits.maxConnections = 1
        c.limits.maxConnectionsPerUID = 1
        c.limits.maxPendingPerConnection = 1
        c.limits.maxBatchEvents = 1
        c.limits.maxQueuedWrites = 1
        #expect(c.problems() == [])
    }

    @Test func theFairnessLimitsAreChecked() {
        var c = Self.shipped
        c.limits.maxConnectionsPerUID = 0
        c.limits.maxPendingBytesPerConnection = 65535
        c.limits.maxBulkReadsPerConnection = 0
        c.limits.bulkReadThreads = 65
        c.limits.maxNotesPerAnswer = 0
        c.limits.maxPageBytes = 1000
        c.limits.maxDeliveriesPerSink = 0
        #expect(
            c.problems().map(\.path) == [
                "limits.max_connections_per_uid", "limits.max_pending_bytes_per_connection",
                "limits.max_bulk_reads_per_connection", "limits.bulk_read_threads", "limits.max_notes_per_answer",
                "limits.max_page_bytes",
                "limits.max_deliveries_per_sink",
            ])
        #expect(c.problems().first?.reason == "must be at least 1")
    }

    @Test func pathsMustNotBeEmpty() {
        var c = Self.shipped
        c.paths.socket = ""
        c.paths.database = ""
        #expect(
            c.problems() == [
                .init(path: "paths.socket", reason: "must not be empty"),
                .init(path: "paths.database", reason: "must not be empty"),
            ]
        )
    }

    @Test func everyProblemIsReportedNotJustTheFirst() {
        var c = Self.shipped
        c.unrouted.numbers = ["1"]
        c.routes.append(Self.route("emergency", ["112", "x"]))
        c.outcomes = []
        c.limits.maxBatchEvents = 0
        let problems = c.problems()
        #expect(
            problems == [
                .init(path: "unrouted.numbers", reason: "the fallback route takes no numbers"),
                .init(path: "routes.3.name", reason: "route \"emergency\" is named twice"),
                .init(path: "routes.3.numbers.0", reason: "112 is already routed to \"emergency\""),
                .init(path: "routes.3.numbers.1", reason: "\"x\" is not a phone number"),
                .init(path: "outcomes", reason: "must list at least one outcome"),
                .init(path: "limits.max_batch_events", reason: "must be at least 1"),
            ]
        )
        #expect(problems.first?.description == "unrouted.numbers: the fallback route takes no numbers")
    }

    // MARK: Route table

    @Test func theRouteTableFollowsTheConfiguration() {
        let table = RouteTable(Self.shipped)
        #expect(table.route(for: "999").name == "emergency")
        #expect(table.route(for: "112").name == "emergency")
        #expect(table.route(for: "0800789321").name == "anti-terrorist-hotline")
        #expect(table.route(for: "101").name == "non-emergency")
        #expect(table.route(for: "01159670999").name == "unrouted")
        #expect(table.route(for: "0800789322").name == "unrouted")
        #expect(table.all.map(\.name) == ["emergency", "anti-terrorist-hotline", "non-emergency", "unrouted"])
        #expect(table.rule(named: "emergency")?.alertOnStart == true)
        #expect(table.rule(named: "unrouted") == Self.unrouted)
    }

    @Test func theRouteTableNormalisesConfiguredNumbers() {
        let table = RouteTable(
            routes: [Self.route("a", ["+44 115 967 0999"]), Self.route("b", ["0044 (300) 123-4567"])], unrouted: Self.unrouted
        )
        #expect(table.route(for: "01159670999").name == "a")
        #expect(table.route(for: "03001234567").name == "b")
    }

    @Test func onADuplicateNumberTheFirstRouteWins() {
        let table = RouteTable(routes: [Self.route("first", ["101"]), Self.route("second", ["1 0 1"])], unrouted: Self.unrouted)
        #expect(table.route(for: "101").name == "first")
    }
}
