import Foundation
import HotlineClient
import HotlineCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Roles (PROTOCOL.md sections 4, 8 and 9) and the audit log, end to end: the built daemon,
/// and clients run as other users with `setpriv`, so that the kernel (SO_PEERCRED) names
/// them. Numeric uids and gids need no account: the configuration lists them by number. The
/// one case a number cannot show, a role held through a supplementary group (which the
/// daemon finds by the user's name), uses a real user made for the test.
///
/// Needs root and `/usr/bin/setpriv`; without them every test prints why and passes.
@Suite(.serialized, .enabled(if: Requires.rootAndSetpriv, "RoleTests run clients as other users: they need root and /usr/bin/setpriv"))
struct RoleTests {
    /// Who a request is sent as.
    struct Client: CustomStringConvertible {
        let label: String
        let uid: UInt32
        let gid: UInt32
        var groups: [UInt32] = []

        var description: String { "\(label) (uid \(uid), gid \(gid))" }

        var setprivArguments: [String] {
            ["--reuid=\(uid)", "--regid=\(gid)"]
                + (groups.isEmpty ? ["--clear-groups"] : ["--groups=" + groups.map(String.init).joined(separator: ",")])
        }

        static let nobody = Client(label: "no role", uid: 61001, gid: 61001)
        /// A handler by user number.
        static let handler = Client(label: "handler", uid: 61002, gid: 61002)
        static let otherHandler = Client(label: "second handler", uid: 61003, gid: 61003)
        /// A supervisor by user number.
        static let supervisor = Client(label: "supervisor", uid: 61004, gid: 61004)
        /// An auditor by its primary group's number.
        static let auditor = Client(label: "auditor", uid: 61005, gid: 62005)
    }

    /// The `roles:` section for the clients above, plus the groups of a ``TemporaryUser``.
    static func rolesSection(handlerGroup: String? = nil, auditorGroup: String? = nil) -> String {
        """
          handler:
            users: [61002, "61003"]
            groups: [\(handlerGroup ?? "hotline")]
          supervisor:
            users: ["61004"]
          auditor:
            groups: [62005\(auditorGroup.map { ", " + $0 } ?? "")]

        """
    }

    /// A daemon with `roles` for its roles section, its socket open to every uid (the suite
    /// runs only where clients can be run as other users: `Requires.rootAndSetpriv`).
    static func daemon(roles: String = rolesSection()) throws -> Daemon {
        let daemon = try Daemon()
        var config = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        let section = try #require(config.range(of: "\nroles:\n"))
        let end = config[section.upperBound...].range(of: "(?m)^[^ \n]", options: .regularExpression)?.lowerBound
        config.replaceSubrange(section.upperBound..<(end ?? config.endIndex), with: roles)
        try config.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        try daemon.start()
        daemon.openSocketToEveryone()
        return daemon
    }

    /// The window every `audit.list` here asks for.
    static let always: [String: JSONValue] = ["from": "2020-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"]
    /// The day the calls here are received on, as a `calls.list` filter.
    static let day: [String: JSONValue] = ["from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z"]

    /// A reason for a read (the shipped configuration asks supervisors and auditors for one
    /// when they read calls).
    static let why: JSONValue = "Reviewing the hotline's calls for the duty inspector"

    /// `members` with the reason `why`.
    static func giving(_ members: [String: JSONValue]) -> [String: JSONValue] { members.merging(["reason": why]) { _, r in r } }

    static func request(_ op: String, _ members: [String: JSONValue] = [:]) -> JSONValue {
        .object(members.merging(["op": .string(op)]) { _, op in op })
    }

    /// "ok", or the error code, of each response.
    static func codes(_ responses: [JSONValue]) -> [String] { responses.map { $0.isOK ? "ok" : $0.errorCode ?? "?" } }

    // MARK: - Which role may do what

    /// Every op, in the order the matrix sends them.
    static let ops = [
        "hello", "ping", "stats", "call.start", "call.update", "call.end", "call.get own", "call.get other's",
        "calls.list", "alerts.subscribe", "alert.ack", "audit.list", "verify",
    ]

    /// "ok" for the ops in `allowed`, `forbidden` for the rest, but for `except`.
    static func outcomes(allowed: Set<String>, except: [String: String] = [:]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: ops.map { ($0, except[$0] ?? (allowed.contains($0) ? "ok" : "forbidden")) })
    }

    /// With root, useradd and groupadd (CI), a row more: a user whose roles come from a
    /// supplementary group.
    @Test func eachRoleMayDoExactlyWhatSection8Says() throws {
        let user = Requires.userTools ? try TemporaryUser.create() : nil
        defer { user?.remove() }
        let roles = Self.rolesSection(handlerGroup: user?.group, auditorGroup: user?.supplementaryGroup)
        let daemon = try Self.daemon(roles: roles)
        let anyone: Set = ["hello", "ping"]
        let writes: Set = ["call.start", "call.update", "call.end"]
        let reads: Set = ["stats", "call.get own", "calls.list"]
        var rows: [(client: Client, role: JSONValue, roles: [JSONValue], expected: [String: String])] = [
            (.nobody, .null, [], Self.outcomes(allowed: anyone)),
            (.handler, "handler", ["handler"], Self.outcomes(allowed: anyone.union(writes).union(reads))),
            (
                .supervisor, "supervisor", ["supervisor"],
                Self.outcomes(allowed: anyone.union(writes).union(reads).union(["call.get other's", "alerts.subscribe", "alert.ack"]))
            ),
            (
                .auditor, "auditor", ["auditor"],
                // It cannot start a call, so "its own" does not exist.
                Self.outcomes(
                    allowed: anyone.union(reads).union(["call.get other's", "audit.list", "verify"]),
                    except: ["call.get own": "not_found"])
            ),
        ]
        if let user {
            // Handler through its primary group, auditor through a supplementary one; named.
            rows.append(
                (
                    user.client, "auditor", ["auditor", "handler"],
                    Self.outcomes(allowed: anyone.union(writes).union(reads).union(["call.get other's", "audit.list", "verify"]))
                ))
        }
        let root = try daemon.connect()
        let others = try #require(root.call(Req.start(dialled: "101"))["call_id"])
        for row in rows {
            let alert = try #require(root.call(Req.start(dialled: "999"))["alert_id"])
            let own = UUIDText.random()
            let (responses, _) = try daemon.send(
                as: row.client,
                [
                    Self.request("hello", ["protocol": 1]), Self.request("ping"), Self.request("stats"),
                    Req.start(call: own, dialled: "101"), Req.update(call: own, note: "Caller rang off"), Req.end(call: own),
                    // Reading a call it took needs no reason, whatever the role; others' calls do.
                    Self.request("call.get", ["call_id": .string(own)]), Self.request("call.get", Self.giving(["call_id": others])),
                    Self.request("calls.list", Self.giving(Self.day)), Self.request("alerts.subscribe"),
                    Self.request("alert.ack", ["alert_id": alert]), Self.request("audit.list", Self.always),
                    Self.request("verify"),
                ])
            try #require(responses.count == Self.ops.count, "\(row.client): \(responses)")
            let outcomes = Dictionary(uniqueKeysWithValues: zip(Self.ops, Self.codes(responses)))
            #expect(outcomes == row.expected, "\(row.client)")
            #expect(responses[0]["role"] == row.role, "\(row.client)")
            #expect(responses[0]["roles"] == .array(row.roles), "\(row.client)")
        }
    }

    @Test func handlersListOnlyTheirOwnCallsWhileSupervisorsAndAuditorsListAll() throws {
        let daemon = try Self.daemon()
        let root = try #require(daemon.connect().call(Req.start(dialled: "999", at: "2026-11-24T19:00:00Z"))["call_id"])
        let a1 = UUIDText.random(), a2 = UUIDText.random(), b1 = UUIDText.random()
        let started =
            try daemon.send(
                as: .handler,
                [
                    Req.start(call: a1, dialled: "101", at: "2026-11-24T19:01:00Z"),
                    Req.start(call: a2, dialled: "0800 789 321", at: "2026-11-24T19:02:00Z"),
                ]
            ).responses
            + daemon.send(as: .otherHandler, [Req.start(call: b1, dialled: "101", at: "2026-11-24T19:03:00Z")])
            .responses
        #expect(started.map(\.isOK) == [true, true, true])

        func listed(by client: Client, _ filter: [String: JSONValue] = Self.day) throws -> [JSONValue] {
            let (responses, _) = try daemon.send(as: client, [Self.request("calls.list", Self.giving(filter))])
            #expect(responses.first?.objectValue?.keys.contains("next_after_seq") == false)
            return responses.first?["calls"]?.arrayValue?.compactMap { $0["call_id"] } ?? []
        }
        #expect(try listed(by: .handler) == [.string(a1), .string(a2)])
        #expect(try listed(by: .otherHandler) == [.string(b1)])
        #expect(try listed(by: .supervisor) == [root, .string(a1), .string(a2), .string(b1)])
        #expect(try listed(by: .auditor) == [root, .string(a1), .string(a2), .string(b1)])
        // Other filters narrow the handler's own calls; they never widen them.
        var nonEmergency = Self.day
        nonEmergency["route"] = "non-emergency"
        #expect(try listed(by: .handler, nonEmergency) == [.string(a1)])
        #expect(try listed(by: .supervisor, nonEmergency) == [.string(a1), .string(b1)])
    }

    @Test func aRoleTakenAwayByAReloadStopsWorkingOnAnOpenConnection() throws {
        let daemon = try Self.daemon()
        // One connection, held open by `hotlinectl send` as the handler, fed line by line.
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        client.arguments = Client.handler.setprivArguments + [Daemon.hotlinectl, "--socket", daemon.socket, "send"]
        let input = Pipe(), output = Pipe()
        client.standardInput = input
        client.standardOutput = output
        try client.run()
        defer {
            try? input.fileHandleForWriting.close()
            Daemon.waitForExit(client)
        }
        var buffered = Data()
        func ask(_ request: JSONValue) throws -> JSONValue {
            input.fileHandleForWriting.write(Data((JSONWriter.string(request) + "\n").utf8))
            while !buffered.contains(0x0A) {
                // Never wait for ever: ten seconds without an answer fails the test.
                var pfd = pollfd(fd: output.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0)
                try #require(poll(&pfd, 1, 10_000) > 0, "no answer from hotlinectl send within 10 s")
                let chunk = output.fileHandleForReading.availableData
                try #require(!chunk.isEmpty, "hotlinectl send ended")
                buffered += chunk
            }
            let end = buffered.firstIndex(of: 0x0A)!
            defer { buffered = Data(buffered[(end + 1)...]) }
            return try JSONParser.parse(Array(buffered[..<end]))
        }
        #expect(try ask(Self.request("stats")).isOK)

        // The handler's uid leaves the handler role; the configuration is reloaded.
        var config = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        config = config.replacingOccurrences(of: "users: [61002, \"61003\"]", with: "users: [\"61003\"]")
        try config.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        kill(daemon.process!.processIdentifier, SIGHUP)
        let deadline = Date().addingTimeInterval(10)
        while !daemon.log().contains("configuration reloaded"), Date() < deadline { usleep(20_000) }

        let after = try ask(Self.request("stats"))
        #expect(after.errorCode == "forbidden", "\(after)")
        #expect(try ask(Self.request("hello", ["protocol": 1]))["role"] == .null)
        #expect(try ask(Req.start(dialled: "101")).errorCode == "forbidden")
    }

    // MARK: - The audit log

    /// An audit entry as `audit.list` should show it, but for its time (checked apart).
    static func entry(
        _ seq: Int64, _ client: Client, pid: Int32, _ role: String, _ op: String, _ detail: [String: JSONValue]
    ) -> JSONValue {
        var m = detail
        m["seq"] = .int(seq)
        m["uid"] = .int(Int64(client.uid))
        m["pid"] = .int(Int64(pid))
        m["role"] = .string(role)
        m["op"] = .string(op)
        return .object(m)
    }

    /// `entry` as answered, without `at` and without null members (an absent `route` is
    /// written as null in a filter).
    static func comparable(_ entry: JSONValue) -> JSONValue {
        func compact(_ value: JSONValue) -> JSONValue {
            guard case .object(let m) = value else { return value }
            return .object(m.filter { $0.value != .null }.mapValues(compact))
        }
        guard case .object(var m) = entry else { return entry }
        m["at"] = nil
        return compact(.object(m))
    }

    @Test func everyReadLeavesOneAuditEntryInOrder() throws {
        let daemon = try Self.daemon()
        let began = Timestamp(secondsSince1970: Date().timeIntervalSince1970 - 1)
        let root = try daemon.connect()
        let sensitive = try #require(root.call(Req.start(dialled: "0800 789 321"))["call_id"]?.stringValue)
        let emergency = try root.call(Req.start(dialled: "999"))
        let alert = try #require(emergency["alert_id"]), alertCall = try #require(emergency["call_id"])
        let own = UUIDText.random(), missing = UUIDText.random()
        func get(_ call: String) -> JSONValue { Self.request("call.get", ["call_id": .string(call)]) }

        let handler = try daemon.send(
            as: .handler,
            [
                Req.start(call: own, dialled: "101"),
                get(own),
                get(sensitive),  // another's call: refused, and audited
                get(missing),  // no such call: audited
                Self.request("calls.list", Self.day),  // its own calls: no reason needed
                Req.update(call: sensitive, set: ["marking": "OFFICIAL"]),  // lowering: refused, no entry
                Self.request("verify", ["reason": "Wondering if it works"]),  // an auditor's op: refused, audited with its reason
            ])
        #expect(Self.codes(handler.responses) == ["ok", "ok", "forbidden", "not_found", "ok", "forbidden", "forbidden"])
        // A peer without a role is refused before anything is read: no entry.
        let nobody = try daemon.send(as: .nobody, [get(sensitive), Self.request("calls.list", Self.day)])
        #expect(Self.codes(nobody.responses) == ["forbidden", "forbidden"])
        // The write first: a write pipelined after a read does not wait for it.
        var atHotline = Self.day
        atHotline["route"] = "anti-terrorist-hotline"
        let supervisor = try daemon.send(
            as: .supervisor,
            [
                Req.update(call: sensitive, set: ["marking": "OFFICIAL"], reason: "declassified"),
                get(sensitive),  // another's call without a reason: invalid, nothing read, no entry
                Self.request("call.get", Self.giving(["call_id": .string(sensitive)])),
                Self.request("calls.list", Self.giving(atHotline)),
                Self.request("alert.ack", ["alert_id": alert]),
                Self.request("alert.ack", ["alert_id": alert]),  // answered again, audited once
            ])
        #expect(Self.codes(supervisor.responses) == ["ok", "invalid", "ok", "ok", "ok", "ok"])
        #expect(supervisor.responses[1].errorField == "reason")
        #expect(supervisor.responses[1]["call"] == nil)
        #expect(supervisor.responses[0]["marking"] == "OFFICIAL")
        let lowered = try #require(supervisor.responses[0]["seq"])
        let auditor = try daemon.send(
            as: .auditor,
            [
                Self.request("verify"), Self.request("audit.list", Self.always), Self.request("audit.list", Self.always),
            ])
        #expect(Self.codes(auditor.responses) == ["ok", "ok", "ok"])
        // Stored events: two of root's starts, the handler's, the supervisor's update.
        #expect(auditor.responses[0]["events"] == 4)

        let (h, s, a) = (handler.pid, supervisor.pid, auditor.pid)
        var expected: [JSONValue] = [
            Self.entry(1, .handler, pid: h, "handler", "call.get", ["call_ids": [.string(own)], "result": "ok"]),
            Self.entry(2, .handler, pid: h, "handler", "call.get", ["call_ids": [.string(sensitive)], "result": "forbidden"]),
            Self.entry(3, .handler, pid: h, "handler", "call.get", ["call_ids": [.string(missing)], "result": "not_found"]),
            Self.entry(
                4, .handler, pid: h, "handler", "calls.list",
                [
                    "filter": .object(Self.day.merging(["limit": 100, "owner_uid": .int(Int64(Client.handler.uid))]) { old, _ in old }),
                    "call_ids": [.string(own)], "result": "ok",
                ]),
            Self.entry(5, .handler, pid: h, "handler", "verify", ["result": "forbidden", "reason": "Wondering if it works"]),
            Self.entry(
                6, .supervisor, pid: s, "supervisor", "marking.lower",
                [
                    "call_ids": [.string(sensitive)], "seq": lowered, "from": "OFFICIAL-SENSITIVE", "to": "OFFICIAL",
                    "result": "ok", "reason": "declassified",
                ]),
            Self.entry(
                7, .supervisor, pid: s, "supervisor", "call.get", ["call_ids": [.string(sensitive)], "result": "ok", "reason": Self.why]),
            Self.entry(
                8, .supervisor, pid: s, "supervisor", "calls.list",
                [
                    "filter": .object(atHotline.merging(["limit": 100]) { old, _ in old }), "call_ids": [.string(sensitive)],
                    "result": "ok", "reason": Self.why,
                ]),
            Self.entry(
                9, .supervisor, pid: s, "supervisor", "alert.ack",
                [
                    "alert_id": alert, "call_ids": [alertCall], "level": 1, "result": "ok",
                ]),
            Self.entry(10, .auditor, pid: a, "auditor", "verify", ["ok": true, "events": 4, "result": "ok"]),
        ]
        let first = auditor.responses[1]["entries"]?.arrayValue ?? []
        #expect(first.map(Self.comparable) == expected)
        // audit.list is audited too: the second list shows the first.
        expected.append(
            Self.entry(11, .auditor, pid: a, "auditor", "audit.list", ["filter": .object(Self.always), "entries": 10, "result": "ok"]))
        let second = auditor.responses[2]["entries"]?.arrayValue ?? []
        #expect(second.map(Self.comparable) == expected)
        let times = second.compactMap { $0["at"]?.stringValue }.compactMap { try? Timestamp(rfc3339: $0) }
        #expect(times.count == 11)
        #expect(times == times.sorted())
        #expect(times.allSatisfy { $0 >= began && $0 <= Timestamp(secondsSince1970: Date().timeIntervalSince1970) })
    }

    // MARK: - hotlinectl

    @Test func hotlinectlAuditAndVerifyAnswerAuditorsAndRefuseHandlers() throws {
        let daemon = try Self.daemon()
        let call = UUIDText.random()
        let handler = try daemon.send(
            as: .handler, [Req.start(call: call, dialled: "101"), Self.request("call.get", ["call_id": .string(call)])])
        #expect(Self.codes(handler.responses) == ["ok", "ok"])

        let audit = try daemon.hotlinectl(as: .auditor, ["audit"])
        #expect(audit.status == 0, "\(audit.stderr)")
        let lines = audit.stdout.split(separator: "\n")
        #expect(lines.count == 2, "\(audit.stdout)")
        #expect(lines.first?.split(separator: " ") == ["SEQ", "AT", "(UTC)", "UID", "ROLE", "OP", "RESULT", "WHAT"])
        var row = lines.last?.split(separator: " ").map(String.init) ?? []
        try #require(row.count == 8, "\(audit.stdout)")
        let at = row.remove(at: 1)
        #expect((try? Timestamp(rfc3339: at)) != nil, "\(at)")
        #expect(row == ["1", "61002", "handler", "call.get", "ok", "calls", call])

        let json = try daemon.hotlinectl(as: .auditor, ["audit", "--json", "--from", "2020-01-01T00:00:00Z"])
        #expect(json.status == 0)
        let answer = try JSONParser.parse(json.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(answer["entries"]?.arrayValue?.compactMap { $0["op"] } == ["call.get", "audit.list"])

        let verify = try daemon.hotlinectl(as: .auditor, ["verify"])
        #expect(verify.status == 0, "\(verify.stderr)")
        let said = verify.stdout.split(separator: "\n").map(String.init)
        #expect(said.count == 3, "\(verify.stdout)")
        #expect(said.first == "The log is intact: 1 events and 3 audit entries verified.")
        #expect(said.dropFirst().first?.wholeMatch(of: /Event chain head: 1:[0-9a-f]{64}/) != nil)
        #expect(said.last?.wholeMatch(of: /Audit chain head: 3:[0-9a-f]{64}/) != nil)

        for command in [["verify"], ["audit"]] {
            let refused = try daemon.hotlinectl(as: .handler, command)
            #expect(refused.status == 1, "\(command)")
            #expect(refused.stdout == "", "\(command)")
            #expect(refused.stderr.hasPrefix("hotlinectl: forbidden: Only auditors may "), "\(command): \(refused.stderr)")
        }
    }

    // MARK: - Tamper evidence

    /// Changes who wrote event 2 behind the daemon's back, as anyone with write access to
    /// the file could (``Requires/sqlite3``).
    static func tamper(_ database: String) throws {
        let r = try run("/usr/bin/sqlite3", ["-cmd", ".timeout 5000", database, "UPDATE events SET peer_uid = 0 WHERE seq = 2"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test(.enabled(if: Requires.sqlite3, "tampering needs /usr/bin/sqlite3"))
    func offlineVerifyPassesAnIntactCopyAndCatchesATamperedOne() throws {
        let daemon = try Self.daemon()
        let call = UUIDText.random()
        let wrote = try daemon.send(
            as: .handler,
            [
                Req.start(call: call, dialled: "101"), Req.update(call: call, note: "Van parked"), Req.end(call: call),
                Self.request("call.get", ["call_id": .string(call)]),
            ])
        #expect(Self.codes(wrote.responses) == ["ok", "ok", "ok", "ok"])
        #expect(daemon.stop() == 0)
        let copy = daemon.directory + "/copy.sqlite"
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: daemon.database + suffix) {
            try FileManager.default.copyItem(atPath: daemon.database + suffix, toPath: copy + suffix)
        }

        let intact = try run(Daemon.hotlinectl, ["verify", "--database", copy])
        #expect(intact.status == 0, "\(intact.stderr)")
        #expect(intact.stdout.hasPrefix("The log is intact: 3 events and 1 audit entries verified.\n"), "\(intact.stdout)")

        let missing = try run(Daemon.hotlinectl, ["verify", "--database", daemon.directory + "/missing.sqlite"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no such database file"), "\(missing.stderr)")

        try Self.tamper(copy)
        let tampered = try run(Daemon.hotlinectl, ["verify", "--database", copy])
        #expect(tampered.status == 1)
        #expect(tampered.stdout.hasPrefix("TAMPERING FOUND in a log of 3 events and 1 audit entries.\n"), "\(tampered.stdout)")
        #expect(tampered.stdout.contains("first bad event:       seq 2\n"), "\(tampered.stdout)")
        let report = try run(Daemon.hotlinectl, ["verify", "--database", copy, "--json"])
        #expect(report.status == 1)
        let found = try JSONParser.parse(report.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(found["ok"] == false)
        #expect(found["first_bad_seq"] == 2)
        #expect(found.objectValue?.keys.contains("first_bad_audit_seq") == false)
    }

    @Test(.enabled(if: Requires.sqlite3, "tampering needs /usr/bin/sqlite3"))
    func verifyThroughTheDaemonReportsTampering() throws {
        let daemon = try Self.daemon()
        let call = UUIDText.random()
        let wrote = try daemon.send(as: .handler, [Req.start(call: call, dialled: "101"), Req.end(call: call)])
        #expect(Self.codes(wrote.responses) == ["ok", "ok"])
        try Self.tamper(daemon.database)

        // Section 9's "ok" is the verdict: false, with no "error" (the request succeeded);
        // "intact" says the same without the clash with the envelope's "ok".
        let answer = try daemon.send(as: .auditor, [Self.request("verify")]).responses.first
        #expect(answer?["ok"] == false)
        #expect(answer?["intact"] == false)
        #expect(answer?["error"] == nil)
        #expect(answer?["first_bad_seq"] == 2)
        #expect(answer?["events"] == 2)
        let cli = try daemon.hotlinectl(as: .auditor, ["verify"])
        #expect(cli.status == 1, "\(cli.stdout)")
        #expect(cli.stdout.hasPrefix("TAMPERING FOUND"), "\(cli.stdout)")
        #expect(cli.stdout.contains("first bad event:       seq 2\n"), "\(cli.stdout)")
    }
}

extension Daemon {
    /// Sends `requests` pipelined as `client` (`hotlinectl send` under `setpriv`); returns
    /// the responses in order, pushed frames left out, and the pid the daemon saw.
    func send(as client: RoleTests.Client, _ requests: [JSONValue]) throws -> (responses: [JSONValue], pid: Int32) {
        let input = requests.map { JSONWriter.string($0) }.joined(separator: "\n") + "\n"
        let r = try hotlinectl(as: client, ["send"], stdin: input)
        let lines = try r.stdout.split(separator: "\n").map { try JSONParser.parse(String($0)) }
        return (lines.filter { $0["push"] == nil }, r.pid)
    }

    /// `hotlinectl ARGUMENTS` on this daemon, run as `client`.
    func hotlinectl(as client: RoleTests.Client, _ arguments: [String], stdin: String? = nil) throws
        -> (status: Int32, stdout: String, stderr: String, pid: Int32)
    {
        try run("/usr/bin/setpriv", client.setprivArguments + [Daemon.hotlinectl, "--socket", socket] + arguments, stdin: stdin)
    }
}

/// A real user and two groups, for the one thing numeric ids cannot show: a role held
/// through a supplementary group, which the daemon finds with getgrouplist() from the
/// user's name. Made with groupadd and useradd; ``remove()`` deletes all three.
struct TemporaryUser {
    let name: String
    var uid: UInt32 = 0
    /// Its primary group's gid, which it connects with.
    var gid: UInt32 = 0
    var supplementaryGID: UInt32 = 0

    /// Its primary group.
    var group: String { name + "-h" }
    /// A group it is a member of in /etc/group only.
    var supplementaryGroup: String { name + "-a" }

    var client: RoleTests.Client {
        RoleTests.Client(
            label: "handler and auditor via groups \(group), \(supplementaryGroup)", uid: uid, gid: gid,
            groups: [supplementaryGID])
    }

    static func tool(_ name: String) -> String? {
        ["/usr/sbin/", "/sbin/", "/usr/bin/"].map { $0 + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A new user with a group and a supplementary group (``Requires/userTools``).
    static func create() throws -> TemporaryUser {
        var user = TemporaryUser(name: "hl-test-" + String(UInt32.random(in: 0...UInt32.max), radix: 16))
        do {
            for command in [
                ["groupadd", user.group], ["groupadd", user.supplementaryGroup],
                [
                    "useradd", "--no-create-home", "--no-user-group", "--gid", user.group, "--groups", user.supplementaryGroup,
                    "--shell", "/usr/sbin/nologin", user.name,
                ],
            ] {
                let r = try run(tool(command[0])!, Array(command.dropFirst()))
                guard r.status == 0 else { throw HotlineConnection.Failure("\(command.joined(separator: " ")): \(r.stderr)") }
            }
            guard let uid = getpwnam(user.name)?.pointee.pw_uid, let gid = getgrnam(user.group)?.pointee.gr_gid,
                let supplementaryGID = getgrnam(user.supplementaryGroup)?.pointee.gr_gid
            else { throw HotlineConnection.Failure("\(user.name) was made but cannot be looked up") }
            (user.uid, user.gid, user.supplementaryGID) = (uid, gid, supplementaryGID)
            return user
        } catch {
            user.remove()
            throw error
        }
    }

    func remove() {
        for command in [["userdel", name], ["groupdel", group], ["groupdel", supplementaryGroup]] {
            if let tool = Self.tool(command[0]) { _ = try? run(tool, Array(command.dropFirst())) }
        }
    }
}

/// Issue 16's roles: who may hold calls, and what a handler sees of a hold on its own call.
extension RoleTests {
    @Test func handlersMayNotHoldCallsAndSeeOnlyThatTheirCallIsHeld() throws {
        let daemon = try Self.daemon()
        let call = UUIDText.random()
        let handler = try daemon.send(as: .handler, [Req.start(call: call, dialled: "101", at: "2026-11-24T10:00:00Z")])
        #expect(handler.responses.first?.isOK == true)
        let hold: JSONValue = ["op": "call.hold", "call_id": .string(call), "reason": "Complaint 2026/88 against the officer"]
        let refused = try daemon.send(as: .handler, [hold, ["op": "holds.list"]])
        #expect(Self.codes(refused.responses) == ["forbidden", "forbidden"])
        let supervisor = try daemon.send(as: .supervisor, [hold, ["op": "holds.list"]])
        #expect(Self.codes(supervisor.responses) == ["ok", "ok"])
        #expect(supervisor.responses[1]["holds"]?.arrayValue?.first?["reason"] == "Complaint 2026/88 against the officer")
        // The handler reads its own call: that it is held, not who held it or why.
        let own = try daemon.send(as: .handler, [["op": "call.get", "call_id": .string(call)]])
        #expect(own.responses.first?["call"]?["held"] == true)
        #expect(own.responses.first?["call"]?["hold"] == .null)
        let seen = try daemon.send(as: .supervisor, [["op": "call.get", "call_id": .string(call), "reason": "complaint"]])
        #expect(seen.responses.first?["call"]?["hold"]?["reason"] == "Complaint 2026/88 against the officer")
        // The refused attempt is audited with the reason it gave, sealed.
        let audit = try daemon.send(as: .auditor, [Self.request("audit.list", Self.always)])
        let holds = audit.responses.first?["entries"]?.arrayValue?.filter { $0["op"] == "call.hold" } ?? []
        #expect(holds.map { $0["result"] } == ["forbidden", "ok"])
        #expect(holds.first?["reason"] == "Complaint 2026/88 against the officer")
    }
}
