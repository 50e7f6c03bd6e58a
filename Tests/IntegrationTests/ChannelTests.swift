import Foundation
import GRDB
import HotlineClient
import HotlineCore
import Testing

/// Issue 18 through the daemon with the shipped configuration: every way the public reaches
/// the room is routed, alerted and kept as the rules say, reads back as it was sent, and a
/// changed channel in the database is found by verify.
@Suite(.serialized)
struct ChannelIntegrationTests {
    @Test func everyChannelIsRoutedAlertedAndKeptAsTheRulesSay() throws {
        let daemon = try Daemon()
        try daemon.start()
        let console = try daemon.connect()
        #expect(try console.call(["op": "alerts.subscribe"])["backlog"] == 0)
        let c = try daemon.connect()
        let cli = "+447700900777"
        let name = "Morwenna Trethewey"

        // 999 by SMS, BSL video relay and text relay (18000): emergencies, each alerted at
        // once, the line identity kept though anonymity was asked for.
        var emergencies: [(call: String, channel: String, answer: JSONValue)] = []
        for (channel, dialled) in [("sms", "999"), ("video-relay-bsl", "999"), ("text-relay", "18000"), ("voice", "999")] {
            let call = UUIDText.random()
            var extra: [String: JSONValue] = [
                "channel": .string(channel), "cli": .string(cli), "caller": ["name": .string(name)], "anonymous_requested": true,
            ]
            if channel == "video-relay-bsl" { extra["relay"] = ["reference": "BSL-4471"] }
            let answer = try c.call(Req.start(call: call, dialled: dialled, extra: extra))
            #expect(answer.isOK, "\(channel): \(answer)")
            #expect(answer["route"] == "emergency", "\(channel)")
            #expect(answer["grade"] == "emergency")
            #expect(answer["marking"] == "OFFICIAL")
            #expect(answer["anonymous"] == false)
            #expect(answer["stripped"] == [])
            #expect(answer["notice"]?.stringValue?.contains("keeps the caller's line identity") == true)
            #expect(answer["alert_id"]?.stringValue != nil)
            emergencies.append((call, channel, answer))
        }
        for e in emergencies {
            let push = try console.nextPush()
            #expect(push["alert"]?["call_id"] == .string(e.call))
            #expect(push["alert"]?["reason"] == "emergency-line")
            // The console sees how the caller reached the room without reading the call.
            #expect(push["alert"]?["channel"] == .string(e.channel))
        }
        let bsl = try c.call(["op": "call.get", "call_id": .string(emergencies[1].call)])["call"]
        #expect(bsl?["channel"] == "video-relay-bsl")
        #expect(bsl?["relay"] == ["kind": "interpreter", "reference": "BSL-4471"])
        #expect(bsl?["cli"] == .string(cli))
        let relayed = try c.call(["op": "call.get", "call_id": .string(emergencies[2].call)])["call"]
        #expect(relayed?["relay"] == ["kind": "relay-assistant", "reference": .null])
        #expect(relayed?["dialled"] == "18000")
        let sms = try c.call(["op": "call.get", "call_id": .string(emergencies[0].call)])["call"]
        #expect(sms?["relay"] == .null)
        #expect(sms?["channel"] == "sms")

        // An online counter-terrorism report: no number, the hotline's route, confidential,
        // anonymous at the reporter's wish, no alert until a threat to life is flagged.
        let report = UUIDText.random()
        var online = Req.start(
            call: report, at: "2026-11-24T19:01:40Z",
            extra: [
                "channel": "online", "form_reference": "ACT-2026-118204", "cli": .string(cli), "caller": ["name": .string(name)],
                "anonymous_requested": true, "answered_at": "2026-11-24T19:09:40Z",
            ])
        online = Self.removing(online, "dialled")
        let reported = try c.call(online)
        #expect(reported.isOK, "\(reported)")
        #expect(reported["route"] == "anti-terrorist-hotline")
        #expect(reported["marking"] == "OFFICIAL-SENSITIVE")
        #expect(reported["anonymous"] == true)
        #expect(reported["stripped"] == ["cli", "caller.name"])
        #expect(reported["alert_id"] == .null)
        let flagged = try c.call(Req.update(call: report, set: ["flags": ["threat_to_life": true]]))
        #expect(flagged["alert_id"]?.stringValue != nil)
        let reportAlert = try console.nextPush()["alert"]
        #expect(reportAlert?["call_id"] == .string(report))
        #expect(reportAlert?["channel"] == "online")
        let read = try c.call(["op": "call.get", "call_id": .string(report)])["call"]
        #expect(read?["channel"] == "online")
        #expect(read?["dialled"] == "")
        #expect(read?["form_reference"] == "ACT-2026-118204")
        #expect(read?["received_at"] == "2026-11-24T19:01:40Z")
        #expect(read?["cli"] == .null)

        // The relay's reference survives the caller's erasure on the hotline (text relay, 18001 prefix).
        let relayCall = UUIDText.random()
        let hotline = try c.call(
            Req.start(
                call: relayCall, dialled: "18001 0800 789 321",
                extra: ["channel": "text-relay", "relay": ["reference": "RA-2231"], "cli": .string(cli)]))
        #expect(hotline["route"] == "anti-terrorist-hotline")
        let erased = try c.call(Req.update(call: relayCall, set: ["anonymous_requested": true]))
        #expect(erased["anonymous"] == true)
        let kept = try c.call(["op": "call.get", "call_id": .string(relayCall)])["call"]
        #expect(kept?["relay"] == ["kind": "relay-assistant", "reference": "RA-2231"])
        #expect(kept?["cli"] == .null)
        #expect(kept?["dialled"] == "0800789321")

        // The errors name their fields.
        #expect(try c.call(Req.start(extra: ["channel": "fax"])).errorField == "call.channel")
        #expect(try c.call(Req.start(extra: ["channel": "sms", "relay": ["reference": "X"]])).errorField == "call.relay")
        #expect(try c.call(Req.update(call: emergencies[0].call, set: ["relay": ["reference": "X"]])).errorField == "set.relay")
        #expect(try c.call(Self.removing(Req.start(extra: ["channel": "sms"]), "dialled")).errorField == "call.dialled")

        // calls.list shows each call's channel, and lists one channel's alone.
        let window: [String: JSONValue] = [
            "op": "calls.list", "from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z", "reason": "Shift check",
        ]
        let answer = try c.call(.object(window))
        #expect(answer.isOK, "\(answer)")
        let all = answer["calls"]?.arrayValue ?? []
        #expect(all.count == 6)
        #expect(Set(all.compactMap { $0["channel"]?.stringValue }) == ["sms", "video-relay-bsl", "text-relay", "voice", "online"])
        var onlyBSL = window
        onlyBSL["channel"] = "video-relay-bsl"
        let listed = try c.call(.object(onlyBSL))["calls"]?.arrayValue ?? []
        #expect(listed.map { $0["call_id"] } == [.string(emergencies[1].call)])
        // A summary has no identifying field, but the relay's reference is not one.
        #expect(!JSONWriter.string(.array(all)).contains(name))
        #expect(JSONWriter.string(.array(all)).contains("BSL-4471"))

        // The log verifies, through the daemon and after a restart (the projection read back).
        #expect(try c.call(["op": "verify"])["ok"] == true)
        daemon.stop()
        try daemon.start()
        let again = try daemon.connect().call(["op": "call.get", "call_id": .string(emergencies[1].call)])["call"]
        #expect(again?["relay"] == ["kind": "interpreter", "reference": "BSL-4471"])
        #expect(try daemon.connect().call(["op": "verify"])["ok"] == true)
    }

    /// An insider with the database file cannot pass a BSL call off as a voice call, move a
    /// relay's reference or change a form's reference: verify names the call and the column.
    @Test func aChannelRelayOrFormChangedInTheDatabaseIsFound() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        let bsl = UUIDText.random()
        #expect(
            try c.call(Req.start(call: bsl, dialled: "999", extra: ["channel": "video-relay-bsl", "relay": ["reference": "BSL-1"]]))[
                "alert_id"]?.stringValue != nil)
        #expect(try c.call(Req.update(call: bsl, set: ["relay": ["reference": "BSL-2"]])).isOK)
        let report = UUIDText.random()
        #expect(
            try c.call(Self.removing(Req.start(call: report, extra: ["channel": "online", "form_reference": "ACT-9"]), "dialled")).isOK)
        daemon.stop()
        for (sql, call, column) in [
            ("UPDATE calls SET channel = 'voice' WHERE call_id = ?", bsl, "channel"),
            ("UPDATE calls SET relay_reference = 'BSL-1' WHERE call_id = ?", bsl, "relay"),
            ("UPDATE calls SET relay_kind = NULL, relay_reference = NULL WHERE call_id = ?", bsl, "relay"),
            ("UPDATE calls SET form_reference = 'ACT-10' WHERE call_id = ?", report, "form_reference"),
            ("UPDATE calls SET channel = 'sms' WHERE call_id = ?", report, "channel"),
            // A reference planted beside no kind, on a call that had no relay.
            ("UPDATE calls SET relay_reference = 'planted' WHERE call_id = ?", report, "relay"),
            ("UPDATE calls SET relay_kind = 'bogus', relay_reference = 'planted' WHERE call_id = ?", report, "relay"),
            // The alert a console shows: its channel is its call's.
            ("UPDATE alerts SET channel = 'voice' WHERE call_id = ?", bsl, "alert"),
            ("UPDATE alerts SET channel = 'nonsense' WHERE call_id = ?", bsl, "alert"),
        ] {
            let backup = try Data(contentsOf: URL(fileURLWithPath: daemon.database))
            try DatabaseQueue(path: daemon.database).write { try $0.execute(sql: sql, arguments: [call]) }
            let out = try run(Daemon.hotlinectl, ["verify", "--database", daemon.database])
            #expect(out.status != 0, "\(sql)")
            #expect(out.stdout.contains(call) && out.stdout.contains(column), "\(sql): \(out.stdout)")
            try backup.write(to: URL(fileURLWithPath: daemon.database))
        }
        let clean = try run(Daemon.hotlinectl, ["verify", "--database", daemon.database])
        #expect(clean.status == 0, "\(clean.stdout)")
    }

    static func removing(_ start: JSONValue, _ key: String) -> JSONValue {
        guard case .object(var m) = start, case .object(var call)? = m["call"] else { return start }
        call[key] = nil
        m["call"] = .object(call)
        return .object(m)
    }
}

/// A real day's calls (../shared/data, by Benchmarks/replay-day.py --channels) through the
/// daemon and `hotlinectl export`: the summary's figures by channel are those worked out
/// here from the requests themselves, call by call.
@Suite(.serialized)
struct ChannelReplayTests {
    static let data = Daemon.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/montgomery-911-sample.csv")
    static let available = FileManager.default.fileExists(atPath: data.path) && Requires.executable("/usr/bin/python3")

    @Test(.enabled(if: available, "needs ../shared/data and python3"))
    func aReplayedDaysChannelsAreSummedAsTheRequestsSay() throws {
        let script = Daemon.packageRoot.appendingPathComponent("Benchmarks/replay-day.py").path
        let replay = try run(
            "/usr/bin/python3", [script, "--data", Self.data.path, "--source", "2018-11-15", "--date", "2026-11-23", "--channels"])
        #expect(replay.status == 0, "\(replay.stderr)")
        let lines = replay.stdout.split(separator: "\n").map(String.init)

        // By hand, from the requests: each channel's calls, answered ones, and answer seconds.
        struct Expected {
            var calls = 0
            var seconds: [Double] = []
        }
        var expected: [String: Expected] = [:]
        for line in lines {
            let r = try JSONParser.parse(Array(line.utf8))
            guard r["op"] == "call.start", let call = r["call"] else { continue }
            let channel = call["channel"]?.stringValue ?? "voice"
            let received = try Timestamp(rfc3339: call["received_at"]!.stringValue!)
            expected[channel, default: Expected()].calls += 1
            if let answered = call["answered_at"]?.stringValue {
                expected[channel]!.seconds.append(try Timestamp(rfc3339: answered).seconds(since: received))
            }
        }
        #expect(Set(expected.keys) == ["voice", "text-relay", "sms", "video-relay-bsl", "online"], "\(expected.keys)")

        let daemon = try Daemon()
        try daemon.start()
        let sent = try run(Daemon.hotlinectl, ["--socket", daemon.socket, "send"], stdin: lines.joined(separator: "\n") + "\n")
        #expect(sent.status == 0, "\(sent.stderr)")
        let refused = sent.stdout.split(separator: "\n").filter { !$0.contains("\"ok\":true") }
        #expect(refused.isEmpty, "\(refused.prefix(3))")

        let out = daemon.directory + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let export = try run(
            Daemon.hotlinectl,
            [
                "--socket", daemon.socket, "export", "--reason", "Channel replay check", "--from", "2026-11-23T00:00:00Z", "--to",
                "2026-11-24T12:00:00Z", "--format", "json", "--out", out,
            ])
        #expect(export.status == 0, "\(export.stderr)")
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: out).first { $0.hasSuffix(".json") })
        let summary = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: out + "/" + name))))
        #expect(summary["calls"] == .int(Int64(expected.values.map(\.calls).reduce(0, +))))
        for (channel, e) in expected {
            let figures = summary["by_channel"]?[channel]
            #expect(figures?["calls"] == .int(Int64(e.calls)), "\(channel)")
            let times = figures?["answer_times"]
            #expect(times?["presented"] == .int(Int64(e.calls)), "\(channel)")
            #expect(times?["answered"] == .int(Int64(e.seconds.count)), "\(channel)")
            let mean = e.seconds.reduce(0, +) / Double(e.seconds.count)
            #expect(abs((times?["mean_seconds"]?.doubleValue ?? -1) - mean) < 0.001, "\(channel): \(String(describing: times))")
            let sorted = e.seconds.sorted()
            #expect(times?["p90_seconds"]?.doubleValue == sorted[(sorted.count * 9 + 9) / 10 - 1], "\(channel)")
        }
        // SMS, BSL and text relay 999 calls are emergencies; online reports the hotline's.
        for channel in ["sms", "video-relay-bsl", "text-relay"] {
            #expect(summary["by_channel"]?[channel]?["by_route"]?.objectValue?.keys.sorted() == ["emergency"], "\(channel)")
        }
        #expect(summary["by_channel"]?["online"]?["by_route"]?.objectValue?.keys.sorted() == ["anti-terrorist-hotline"])
    }
}
