import Foundation
import Testing

/// The man pages (scdoc sources in docs/man) and the programs agree: every command and
/// option the built programs have (swift-argument-parser's `--experimental-dump-help`) is
/// documented in its page, every option a page documents exists, every configuration key the
/// strict decoder knows is in hotlined.yaml(5), and debian/changelog's version is the
/// programs'. A renamed option, a new subcommand or a new configuration section fails here
/// until the page says so.
@Suite struct ManPageTests {
    /// A command as the argument parser describes it: its long options (and `-h` etc. as
    /// written, without dashes), and its subcommands.
    struct Command {
        var name: String
        var options: Set<String>
        var subcommands: [Command]

        init(_ json: [String: Any]) {
            name = json["commandName"] as? String ?? ""
            var options: Set<String> = []
            for argument in json["arguments"] as? [[String: Any]] ?? [] {
                guard argument["kind"] as? String != "positional", argument["shouldDisplay"] as? Bool ?? true else { continue }
                for n in argument["names"] as? [[String: Any]] ?? [] where n["kind"] as? String == "long" {
                    if let name = n["name"] as? String { options.insert(name) }
                }
            }
            self.options = options
            subcommands = (json["subcommands"] as? [[String: Any]] ?? []).map(Command.init).filter { $0.name != "help" }
        }
    }

    static func command(_ binary: String) throws -> Command {
        let dump = try run(binary, ["--experimental-dump-help"])
        try #require(dump.status == 0, "\(binary) --experimental-dump-help: \(dump.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
        return Command(try #require(json["command"] as? [String: Any]))
    }

    static func page(_ name: String) throws -> String {
        try String(contentsOfFile: Daemon.packageRoot.appendingPathComponent("docs/man/\(name).scd").path, encoding: .utf8)
    }

    /// The text of each `# SECTION` (level 1) or `## command` (level 2) of a page, by title.
    static func sections(_ page: String, marker: String) -> [String: String] {
        var result: [String: String] = [:]
        var title: String? = nil
        for line in page.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("#") {
                let hashes = line.prefix { $0 == "#" }.count
                if hashes == marker.count {
                    title = String(line.dropFirst(hashes)).trimmingCharacters(in: .whitespaces)
                    result[title!] = ""
                    continue
                }
                if hashes < marker.count { title = nil }
            }
            if let title { result[title, default: ""] += line + "\n" }
        }
        return result
    }

    /// The options a piece of a page documents: `*--name*` on a line that starts a definition
    /// (`*--lat* _DEGREES_, *--lon* _DEGREES_` documents both).
    static func documented(_ text: String) -> Set<String> {
        var names: Set<String> = []
        for line in text.split(separator: "\n") where line.hasPrefix("*-") {
            let parts = line.components(separatedBy: "*--").dropFirst()
            for part in parts {
                guard let end = part.firstIndex(of: "*") else { continue }
                names.insert(String(part[..<end]))
            }
        }
        return names
    }

    @Test func hotlinectlsPageDocumentsEveryCommandAndOptionAndNoOther() throws {
        let ctl = try Self.command(Daemon.hotlinectl)
        let page = try Self.page("hotlinectl.1")
        #expect(ctl.subcommands.count == 17, "hotlinectl has \(ctl.subcommands.map(\.name)); update hotlinectl.1.scd")
        let global = try #require(Self.sections(page, marker: "#")["OPTIONS"])
        #expect(Self.documented(global) == ctl.options, "hotlinectl's own options: \(ctl.options.sorted())")
        let commands = Self.sections(page, marker: "##")
        #expect(
            Set(commands.keys) == Set(ctl.subcommands.map(\.name)),
            "hotlinectl.1.scd's commands \(commands.keys.sorted()) are not hotlinectl's \(ctl.subcommands.map(\.name).sorted())")
        for sub in ctl.subcommands {
            let section = try #require(commands[sub.name], "hotlinectl.1.scd has no \"## \(sub.name)\"")
            let options = sub.options.subtracting(["help"])
            let missing = options.subtracting(Self.documented(section)).sorted()
            let stale = Self.documented(section).subtracting(options).sorted()
            #expect(missing.isEmpty, "hotlinectl \(sub.name): undocumented options \(missing)")
            #expect(stale.isEmpty, "hotlinectl \(sub.name): documented options it does not have: \(stale)")
        }
        for name in ["HOTLINE_SOCKET", "CREDENTIALS_DIRECTORY"] {
            #expect(Self.sections(page, marker: "#")["ENVIRONMENT"]?.contains("*\(name)*") == true, "\(name)")
        }
    }

    @Test func hotlinedsPageDocumentsEveryOptionAndNoOther() throws {
        let daemon = try Self.command(Daemon.hotlined)
        let page = try Self.page("hotlined.8")
        let sections = Self.sections(page, marker: "#")
        let options = try #require(sections["OPTIONS"])
        #expect(Self.documented(options) == daemon.options, "hotlined's options: \(daemon.options.sorted())")
        for title in ["NAME", "SYNOPSIS", "DESCRIPTION", "SIGNALS", "ENVIRONMENT", "FILES", "EXIT STATUS", "SEE ALSO"] {
            #expect(sections[title] != nil, "hotlined.8.scd has no \(title)")
        }
        // The exit statuses the unit relies on (Restart=, RestartPreventExitStatus=78).
        for status in ["*0*", "*1*", "*74*", "*78*"] { #expect(sections["EXIT STATUS"]?.contains(status) == true, "\(status)") }
    }

    static let route = "{name: emergency, numbers: [\"999\"], grade: emergency, marking: OFFICIAL, anonymity: forbidden"

    /// A configuration valid but for what `routes`, `unrouted` or `extra` add.
    static func document(routes: String? = nil, unrouted: String? = nil, extra: String = "") -> String {
        """
        routes:
          - \(routes ?? route + "}")
        unrouted: \(unrouted ?? "{name: unrouted, grade: scheduled, marking: OFFICIAL, anonymity: allowed}")
        outcomes: [dispatched]

        """ + extra
    }

    /// The keys the strict decoder knows, asked of hotlined itself: a key it does not know
    /// is refused with every key it expects there.
    static func expectedKeys(_ yaml: String, directory: String) throws -> [String]? {
        let path = directory + "/probe.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let check = try run(Daemon.hotlined, ["--check-config", "--config", path])
        guard let range = check.stderr.range(of: "unknown key \"zz_unknown\" (expected one of: ") else { return nil }
        let rest = check.stderr[range.upperBound...]
        return rest[..<(rest.firstIndex(of: ")") ?? rest.endIndex)].components(separatedBy: ", ")
    }

    @Test func hotlinedYAMLsPageDocumentsEveryConfigurationKey() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("manpage-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let page = try Self.page("hotlined.yaml.5")
        let headings = Set(Self.sections(page, marker: "#").keys)

        let top = try #require(
            try Self.expectedKeys(Self.document(extra: "zz_unknown: 1\n"), directory: directory), "no list of top-level keys")
        // A section each ("# ROUTES AND UNROUTED" is two).
        let sectionKeys = Set(headings.flatMap { $0.components(separatedBy: " AND ") })
        for key in top {
            #expect(sectionKeys.contains(key.uppercased()), "hotlined.yaml.5.scd has no section \"# \(key.uppercased())\"")
        }
        // Every mapping section (a new one too), and the lists' items, by the keys the
        // decoder expects there.
        var probes: [(prefix: String, yaml: String)] = top.filter { !["routes", "unrouted", "outcomes"].contains($0) }
            .map { ($0, Self.document(extra: "\($0): {zz_unknown: 1}\n")) }
        probes += [
            ("routes", Self.document(routes: Self.route + ", zz_unknown: 1}")),
            ("answer_standard", Self.document(routes: Self.route + ", answer_standard: {zz_unknown: 1}}")),
            ("categories", Self.document(routes: Self.route + ", categories: [{zz_unknown: 1}]}")),
            ("match", Self.document(routes: Self.route + ", match: [{zz_unknown: 1}]}")),
            ("unrouted", Self.document(unrouted: "{zz_unknown: 1}")),
            ("alerts.sinks", Self.document(extra: "alerts: {sinks: [{zz_unknown: 1}]}\n")),
            ("storage.postgresql", Self.document(extra: "storage: {postgresql: {zz_unknown: 1}}\n")),
            ("roles.handler", Self.document(extra: "roles: {handler: {zz_unknown: 1}}\n")),
            ("retention", Self.document(extra: "retention: [{zz_unknown: 1}]\n")),
            ("shifts.schedule", Self.document(extra: "shifts: {schedule: [{zz_unknown: 1}]}\n")),
        ]
        var checked: [String] = []
        for (prefix, yaml) in probes {
            guard let keys = try Self.expectedKeys(yaml, directory: directory) else { continue }
            checked.append(prefix)
            for key in keys {
                #expect(
                    page.contains("*\(key)*") || page.contains("*\(prefix).\(key)*"),
                    "hotlined.yaml.5.scd does not document \(prefix).\(key)")
            }
        }
        #expect(checked.count >= 14, "only \(checked) could be probed")
    }

    @Test func debianChangelogHasTheProgramsVersion() throws {
        let version = try run(Daemon.hotlined, ["--version"])
        try #require(version.status == 0)
        let changelog = try String(
            contentsOfFile: Daemon.packageRoot.appendingPathComponent("debian/changelog").path, encoding: .utf8)
        let first = String(changelog.prefix { $0 != "\n" })
        #expect(
            first.hasPrefix("hotlined (\(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines))) "),
            "debian/changelog's newest entry \"\(first)\" is not hotlined --version's \(version.stdout)")
    }
}
