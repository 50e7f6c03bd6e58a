import Foundation
import HotlineCore
import HotlineServer
import Testing

/// `ConfigurationLoader`: `hotlined.yaml` read strictly, every error naming its dotted key.
@Suite struct ConfigurationLoaderTests {
    /// The shipped configuration, found from this file: Tests/HotlineServerTests/ → the package root.
    static let shippedPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Config/hotlined.yaml").path

    /// A small valid configuration; each test changes one line.
    static let minimal = """
        paths:
          socket: /tmp/hotlined.sock
          database: /tmp/hotlined.sqlite
        limits:
          max_line_bytes: 4096
        routes:
          - name: emergency
            numbers: ["999", "112"]
            grade: emergency
            marking: OFFICIAL
            anonymity: forbidden
            alert_on_start: true
          - name: non-emergency
            numbers: ["101"]
            grade: scheduled
            marking: OFFICIAL
            anonymity: allowed
        unrouted:
          name: unrouted
          grade: scheduled
          marking: OFFICIAL
          anonymity: allowed
        outcomes: [dispatched, hoax]
        roles:
          handler:
            groups: [hotline]
            users: [alice, 1001]
        """

    /// The problems `text` is refused with.
    static func problems(_ text: String) -> [String] {
        do {
            _ = try ConfigurationLoader.parse(text, file: "test.yaml")
            return []
        } catch let failure as ConfigurationLoader.Failure {
            #expect(failure.file == "test.yaml")
            return failure.problems
        } catch {
            return ["not a ConfigurationLoader.Failure: \(error)"]
        }
    }

    /// `minimal` with the first `old` replaced by `new`.
    static func minimal(replacing old: String, with new: String) -> String {
        guard let range = minimal.range(of: old) else { fatalError("\(old) is not in the minimal configuration") }
        return minimal.replacingCharacters(in: range, with: new)
    }

    @Test func theShippedConfigurationLoadsWithTheRoutesOfTheProtocol() throws {
        let c = try ConfigurationLoader.load(path: Self.shippedPath)
        #expect(
            c.routes == [
                RouteRule(
                    name: "emergency", numbers: ["999", "112"], grade: .emergency, marking: .official, anonymity: .forbidden,
                    alertOnStart: true, ackSeconds: 30, answerStandard: AnswerStandard(withinSeconds: 10, share: 0.9),
                    match: [RouteMatch(channel: .textRelay, numbers: ["18000"])]),
                RouteRule(
                    name: "anti-terrorist-hotline", numbers: ["0800 789 321"], grade: .priority, marking: .officialSensitive,
                    anonymity: .allowed,
                    categories: [
                        CategoryLabel(slug: "suspicious-activity", label: "Suspicious activity"),
                        CategoryLabel(slug: "hostile-reconnaissance", label: "Hostile reconnaissance"),
                        CategoryLabel(slug: "suspicious-item-or-vehicle", label: "Suspicious item or vehicle"),
                        CategoryLabel(slug: "online-extremism", label: "Online extremism"),
                        CategoryLabel(slug: "weapons-or-chemicals", label: "Weapons or chemicals"),
                        CategoryLabel(slug: "travel-to-conflict-zones", label: "Travel to conflict zones"),
                        CategoryLabel(slug: "other", label: "Other"),
                    ], match: [RouteMatch(channel: .online)]),
                RouteRule(name: "non-emergency", numbers: ["101"], grade: .scheduled, marking: .official, anonymity: .allowed),
            ])
        #expect(c.unrouted == RouteRule(name: "unrouted", numbers: [], grade: .scheduled, marking: .official, anonymity: .allowed))
        #expect(
            c.outcomes == [
                "dispatched", "transferred", "advice-given", "report-taken", "referred", "no-further-action", "abandoned", "hoax",
            ])
        #expect(
            c.limits
                == Configuration.Limits(
                    maxLineBytes: 65536, maxConnections: 512, maxPendingPerConnection: 1024, maxBatchEvents: 512, maxDatabaseBytes: nil))
        #expect(
            c.paths
                == Configuration.Paths(
                    socket: "/run/hotlined/hotlined.sock", database: "/var/lib/hotlined/hotlined.sqlite", keyFile: nil))
        #expect(c.roles.handler.groups == ["hotline"])
        #expect(c.roles.supervisor.groups == ["hotline-supervisors"])
        #expect(c.roles.auditor.groups == ["hotline-auditors"])
        // DPA 2018 s62(2): supervisors and auditors say why they read calls.
        let calls: Set = ["call.get", "calls.list", "export"]
        #expect(c.reasonsRequired == ReasonsRequired([.supervisor: calls, .auditor: calls]))
        #expect(c.chainAnchors == ChainAnchors(everyRows: 10_000, everySeconds: 300))
        #expect(
            c.alerts
                == AlertSettings(
                    maxLevel: 3, ackSeconds: 60, subscriberQueue: 256,
                    sinks: [AlertSink(name: "journal", kind: .journal, levels: [1, 2, 3])]))

        // The table of PROTOCOL.md section 5, number by number.
        let table = RouteTable(c)
        let expected: [(String, String, Grade, Marking, Anonymity, Bool)] = [
            ("999", "emergency", .emergency, .official, .forbidden, true),
            ("112", "emergency", .emergency, .official, .forbidden, true),
            ("0800789321", "anti-terrorist-hotline", .priority, .officialSensitive, .allowed, false),
            ("101", "non-emergency", .scheduled, .official, .allowed, false),
            ("01159670999", "unrouted", .scheduled, .official, .allowed, false),
        ]
        for (number, name, grade, marking, anonymity, alert) in expected {
            let rule = table.route(for: number)
            #expect(rule.name == name, "\(number)")
            #expect(rule.grade == grade, "\(number)")
            #expect(rule.marking == marking, "\(number)")
            #expect(rule.anonymity == anonymity, "\(number)")
            #expect(rule.alertOnStart == alert, "\(number)")
        }
    }

    @Test func theMinimalConfigurationLoads() throws {
        let c = try ConfigurationLoader.parse(Self.minimal)
        #expect(c.routes.map(\.name) == ["emergency", "non-emergency"])
        #expect(c.limits.maxLineBytes == 4096)
        #expect(c.limits.maxConnections == 512)
        #expect(c.roles.handler.users == ["alice", "1001"])
        #expect(c.roles.supervisor == Configuration.Members())
    }

    @Test(arguments: [
        ("paths:", "colour: red\npaths:", "colour"),
        ("  database: /tmp/hotlined.sqlite", "  databse: /tmp/hotlined.sqlite", "paths.databse"),
        ("  max_line_bytes: 4096", "  max_line_byte: 4096", "limits.max_line_byte"),
        ("    alert_on_start: true", "    alert_on_start: true\n    colour: red", "routes.0.colour"),
        ("    anonymity: allowed\nunrouted:", "    anonymity: allowed\n    colour: red\nunrouted:", "routes.1.colour"),
        ("  anonymity: allowed\noutcomes", "  anonymity: allowed\n  numbrs: []\noutcomes", "unrouted.numbrs"),
        ("    users: [alice, 1001]", "    user: [alice, 1001]", "roles.handler.user"),
        ("  handler:", "  handlers:", "roles.handlers"),
    ])
    func anUnknownKeyAtAnyLevelIsAnErrorNamingIt(old: String, new: String, key: String) {
        let leaf = String(key.split(separator: ".").last!)
        let problems = Self.problems(Self.minimal(replacing: old, with: new))
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("\(key): unknown key \"\(leaf)\" (expected one of: ") == true, "\(problems)")
    }

    @Test func reasonsRequiredNamesRolesAndReadsAndIsCheckedLikeTheRest() throws {
        #expect(try ConfigurationLoader.parse(Self.minimal).reasonsRequired == ReasonsRequired())
        let given = try ConfigurationLoader.parse(Self.minimal + "\nreasons_required:\n  auditor: [audit.list, verify]\n  handler: []\n")
        #expect(given.reasonsRequired == ReasonsRequired([.auditor: ["audit.list", "verify"], .handler: []]))
        #expect(
            Self.problems(Self.minimal + "\nreasons_required:\n  inspector: [export]\n") == [
                "reasons_required.inspector: unknown role \"inspector\" (expected one of: handler, supervisor, auditor)"
            ])
        #expect(
            Self.problems(Self.minimal + "\nreasons_required:\n  supervisor: [call.get, alert.ack]\n") == [
                "reasons_required.supervisor.1: \"alert.ack\" is not a read that takes a reason (expected one of: call.get, calls.list, audit.list, verify, export)"
            ])
        #expect(
            Self.problems(Self.minimal + "\nreasons_required:\n  supervisor: call.get\n") == [
                "reasons_required.supervisor: has the wrong type (expected a list)"
            ])
    }

    @Test func chainAnchorsHaveDefaultsAndBounds() throws {
        #expect(try ConfigurationLoader.parse(Self.minimal).chainAnchors == ChainAnchors())
        #expect(
            Self.problems(Self.minimal + "\nchain_anchors:\n  every_rows: 0\n  every_seconds: 90000\n") == [
                "chain_anchors.every_rows: must be from 1 to 1000000000",
                "chain_anchors.every_seconds: must be from 1 to 86400 (a day)",
            ])
        #expect(
            Self.problems(Self.minimal + "\nchain_anchors:\n  every_row: 5\n").first?.hasPrefix(
                "chain_anchors.every_row: unknown key") == true)
        let anchors = ChainAnchors(everyRows: 100, everySeconds: 60)
        #expect(!anchors.isDue(rows: 0, seconds: 1000))
        #expect(!anchors.isDue(rows: 99, seconds: 59))
        #expect(anchors.isDue(rows: 100, seconds: 0))
        #expect(anchors.isDue(rows: 1, seconds: 60))
    }

    @Test func theUnknownKeyMessageListsTheKnownKeys() {
        let problems = Self.problems(Self.minimal(replacing: "  max_line_bytes: 4096", with: "  max_line_byte: 4096"))
        #expect(
            problems == [
                "limits.max_line_byte: unknown key \"max_line_byte\" (expected one of: bulk_read_threads, idle_timeout_seconds, line_timeout_seconds, max_batch_events, max_bulk_reads_per_connection, max_connections, max_connections_per_uid, max_database_bytes, max_deliveries_per_sink, max_line_bytes, max_notes_per_answer, max_page_bytes, max_pending_bytes_per_connection, max_pending_per_connection, max_queued_writes, write_timeout_seconds)"
            ])
    }

    @Test(arguments: [
        ("  max_line_bytes: 4096", "  max_line_bytes: lots", "limits.max_line_bytes: has the wrong type (expected a number)"),
        (
            "    alert_on_start: true", "    alert_on_start: sometimes",
            "routes.0.alert_on_start: has the wrong type (expected true or false)"
        ),
        ("limits:\n  max_line_bytes: 4096", "limits: 4096", "limits: has the wrong type (expected a mapping)"),
        ("    numbers: [\"101\"]", "    numbers: \"101\"", "routes.1.numbers: has the wrong type (expected a list)"),
        ("outcomes: [dispatched, hoax]", "outcomes: dispatched", "outcomes: has the wrong type (expected a list)"),
        ("    groups: [hotline]", "    groups: {name: hotline}", "roles.handler.groups: has the wrong type (expected a list)"),
        ("  name: unrouted", "  name: [unrouted]", "unrouted.name: has the wrong type (expected a single value, not a list or mapping)"),
    ])
    func aWrongTypeNamesTheKeyAndWhatWasExpected(old: String, new: String, expected: String) {
        #expect(Self.problems(Self.minimal(replacing: old, with: new)) == [expected])
    }

    @Test(arguments: [
        ("    grade: emergency", "    grade: urgent", "routes.0.grade"),
        ("    marking: OFFICIAL\n    anonymity: forbidden", "    marking: official\n    anonymity: forbidden", "routes.0.marking"),
        ("  anonymity: allowed\noutcomes", "  anonymity: sometimes\noutcomes", "unrouted.anonymity"),
    ])
    func aBadEnumValueNamesTheKey(old: String, new: String, key: String) {
        let problems = Self.problems(Self.minimal(replacing: old, with: new))
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("\(key): ") == true, "\(problems)")
    }

    /// Issue 18: a route's `match` names a channel the daemon knows, and an empty list of
    /// numbers is refused rather than read as "every call of the channel".
    @Test func aRouteMatchNamesAKnownChannelAndNoEmptyList() {
        let fax = Self.problems(
            Self.minimal(replacing: "    alert_on_start: true", with: "    alert_on_start: true\n    match: [{channel: fax}]"))
        #expect(fax.count == 1)
        #expect(fax.first?.hasPrefix("routes.0.match.0.channel: ") == true, "\(fax)")
        let empty = Self.problems(
            Self.minimal(
                replacing: "    alert_on_start: true", with: "    alert_on_start: true\n    match: [{channel: text-relay, numbers: []}]"))
        #expect(empty.count == 1)
        #expect(empty.first?.hasPrefix("routes.0.match.0.numbers: ") == true, "\(empty)")
        #expect(empty.first?.contains("leave it out to take every call of the channel") == true, "\(empty)")
        let fine = Self.problems(
            Self.minimal(
                replacing: "    alert_on_start: true",
                with: "    alert_on_start: true\n    match: [{channel: text-relay, numbers: [\"18000\"]}, {channel: sms}]"))
        #expect(fine == [])
    }

    @Test func aMissingRequiredKeyIsNamed() {
        #expect(
            Self.problems(Self.minimal(replacing: "outcomes: [dispatched, hoax]\n", with: ""))
                == ["outcomes: is required but missing"])
        #expect(
            Self.problems(Self.minimal(replacing: "    grade: scheduled\n", with: ""))
                == ["routes.1.grade: is required but missing"])
    }

    @Test func problemsFoundAfterDecodingAreAllReportedWithTheirPath() {
        let text = Self.minimal(replacing: "    numbers: [\"101\"]", with: "    numbers: [\"101\", \"9 9 9\", \"10a\"]")
            .replacingOccurrences(of: "max_line_bytes: 4096", with: "max_line_bytes: 10")
            .replacingOccurrences(of: "outcomes: [dispatched, hoax]", with: "outcomes: [dispatched, Hoax]")
        #expect(
            Self.problems(text) == [
                "routes.1.numbers.1: 999 is already routed to \"emergency\"",
                "routes.1.numbers.2: \"10a\" is not a phone number",
                "outcomes.1: \"Hoax\" must be lower-case letters, digits and '-'",
                "limits.max_line_bytes: must be between 1024 and 16777216",
            ])
        do {
            _ = try ConfigurationLoader.parse(text, file: "/etc/hotlined/hotlined.yaml")
            Issue.record("a configuration with problems loaded")
        } catch {
            let description = "\(error)"
            #expect(description.hasPrefix("/etc/hotlined/hotlined.yaml: \n  - routes.1.numbers.1: "), "\(description)")
            #expect(description.contains("\n  - limits.max_line_bytes: must be between 1024 and 16777216"))
        }
    }

    @Test(arguments: ["routes: [unclosed\n", "paths:\n  socket: a\n   database: b\n  : :\n", "\tpaths: {}\n"])
    func invalidYAMLIsAClearError(text: String) {
        let problems = Self.problems(text)
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("is not valid YAML: ") == true, "\(problems)")
    }

    @Test func aKeyGivenTwiceIsAnErrorNotASilentOverride() {
        let text = Self.minimal(replacing: "    anonymity: forbidden", with: "    anonymity: forbidden\n    anonymity: allowed")
        let problems = Self.problems(text)
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("is not valid YAML: ") == true, "\(problems)")
        #expect(problems.first?.contains("anonymity") == true, "\(problems)")
    }

    @Test func aMissingFileSaysItCannotBeRead() throws {
        let path = "/nonexistent-\(UUIDText.random())/hotlined.yaml"
        do {
            _ = try ConfigurationLoader.load(path: path)
            Issue.record("a missing file loaded")
        } catch let failure as ConfigurationLoader.Failure {
            #expect(failure.file == path)
            #expect(failure.problems.count == 1)
            #expect(failure.problems.first?.hasPrefix("cannot be read (") == true, "\(failure.problems)")
            #expect(failure.description.hasPrefix("\(path): cannot be read ("))
        }
    }

    @Test func aFileOnDiskIsParsedWithItsPathInErrors() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-config-\(UUIDText.random())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("hotlined.yaml").path
        try Self.minimal(replacing: "    grade: emergency", with: "    grade: urgent").write(
            toFile: file, atomically: true, encoding: .utf8)
        do {
            _ = try ConfigurationLoader.load(path: file)
            Issue.record("a bad file loaded")
        } catch let failure as ConfigurationLoader.Failure {
            #expect(failure.file == file)
            #expect(failure.problems.first?.hasPrefix("routes.0.grade: ") == true)
        }
        try Self.minimal.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try ConfigurationLoader.load(path: file) == ConfigurationLoader.parse(Self.minimal))
    }
}
