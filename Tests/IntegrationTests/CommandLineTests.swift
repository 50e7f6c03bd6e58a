import Foundation
import HotlineClient
import HotlineCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `hotlined --check-config` and `hotlinectl`, run as a person or a script would.
@Suite(.serialized)
struct CommandLineTests {
    @Test func checkConfigAcceptsTheShippedConfiguration() throws {
        let r = try run(Daemon.hotlined, ["--check-config", "--config", Daemon.shippedConfig])
        #expect(r.status == 0)
        #expect(r.stdout.contains("valid"))
    }

    @Test(arguments: [
        ("limits:\n  max_line_byte: 10\n", "limits.max_line_byte"),
        (
            "routes:\n  - name: emergency\n    numbers: [\"999\"]\n    grade: urgent\n    marking: OFFICIAL\n    anonymity: forbidden\n",
            "routes.0.grade"
        ),
        (
            "routes:\n  - name: a\n    numbers: [\"999\"]\n    grade: emergency\n    marking: OFFICIAL\n    anonymity: forbidden\n  - name: b\n    numbers: [\"999\"]\n    grade: emergency\n    marking: OFFICIAL\n    anonymity: forbidden\n",
            "routes.1.numbers.0"
        ),
    ])
    func checkConfigNamesTheBadKey(yaml: String, key: String) throws {
        let daemon = try Daemon()
        // Replace the section under test with the bad one.
        var text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        let section = String(yaml.prefix { $0 != ":" })
        text = text.replacingOccurrences(
            of: "(?ms)^\(section):\n(  .*?\n|\n|#.*?\n)*(?=^[a-z])", with: yaml + "\n", options: .regularExpression)
        try text.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        let r = try run(Daemon.hotlined, ["--check-config", "--config", daemon.configPath])
        #expect(r.status == 78)
        #expect(r.stderr.contains(key), "stderr: \(r.stderr)")
    }

    /// `storage:` is checked like every other section, and a daemon told to keep its log in
    /// PostgreSQL, which this version cannot yet, refuses to start rather than quietly keep
    /// it on one disk.
    @Test(arguments: [
        ("storage:\n  engine: postgres\n", "storage.engine"),
        ("storage:\n  engine: postgresql\n  postgresql:\n    hosts: [\"db2:99999\"]\n", "storage.postgresql.hosts.0"),
        ("storage:\n  engine: postgresql\n  postgresql:\n    hosts: [\"db2\"]\n    tls: maybe\n", "storage.postgresql.tls"),
        ("storage:\n  postgresql:\n    hosts: [\"db2\"]\n", "storage.postgresql"),
    ])
    func checkConfigNamesABadStorageKey(yaml: String, key: String) throws {
        let daemon = try Daemon()
        try (String(contentsOfFile: daemon.configPath, encoding: .utf8) + "\n" + yaml).write(
            toFile: daemon.configPath, atomically: true, encoding: .utf8)
        let r = try run(Daemon.hotlined, ["--check-config", "--config", daemon.configPath])
        #expect(r.status == 78)
        #expect(r.stderr.contains(key), "stderr: \(r.stderr)")
    }

    @Test func hotlinectlLogsAndShowsACall() throws {
        let daemon = try Daemon()
        try daemon.start()
        let env = ["HOTLINE_SOCKET": daemon.socket]
        let start = try run(
            Daemon.hotlinectl, ["start", "--dialled", "999", "--cli", "+447700900123", "--handler", "4471", "--json"], environment: env)
        #expect(start.status == 0)
        let ack = try JSONParser.parse(start.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let call = try #require(ack["call_id"]?.stringValue)
        #expect(ack["route"] == "emergency")
        let update = try run(
            Daemon.hotlinectl, ["update", call, "--threat-to-life", "true", "--note", "Smoke seen", "--handler", "4471"], environment: env)
        #expect(update.status == 0)
        #expect(update.stdout.contains("ESCALATED"))
        let end = try run(Daemon.hotlinectl, ["--socket", daemon.socket, "end", call, "--outcome", "dispatched"])
        #expect(end.status == 0)
        let show = try run(Daemon.hotlinectl, ["show", call], environment: env)
        #expect(show.stdout.contains("Smoke seen"))
        #expect(show.stdout.contains("threat-to-life"))
        #expect(show.stdout.contains("dispatched"))
        // Beside what the workstation declared, who the daemon saw write it, and when.
        let uid = getuid()
        #expect(show.stdout.contains("  started by  \(uid)\n"), "\(show.stdout)")
        #expect(show.stdout.contains("  logged      20"), "\(show.stdout)")
        #expect(show.stdout.contains("  4471 [uid \(uid), logged 20"), "\(show.stdout)")
        // A note dated before the call was received is refused, naming the field.
        let backdated = try run(
            Daemon.hotlinectl, ["update", call, "--note", "Was here first", "--at", "2020-01-01T00:00:00Z"], environment: env)
        #expect(backdated.status == 1)
        #expect(backdated.stderr.contains("at") && backdated.stderr.contains("before the call was received"), "\(backdated.stderr)")
        let list = try run(
            Daemon.hotlinectl, ["list", "--from", "2020-01-01T00:00:00Z", "--reason", "Checking the call was logged"], environment: env)
        #expect(list.stdout.contains(call))
        let stats = try run(Daemon.hotlinectl, ["stats", "--json"], environment: env)
        #expect(try JSONParser.parse(stats.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["events"] == 3)
        // The daemon's message and a non-zero exit on failure.
        let bad = try run(Daemon.hotlinectl, ["end", call, "--outcome", "finished"], environment: env)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("outcome"))
        let down = try run(Daemon.hotlinectl, ["--socket", daemon.directory + "/nothing.sock", "stats"])
        #expect(down.status != 0)
        #expect(down.stderr.contains("cannot connect"))
        // A grade or marking the protocol does not know is refused in the daemon's words
        // (hotlinectl reads it with the daemon's own reader), as text or as the JSON line.
        let grade = try run(Daemon.hotlinectl, ["update", call, "--grade", "urgent"], environment: env)
        #expect(grade.status == 1)
        #expect(
            grade.stderr
                == "hotlinectl: invalid (set.grade): \"set.grade\" must be one of: emergency, priority, scheduled, resolution.\n",
            "\(grade.stderr)")
        let marking = try run(Daemon.hotlinectl, ["update", call, "--marking", "TOP-SECRET", "--json"], environment: env)
        #expect(marking.status == 1)
        let line = try JSONParser.parse(marking.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(line["ok"] == false && line["error"]?["field"] == "set.marking", "\(marking.stdout)")
        let raised = try run(Daemon.hotlinectl, ["update", call, "--marking", "SECRET", "--json"], environment: env)
        #expect(try JSONParser.parse(raised.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["marking"] == "SECRET")
    }

    /// Issue 18: a call's channel, its interpreter or relay assistant and an online report's
    /// form reference, given to `start` and `update` and shown by `show` and `list`.
    @Test func hotlinectlLogsAndShowsACallsChannel() throws {
        let daemon = try Daemon()
        try daemon.start()
        let env = ["HOTLINE_SOCKET": daemon.socket]
        func start(_ arguments: [String]) throws -> (call: String, route: String?) {
            let r = try run(Daemon.hotlinectl, ["start"] + arguments + ["--json"], environment: env)
            #expect(r.status == 0, "\(arguments): \(r.stderr)")
            let ack = try JSONParser.parse(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            return (try #require(ack["call_id"]?.stringValue), ack["route"]?.stringValue)
        }
        func show(_ call: String) throws -> String {
            let r = try run(Daemon.hotlinectl, ["show", call], environment: env)
            #expect(r.status == 0, "\(r.stderr)")
            return r.stdout
        }
        // 999 through the BSL video relay: an emergency like any 999 call, with its interpreter.
        let bsl = try start([
            "--dialled", "999", "--channel", "video-relay-bsl", "--relay-reference", "BSL-4471", "--caller-contact", "07700900123",
        ])
        #expect(bsl.route == "emergency")
        let bslShown = try show(bsl.call)
        #expect(bslShown.contains("  dialled     999\n  channel     video-relay-bsl\n"), "\(bslShown)")
        #expect(bslShown.contains("  relay       interpreter, reference BSL-4471\n"), "\(bslShown)")
        // A label longer than the column is not cut into its value.
        #expect(bslShown.contains("  caller contact  07700900123\n"), "\(bslShown)")
        #expect(!bslShown.contains("form ref"), "\(bslShown)")
        // A supervisor's console says how the caller reached the room, before the reason.
        let alerts = try run(Daemon.hotlinectl, ["alerts"], environment: env)
        #expect(alerts.stdout.contains("ALERT L1  VIDEO-RELAY-BSL  EMERGENCY-LINE  route emergency"), "\(alerts.stdout)")

        // An online report names no number: its channel routes it, and its form is shown.
        let online = try start(["--channel", "online", "--form-reference", "ACT-2026-118204"])
        #expect(online.route == "anti-terrorist-hotline")
        let onlineShown = try show(online.call)
        #expect(onlineShown.contains("  dialled     -\n  channel     online\n"), "\(onlineShown)")
        #expect(onlineShown.contains("  form ref    ACT-2026-118204\n"), "\(onlineShown)")
        #expect(!onlineShown.contains("  relay "), "\(onlineShown)")

        // Relay UK's 999: the relay assistant's reference, learnt after the start, by update.
        let relayed = try start(["--dialled", "18000", "--channel", "text-relay"])
        #expect(relayed.route == "emergency")
        #expect(try show(relayed.call).contains("  relay       relay-assistant, no reference yet\n"))
        let update = try run(Daemon.hotlinectl, ["update", relayed.call, "--relay-reference", "RA-0193"], environment: env)
        #expect(update.status == 0, "\(update.stderr)")
        #expect(try show(relayed.call).contains("  relay       relay-assistant, reference RA-0193\n"))

        // list --channel lists that channel's calls alone, in a column of their own.
        let texts = [try start(["--dialled", "999", "--channel", "sms"]).call, try start(["--dialled", "999", "--channel", "sms"]).call]
        let voice = try start(["--dialled", "999"]).call
        let reason = ["--from", "2020-01-01T00:00:00Z", "--reason", "Reviewing the night's emergency texts"]
        let list = try run(Daemon.hotlinectl, ["list", "--channel", "sms"] + reason, environment: env)
        #expect(list.status == 0, "\(list.stderr)")
        let lines = list.stdout.split(separator: "\n")
        #expect(lines.first?.contains(" CALL                                  CHANNEL          ROUTE ") == true, "\(list.stdout)")
        #expect(lines.count == 3, "\(list.stdout)")
        for call in texts {
            #expect(lines.contains { $0.contains("\(call)  sms              emergency  ") }, "\(list.stdout)")
        }
        for call in [voice, bsl.call, online.call, relayed.call] { #expect(!list.stdout.contains(call), "\(list.stdout)") }
        // Without it, every call, each with its channel.
        let all = try run(Daemon.hotlinectl, ["list"] + reason, environment: env)
        #expect(all.stdout.contains("\(online.call)  online           anti-terrorist-hotline  "), "\(all.stdout)")
        #expect(all.stdout.contains("\(voice)  voice            emergency  "), "\(all.stdout)")
    }

    /// A channel or relay kind the protocol does not know is refused before anything is sent,
    /// with the choices; one the daemon refuses on that channel is shown in its words.
    @Test func hotlinectlRefusesAnUnknownChannelAndShowsTheDaemonsRefusalOfARelay() throws {
        let daemon = try Daemon()
        try daemon.start()
        let env = ["HOTLINE_SOCKET": daemon.socket]
        let fax = try run(Daemon.hotlinectl, ["start", "--dialled", "999", "--channel", "fax"], environment: env)
        #expect(fax.status == 64)
        #expect(fax.stderr.contains("'fax'") && fax.stderr.contains("--channel"), "\(fax.stderr)")
        for channel in CallChannel.allCases { #expect(fax.stderr.contains("'\(channel.rawValue)'"), "\(fax.stderr)") }
        let kind = try run(Daemon.hotlinectl, ["update", UUIDText.random(), "--relay-kind", "signer"], environment: env)
        #expect(kind.status == 64)
        #expect(kind.stderr.contains("'interpreter'") && kind.stderr.contains("'relay-assistant'"), "\(kind.stderr)")
        // --help lists them (its lines wrapped to the terminal's width).
        let help = try run(Daemon.hotlinectl, ["start", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.contains("(values: voice, text-relay, sms, video-relay-bsl, online; default: voice)"), "\(help)")
        // Only an online report may leave out the number.
        let unnumbered = try run(Daemon.hotlinectl, ["start", "--channel", "sms"], environment: env)
        #expect(unnumbered.status == 64)
        #expect(unnumbered.stderr.contains("--dialled") && unnumbered.stderr.contains("--channel online"), "\(unnumbered.stderr)")

        // An SMS has nobody between the public and the handler: the daemon says so.
        let sms = ["start", "--dialled", "999", "--channel", "sms", "--relay-reference", "RA-0193"]
        let refused = try run(Daemon.hotlinectl, sms, environment: env)
        #expect(refused.status == 1)
        #expect(refused.stderr.hasPrefix("hotlinectl: invalid (call.relay): \"call.relay\" is for a call"), "\(refused.stderr)")
        let line = try run(Daemon.hotlinectl, sms + ["--json"], environment: env)
        #expect(line.status == 1)
        let answer = try JSONParser.parse(line.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(answer.errorCode == "invalid" && answer.errorField == "call.relay", "\(line.stdout)")
        let stats = try run(Daemon.hotlinectl, ["stats", "--json"], environment: env)
        #expect(try JSONParser.parse(stats.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["events"] == 0)
    }

    @Test func identityAndNotesCanBeGivenOutsideTheProcessList() throws {
        let daemon = try Daemon()
        try daemon.start()
        let env = ["HOTLINE_SOCKET": daemon.socket]
        let identity = #"{"cli": "+44 7700 900777", "name": "Pat Private"}"#
        let start = try run(
            Daemon.hotlinectl, ["start", "--dialled", "999", "--caller-from", "-", "--json"], stdin: identity, environment: env)
        #expect(start.status == 0, "\(start.stderr)")
        let call = try #require(try JSONParser.parse(start.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["call_id"]?.stringValue)
        let noteFile = daemon.directory + "/note.txt"
        try "Caller fears reprisals\n".write(toFile: noteFile, atomically: true, encoding: .utf8)
        let update = try run(Daemon.hotlinectl, ["update", call, "--note-from", noteFile], environment: env)
        #expect(update.status == 0, "\(update.stderr)")
        let shown = try daemon.connect().call(["op": "call.get", "call_id": .string(call)])
        #expect(shown["call"]?["cli"] == "+44 7700 900777")
        #expect(shown["call"]?["caller"]?["name"] == "Pat Private")
        #expect(shown["call"]?["notes"]?.arrayValue?.map { $0["text"] } == ["Caller fears reprisals"])
        // Bad input says what is wrong; flags and --caller-from together are refused.
        let bad = try run(
            Daemon.hotlinectl, ["start", "--dialled", "101", "--caller-from", "-"], stdin: #"{"nmae": "x"}"#, environment: env)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("\"nmae\" is not an identity field"), "\(bad.stderr)")
        let both = try run(
            Daemon.hotlinectl, ["start", "--dialled", "101", "--caller-from", "-", "--cli", "01"], stdin: "{}", environment: env)
        #expect(both.status != 0)
        #expect(both.stderr.contains("not both"), "\(both.stderr)")
    }

    @Test func theDaemonRefusesToStartWithoutAKey() throws {
        let daemon = try Daemon()
        try FileManager.default.removeItem(atPath: daemon.directory + "/hotlined.key")
        let r = try run(Daemon.hotlined, ["--config", daemon.configPath, "--socket", daemon.socket, "--database", daemon.database])
        #expect(r.status == 78)  // EX_CONFIG: systemd does not restart it (RestartPreventExitStatus=78)
        #expect(r.stderr.contains("refusing to start without an encryption key"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: daemon.database), "nothing may be written without a key")
        // A key that is not 64 hexadecimal characters is no key either.
        try "0123abcd\n".write(toFile: daemon.directory + "/hotlined.key", atomically: true, encoding: .utf8)
        chmod(daemon.directory + "/hotlined.key", 0o600)
        let short = try run(Daemon.hotlined, ["--config", daemon.configPath, "--socket", daemon.socket, "--database", daemon.database])
        #expect(short.status == 78)
        #expect(short.stderr.contains("64 hexadecimal characters"), "\(short.stderr)")
    }

    @Test func theDaemonRefusesAKeyOthersCanReadAndDumpsNoCore() throws {
        let daemon = try Daemon()
        let key = daemon.directory + "/hotlined.key"
        chmod(key, 0o644)
        let open = try run(Daemon.hotlined, ["--config", daemon.configPath, "--socket", daemon.socket, "--database", daemon.database])
        #expect(open.status == 78)
        #expect(open.stderr.contains("has permissions 644, too open"), "\(open.stderr)")
        #expect(open.stderr.contains("chmod 0400 \(key)"), "\(open.stderr)")
        #expect(!FileManager.default.fileExists(atPath: daemon.database), "nothing may be written with a key others can read")
        // With the key closed again it starts, and can never dump a core.
        chmod(key, 0o400)
        try daemon.start()
        let limits = try String(contentsOfFile: "/proc/\(daemon.process!.processIdentifier)/limits", encoding: .utf8)
        let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }
        #expect(core.map { Array($0.split(separator: " ").dropFirst(4).prefix(2)) } == ["0", "0"], "\(core ?? "no line")")
    }

    @Test func hotlinectlSaysWhyItReadsAndAsksForAReasonAtATerminal() throws {
        let daemon = try Daemon()
        try daemon.start()
        let env = ["HOTLINE_SOCKET": daemon.socket]
        let list = ["list", "--from", "2020-01-01T00:00:00Z"]
        // root is a supervisor and an auditor: listing every call needs a reason (shipped
        // reasons_required). Without a terminal nothing is asked.
        let bare = try run(Daemon.hotlinectl, list, environment: env)
        #expect(bare.status == 1)
        #expect(bare.stderr.contains("invalid (reason): \"reason\" is required: as auditor and supervisor"), "\(bare.stderr)")
        let given = try run(Daemon.hotlinectl, list + ["--reason", "Weekly review of hotline calls"], environment: env)
        #expect(given.status == 0, "\(given.stderr)")
        var expected = ["Weekly review of hotline calls"]
        // At a terminal (script(1) gives it one) hotlinectl asks, and sends what is typed.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/script") {
            let command = ([Daemon.hotlinectl, "--socket", daemon.socket] + list).joined(separator: " ")
            let asked = try run("/usr/bin/script", ["-qec", command, "/dev/null"], stdin: "Asked at the terminal\n")
            #expect(asked.status == 0, "\(asked.stdout) \(asked.stderr)")
            #expect(asked.stdout.contains("A reason is required for listing calls (kept in the audit log): "), "\(asked.stdout)")
            // Nothing is asked when none is required: a call one started, read at a terminal.
            let start = try run(Daemon.hotlinectl, ["start", "--dialled", "101", "--json"], environment: env)
            let call = try #require(
                try JSONParser.parse(start.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["call_id"]?.stringValue)
            let own = try run(
                "/usr/bin/script", ["-qec", "\(Daemon.hotlinectl) --socket \(daemon.socket) show \(call)", "/dev/null"], stdin: "")
            #expect(own.status == 0, "\(own.stdout)")
            #expect(!own.stdout.contains("A reason is required"), "\(own.stdout)")
            expected.append("Asked at the terminal")
        } else {
            print("skipped: the terminal prompt needs /usr/bin/script")
        }
        let audit = try run(Daemon.hotlinectl, ["audit", "--json", "--from", "2020-01-01T00:00:00Z"], environment: env)
        let entries = try JSONParser.parse(audit.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["entries"]?.arrayValue ?? []
        #expect(entries.compactMap { $0["reason"]?.stringValue } == expected)
        let table = try run(Daemon.hotlinectl, ["audit", "--from", "2020-01-01T00:00:00Z"], environment: env)
        #expect(table.stdout.contains("reason \"Weekly review of hotline calls\""), "\(table.stdout)")
        // An offline verify writes no audit entry, so it takes no reason.
        let offline = try run(Daemon.hotlinectl, ["verify", "--database", daemon.database, "--reason", "x"])
        #expect(offline.status != 0)
        #expect(offline.stderr.contains("--reason is kept in the daemon's audit log"), "\(offline.stderr)")
    }

    /// Each read that reasons_required lists needs a reason; those it does not list need none.
    @Test func everyListedReadNeedsAReasonAndNoOtherDoes() throws {
        let daemon = try Daemon()
        let config = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        let stricter = config.replacingOccurrences(
            of: "  auditor: [call.get, calls.list, export]", with: "  auditor: [call.get, calls.list, export, audit.list, verify]")
        #expect(stricter != config)
        try stricter.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        try daemon.start()
        let c = try daemon.connect()
        let call = try #require(try c.call(Req.start(dialled: "101"))["call_id"])
        let day: [String: JSONValue] = ["from": "2020-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"]
        let reads: [[String: JSONValue]] = [
            ["op": "calls.list"].merging(day) { a, _ in a }, ["op": "export", "shift": "previous"],
            ["op": "audit.list"].merging(day) { a, _ in a }, ["op": "verify"],
        ]
        // root holds every role: each of these is allowed only as a supervisor or an auditor.
        for read in reads {
            let refused = try c.call(.object(read))
            #expect(refused.errorCode == "invalid", "\(read)")
            #expect(refused.errorField == "reason", "\(read)")
            #expect(try c.call(.object(read.merging(["reason": "Test"]) { a, _ in a })).isOK, "\(read)")
        }
        // The call root started: read as its handler, which is not listed.
        #expect(try c.call(["op": "call.get", "call_id": call]).isOK)
    }

    @Test func hotlinectlSendSpeaksTheRawProtocol() throws {
        let daemon = try Daemon()
        try daemon.start()
        let call = UUIDText.random()
        let input =
            [Req.start(call: call, dialled: "0800 789 321", req: 1), ["op": "call.get", "call_id": .string(call), "req": 2]]
            .map { JSONWriter.string($0) }.joined(separator: "\n") + "\n\nnot json\n"
        let r = try run(Daemon.hotlinectl, ["--socket", daemon.socket, "send"], stdin: input)
        let lines = r.stdout.split(separator: "\n").map { try! JSONParser.parse(String($0)) }
        #expect(lines.count == 3)
        #expect(lines[0]["req"] == 1)
        #expect(lines[0]["route"] == "anti-terrorist-hotline")
        #expect(lines[1]["call"]?["id"] == .string(call))
        #expect(lines[2].errorCode == "bad_json")
        #expect(r.status == 1)  // one response failed
    }

    @Test(.enabled(if: Requires.rootAndSetpriv, "needs root and /usr/bin/setpriv"))
    func peersWithoutARoleOrAsHandlersAreLimited() throws {
        // uid 65534 is a handler by number; uid 65533 holds no role.
        let daemon = try Daemon(extraYAML: "")
        var config = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        config = config.replacingOccurrences(
            of: "  handler:\n    groups: [hotline]", with: "  handler:\n    users: [\"65534\"]\n    groups: [hotline]")
        try config.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        try daemon.start()
        daemon.openSocketToEveryone()
        func send(as uid: Int, _ requests: [JSONValue]) throws -> [JSONValue] {
            let input = requests.map { JSONWriter.string($0) }.joined(separator: "\n") + "\n"
            let r = try run(
                "/usr/bin/setpriv",
                ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", Daemon.hotlinectl, "--socket", daemon.socket, "send"], stdin: input)
            return r.stdout.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
        }
        let rootCall = UUIDText.random()
        #expect(try daemon.connect().call(Req.start(call: rootCall, dialled: "101")).isOK)

        let nobody = try send(as: 65533, [["op": "hello", "protocol": 1], ["op": "ping"], Req.start(), ["op": "stats"]])
        #expect(nobody.count == 4)
        #expect(nobody[0]["role"] == .null)
        #expect(nobody[1].isOK)
        #expect(nobody[2].errorCode == "forbidden")
        #expect(nobody[3].errorCode == "forbidden")

        let own = UUIDText.random()
        let handler = try send(
            as: 65534,
            [
                ["op": "hello", "protocol": 1],
                Req.start(call: own, dialled: "0800789321"),
                Req.update(call: own, set: ["marking": "SECRET"]),
                Req.update(call: own, set: ["marking": "OFFICIAL"]),
                ["op": "call.get", "call_id": .string(own)],
                ["op": "call.get", "call_id": .string(rootCall)],
                ["op": "calls.list", "from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z"],
            ])
        #expect(handler.count == 7)
        #expect(handler[0]["role"] == "handler")
        #expect(handler[1].isOK)
        #expect(handler[2]["marking"] == "SECRET")  // raising is allowed
        #expect(handler[3].errorCode == "forbidden")  // lowering is not
        #expect(handler[3].errorField == "set.marking")
        #expect(handler[4]["call"]?["marking"] == "SECRET")
        #expect(handler[5].errorCode == "forbidden")  // another user's call
        #expect(handler[6]["calls"]?.arrayValue?.map { $0["call_id"] } == [.string(own)])
        // A supervisor (root holds every role) may lower it.
        let lower = Req.update(call: own, set: ["marking": "OFFICIAL"], reason: "declassified by the duty inspector")
        #expect(try daemon.connect().call(lower)["marking"] == "OFFICIAL")
    }
}

/// The fuzz target built normally replays a corpus through the same checks as libFuzzer
/// runs (make fuzz): the seed corpus passes them.
@Suite struct FuzzCorpusTests {
    @Test func theSeedCorpusPassesTheFuzzChecks() throws {
        let corpus = Daemon.packageRoot.appendingPathComponent("Tests/FuzzCorpus").path
        let r = try run(Daemon.binDirectory + "/hotline-fuzz", [corpus])
        #expect(r.status == 0, "\(r.stderr)")
        let count = try FileManager.default.contentsOfDirectory(atPath: corpus).count
        #expect(r.stdout.contains("\(count) inputs checked"), "\(r.stdout)")
    }
}
