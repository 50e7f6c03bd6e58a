import Foundation
import GRDB
import HotlineCore
import HotlinePostgres
import HotlineScratch
import HotlineStore
import Testing

/// Issue 16 on both engines, alike: the handover lists at a shift's end, each call's grade
/// and marking history (and its audit entries), legal holds that retention respects and
/// `verify` holds to the audit log, and the export's new columns.
extension PostgresLogTests {
    /// The night of 23 November 2026 (GMT): 23:00Z to 07:00Z.
    static let night = (from: try! Timestamp(rfc3339: "2026-11-23T23:00:00Z"), to: try! Timestamp(rfc3339: "2026-11-24T07:00:00Z"))

    struct Observed: Equatable {
        var open: [String]
        var openSeconds: [Double]
        var withoutOutcome: [String]
        var counts: [Int]
        var history: [String]
        var audit: [String]
        var extras: [String]
        var holds: [String]
        var refusals: [String]
        var purged: [Int]
        var verified: [Bool]
        var tamper: [String]
        var nextShift: [String]
        var highestMarking: String
        var answered: [String]
    }

    static func issue16Scenario(_ log: any CallLog, deleteHolds: () throws -> Void) throws -> Observed {
        let (a, b, c, d) = (
            "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002", "cccccccc-0000-4000-8000-000000000003",
            "dddddddd-0000-4000-8000-000000000004"
        )
        func commit(_ requests: [JSONValue], by peer: Peer = handler) -> [Result<WriteAck, HotlineError>] {
            log.commit(
                Self.submissions(Self.events(requests), by: peer), policy: Self.policy, alerting: AlertSettings(), now: Self.now,
                yieldFrom: .max, shouldYield: { false }
            ).results
        }
        func update(_ call: String, _ set: [String: JSONValue], reason: String? = nil, at: String) -> JSONValue {
            var u = Req.update(call: call, set: set, at: at).objectValue!
            if let reason { u["reason"] = .string(reason) }
            u["handler"] = nil
            return .object(u)
        }
        var endWithout = Req.end(call: b, at: "2026-11-24T05:10:00Z").objectValue!
        endWithout["outcome"] = nil
        let results = commit([
            Req.start(call: a, dialled: "999", at: "2026-11-24T06:30:00Z"),  // open at the night's end
            Req.start(call: b, dialled: "0800 789 321", at: "2026-11-24T05:00:00Z", extra: ["handler": "4471"]),
            .object(endWithout),  // ended in the night without an outcome
            Req.start(call: c, dialled: "101", at: "2026-11-23T20:00:00Z"),  // the late shift's, ended after the night
            Req.end(call: c, at: "2026-11-24T08:00:00Z"),
            Req.start(call: d, dialled: "999", at: "2026-11-24T01:00:00Z"), Req.end(call: d, at: "2026-11-24T01:10:00Z"),
            update(b, ["flags": ["threat_to_life": true]], at: "2026-11-24T05:01:00Z"),
            update(b, ["marking": "SECRET"], at: "2026-11-24T05:02:00Z"),
        ])
        for r in results { #expect((try? r.get()) != nil, "\(r)") }
        let noReason = commit([update(b, ["marking": "OFFICIAL-SENSITIVE"], at: "2026-11-24T05:03:00Z")], by: supervisor)
        let lowered = commit(
            [update(b, ["marking": "OFFICIAL-SENSITIVE"], reason: "the source agreed to OFFICIAL-SENSITIVE", at: "2026-11-24T05:03:00Z")],
            by: supervisor)
        #expect((try? lowered[0].get()) != nil)

        let handover = try log.handover(from: night.from, to: night.to, asOf: night.to, limit: 10)
        let capped = try log.handover(from: night.from, to: night.to, asOf: night.to, limit: 1)
        // The next shift (early, 07:00Z to 15:00Z) still hands over B: it ended in the night
        // without an outcome and has none yet. A's answer comes after its start.
        let early = (from: night.to, to: night.to.adding(seconds: 8 * 3600))
        let next = try log.handover(from: early.from, to: early.to, asOf: early.to, limit: 10)
        let answered =
            commit([update(a, ["answered_at": "2026-11-24T06:30:04Z"], at: "2026-11-24T06:30:05Z")])
            + commit([update(a, ["answered_at": "2026-11-24T06:30:09Z"], at: "2026-11-24T06:30:10Z")])
            + commit([update(a, ["answered_at": "2026-11-24T06:30:04Z"], at: "2026-11-24T06:30:11Z")])
        _ = commit([update(b, ["outcome": "report-taken"], at: "2026-11-24T05:20:00Z")])
        let after = try log.handover(from: night.from, to: night.to, asOf: night.to, limit: 10)

        let detail = try #require(try log.call(id: b, notesAfter: nil, maxNotes: 10, maxNoteBytes: 10_000))
        let history = detail.history.map {
            "\($0.gradeFrom ?? "-")>\($0.gradeTo) \($0.markingFrom ?? "-")>\($0.markingTo) uid \($0.uid) \($0.handler ?? "-") \($0.reason ?? "-") \($0.cause ?? "-") \($0.at.rfc3339)"
        }
        let audit = try log.auditEntries(from: Self.now, to: Self.now.adding(seconds: 1), limit: 50, maxBytes: 1 << 20).entries.map {
            "\($0.op) \($0.detail["grade_from"]?.stringValue ?? "")>\($0.detail["grade_to"]?.stringValue ?? "") \($0.detail["from"]?.stringValue ?? "")>\($0.detail["to"]?.stringValue ?? "") \($0.reason ?? "-") \($0.detail["cause"]?.stringValue ?? "-")"
        }

        // Legal hold.
        var refusals: [String] = []
        func refused(_ body: () throws -> Any) {
            do {
                _ = try body()
                refusals.append("accepted")
            } catch let e as HotlineError {
                refusals.append("\(e.code.rawValue): \(e.message)")
            } catch {
                refusals.append("\(error)")
            }
        }
        let held = try log.placeHold(callID: d, by: supervisor, reason: "Subject access request 2026/117", at: Self.now)
        refused { try log.placeHold(callID: d, by: supervisor, reason: "again", at: Self.now) }
        refused { try log.releaseHold(callID: a, by: supervisor, reason: "not held", at: Self.now) }
        refused { try log.placeHold(callID: "eeeeeeee-0000-4000-8000-000000000005", by: supervisor, reason: "none", at: Self.now) }
        let page = try log.exportPage(from: night.from, to: night.to, afterSeq: nil, limit: 100)
        let extras = page.calls.map { "\($0.summary.callID.prefix(1)) \($0.initialGrade ?? "-") \($0.gradeChanges) \($0.held)" }
        let holds = try log.holds().map {
            "\($0.callID.prefix(1)) \($0.reason ?? "-") \($0.heldBy) \($0.route ?? "-") \($0.auditSeq == held.auditSeq)"
        }

        // Retention never purges a held call; released, it is purged.
        let rules = [RetentionRule(purgeAfterDays: 30)]
        let later = try Timestamp(rfc3339: "2027-01-01T00:00:00Z")
        var purged = [try log.purge(rules: rules, now: later, uid: 0, pid: 1).calls]
        var verified = [try log.verify().ok]
        #expect(try log.call(id: d, notesAfter: nil, maxNotes: 1, maxNoteBytes: 100)?.hold?.reason == "Subject access request 2026/117")
        _ = try log.releaseHold(callID: d, by: supervisor, reason: "request answered", at: later)
        purged.append(try log.purge(rules: rules, now: later.adding(seconds: 1), uid: 0, pid: 1).calls)
        verified.append(try log.verify().ok)
        refused { try log.placeHold(callID: d, by: supervisor, reason: "too late", at: later) }

        // An insider deletes a hold so that retention would purge the call: verify finds it.
        _ = try log.placeHold(callID: a, by: supervisor, reason: "inquest", at: later)
        try deleteHolds()
        let report = try log.verify()
        verified.append(report.ok)
        return Observed(
            open: handover.open.map { String($0.callID.prefix(1)) }, openSeconds: handover.open.map(\.openSeconds),
            withoutOutcome: handover.withoutOutcome.map { String($0.callID.prefix(1)) },
            counts: [handover.openCount, handover.withoutOutcomeCount, capped.open.count, capped.openCount, after.withoutOutcomeCount],
            history: history + [{ if case .failure(let e) = noReason[0] { e.field ?? "-" } else { "accepted" } }()], audit: audit,
            extras: extras, holds: holds,
            refusals: refusals, purged: purged, verified: verified, tamper: report.problems.filter { $0.contains("legal hold") },
            nextShift: next.withoutOutcome.map { String($0.callID.prefix(1)) } + next.open.map { String($0.callID.prefix(1)) },
            highestMarking: handover.highestMarking.rawValue,
            answered: answered.map { r in
                switch r {
                case .success(let ack): "ok \(ack.duplicate)"
                case .failure(let e): "\(e.code.rawValue) \(e.field ?? "-")"
                }
            } + [try log.call(id: a, notesAfter: nil, maxNotes: 1, maxNoteBytes: 100)?.state.answeredAt?.rfc3339 ?? "-"])
    }

    @Test func handoverHistoryAndHoldsAreAlikeOnBothEngines() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let postgres = try Self.log(cluster)
        defer { postgres.close() }
        let scratch = try ScratchSQLite()
        let onPostgres = try Self.issue16Scenario(postgres) { _ = try cluster.sql(cluster.primaryPort, "DELETE FROM holds") }
        let onSQLite = try Self.issue16Scenario(scratch.store) {
            let queue = try DatabaseQueue(path: scratch.directory.path + "/calls.sqlite")
            try queue.write { try $0.execute(sql: "DELETE FROM holds") }
            try queue.close()
        }
        #expect(onPostgres == onSQLite)
        let o = onSQLite
        // By hand: C (received 20:00Z, ended 08:00Z) and A (06:30Z) were open at 07:00Z, for
        // 11 h and 30 min; B ended at 05:10Z without an outcome, 10 min after it came in.
        #expect(o.open == ["c", "a"])
        #expect(o.openSeconds == [39_600, 1_800])
        #expect(o.withoutOutcome == ["b"])
        #expect(o.counts == [2, 1, 1, 2, 0], "exact counts, capped lists; the outcome given later takes B off")
        #expect(
            o.history == [
                "->priority ->OFFICIAL-SENSITIVE uid 1001 4471 - - 2026-11-24T05:00:00Z",
                "priority>emergency OFFICIAL-SENSITIVE>OFFICIAL-SENSITIVE uid 1001 - - threat-to-life 2026-11-24T05:01:00Z",
                "emergency>emergency OFFICIAL-SENSITIVE>SECRET uid 1001 - - - 2026-11-24T05:02:00Z",
                "emergency>emergency SECRET>OFFICIAL-SENSITIVE uid 1002 - the source agreed to OFFICIAL-SENSITIVE - 2026-11-24T05:03:00Z",
                "reason",
            ])
        #expect(
            o.audit == [
                "call.reclassify priority>emergency > - threat-to-life",
                "call.reclassify > OFFICIAL-SENSITIVE>SECRET - -",
                "marking.lower > SECRET>OFFICIAL-SENSITIVE the source agreed to OFFICIAL-SENSITIVE -",
            ])
        #expect(o.extras == ["a emergency 0 false", "b priority 1 false", "d emergency 0 true"])
        #expect(o.holds == ["d Subject access request 2026/117 1002 emergency true"])
        #expect(o.refusals.count == 4)
        #expect(o.refusals[0].hasPrefix("conflict: Call dddddddd-0000-4000-8000-000000000004 has been on legal hold since"))
        #expect(o.refusals[1] == "conflict: Call aaaaaaaa-0000-4000-8000-000000000001 is not on legal hold.")
        #expect(o.refusals[2] == "not_found: There is no call eeeeeeee-0000-4000-8000-000000000005.")
        #expect(o.refusals[3].hasPrefix("not_found: Call dddddddd-0000-4000-8000-000000000004 was purged by retention"))
        #expect(o.purged == [2, 1], "B and C first; D only once released")
        #expect(o.verified == [true, true, false])
        #expect(o.tamper.count == 1)
        #expect(o.tamper.first?.contains("call aaaaaaaa-0000-4000-8000-000000000001's legal hold") == true)
        #expect(o.nextShift == ["b", "a"], "B, ended in the night without an outcome, is still handed over; A is still open")
        #expect(o.highestMarking == "OFFICIAL-SENSITIVE")
        // An answer given after the start, once; the same again is no change; another time is refused.
        #expect(o.answered == ["ok false", "invalid set.answered_at", "ok false", "2026-11-24T06:30:04Z"])
    }
}

/// Issue 17 on both engines, alike: what the wallboard and the metrics endpoint read.
extension PostgresLogTests {
    static func liveScenario(_ log: any CallLog) throws -> [String] {
        let (a, b, c, d) = (
            "aaaaaaaa-0000-4000-8000-000000000011", "bbbbbbbb-0000-4000-8000-000000000012", "cccccccc-0000-4000-8000-000000000013",
            "dddddddd-0000-4000-8000-000000000014"
        )
        let results = log.commit(
            Self.submissions(
                Self.events([
                    Req.start(call: a, dialled: "999", at: "2026-11-24T01:00:00Z", extra: ["answered_at": "2026-11-24T01:00:04Z"]),
                    Req.start(call: b, dialled: "999", at: "2026-11-24T02:30:00Z"),
                    Req.start(call: c, dialled: "0800 789 321", at: "2026-11-24T02:45:00Z"),
                    Req.start(call: d, dialled: "101", at: "2026-11-23T22:00:00Z"),  // before the night; unrouted in this policy
                    Req.end(call: a, at: "2026-11-24T01:20:00Z"),
                ]), by: handler),
            policy: Self.policy, alerting: AlertSettings(), now: Self.now, yieldFrom: .max, shouldYield: { false }
        ).results
        var out = results.map { if case .failure(let e) = $0 { "refused \(e.code)" } else { "ok" } }
        let first = try log.liveRows(callsFrom: Self.night.from, to: Self.night.to, alertLimit: 10)
        // One acknowledged: it leaves the list and the counts.
        let alert = try #require(first.alerts.first)
        _ = try log.acknowledgeAlert(id: alert.id, by: supervisor, at: Self.now)
        let rows = try log.liveRows(callsFrom: Self.night.from, to: Self.night.to, alertLimit: 10)
        let limited = try log.liveRows(callsFrom: Self.night.from, to: Self.night.to, alertLimit: 0)
        for r in [first, rows] {
            out.append("alerts " + r.alerts.map { "\($0.route) L\($0.level) \($0.raisedAt.rfc3339)" }.joined(separator: ", "))
            out.append("by level " + r.unackedByLevel.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "))
            out.append("open " + r.openByRoute.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "))
            out.append(
                "calls "
                    + r.calls.sorted { $0.receivedAt < $1.receivedAt }.map {
                        "\($0.route) \($0.receivedAt.rfc3339) \($0.answeredAt?.rfc3339 ?? "-") \($0.endedAt?.rfc3339 ?? "-")"
                    }.joined(separator: ", "))
        }
        out.append("limited \(limited.alerts.count) of \(limited.unacked)")
        return out
    }

    @Test func theLiveRowsAreAlikeOnBothEngines() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let postgres = try Self.log(cluster)
        defer { postgres.close() }
        let scratch = try ScratchSQLite()
        let onPostgres = try Self.liveScenario(postgres)
        let onSQLite = try Self.liveScenario(scratch.store)
        #expect(onPostgres == onSQLite)
        #expect(
            onSQLite == [
                "ok", "ok", "ok", "ok", "ok",
                "alerts emergency L1 2026-11-24T19:05:00Z, emergency L1 2026-11-24T19:05:00Z",
                "by level 1:2",
                "open anti-terrorist-hotline:1 emergency:1 unrouted:1",
                "calls emergency 2026-11-24T01:00:00Z 2026-11-24T01:00:04Z 2026-11-24T01:20:00Z, emergency 2026-11-24T02:30:00Z - -, anti-terrorist-hotline 2026-11-24T02:45:00Z - -",
                "alerts emergency L1 2026-11-24T19:05:00Z",
                "by level 1:1",
                "open anti-terrorist-hotline:1 emergency:1 unrouted:1",
                "calls emergency 2026-11-24T01:00:00Z 2026-11-24T01:00:04Z 2026-11-24T01:20:00Z, emergency 2026-11-24T02:30:00Z - -, anti-terrorist-hotline 2026-11-24T02:45:00Z - -",
                "limited 0 of 1",
            ], "\(onSQLite)")
    }
}

/// Issue 18 on both engines, alike: each call's channel, relay and form reference stored,
/// read back, listed by channel, exported, verified, and a changed channel found.
extension PostgresLogTests {
    static func channelScenario(_ log: any CallLog, tamper: (String) throws -> Void) throws -> [String] {
        let (a, b, c, d) = (
            "aaaaaaaa-0000-4000-8000-000000000021", "bbbbbbbb-0000-4000-8000-000000000022", "cccccccc-0000-4000-8000-000000000023",
            "dddddddd-0000-4000-8000-000000000024"
        )
        var online = Req.start(
            call: d, at: "2026-11-24T02:00:00Z", extra: ["channel": "online", "form_reference": "ACT-2026-118204"]
        ).objectValue!
        var call = online["call"]!.objectValue!
        call["dialled"] = nil
        online["call"] = .object(call)
        let results = log.commit(
            Self.submissions(
                Self.events([
                    Req.start(call: a, dialled: "999", at: "2026-11-24T01:00:00Z", extra: ["channel": "sms"]),
                    Req.start(
                        call: b, dialled: "999", at: "2026-11-24T01:10:00Z",
                        extra: ["channel": "video-relay-bsl", "relay": ["reference": "BSL-4471"], "cli": "+447700900123"]),
                    Req.start(call: c, dialled: "0800 789 321", at: "2026-11-24T01:20:00Z", extra: ["channel": "text-relay"]),
                    .object(online),
                    Req.update(call: c, set: ["relay": ["reference": "RA-2231"], "anonymous_requested": true]),
                ]), by: handler),
            policy: Self.policy, alerting: AlertSettings(), now: Self.now, yieldFrom: .max, shouldYield: { false }
        ).results
        var out = results.map { r in
            switch r {
            case .success(let ack): "ok \(ack.route) \(ack.alertID == nil ? "-" : "alert")"
            case .failure(let e): "refused \(e.code) \(e.field ?? "-")"
            }
        }
        for id in [a, b, c, d] {
            let detail = try #require(try log.call(id: id, notesAfter: nil, maxNotes: 1, maxNoteBytes: 100))
            let s = detail.state
            out.append(
                "\(detail.alerts.map { "alert:\($0.channel.rawValue) " }.joined())\(s.channel.rawValue) '\(s.dialled)' \(s.relay.map { "\($0.kind.rawValue):\($0.reference ?? "-")" } ?? "-") \(s.formReference ?? "-") \(s.identity.isEmpty ? "no-identity" : "identity")"
            )
        }
        let window = (from: try Timestamp(rfc3339: "2026-11-24T00:00:00Z"), to: try Timestamp(rfc3339: "2026-11-25T00:00:00Z"))
        for channel in [CallChannel.sms, .videoRelayBSL, .voice] {
            let page = try log.listCalls(CallsQuery(from: window.from, to: window.to, channel: channel), ownerUID: nil)
            out.append("\(channel.rawValue): " + page.calls.map { String($0.id.prefix(1)) }.joined(separator: ","))
        }
        let export = try log.exportPage(from: window.from, to: window.to, afterSeq: nil, limit: 10)
        out.append("export " + export.calls.map { "\($0.summary.channel.rawValue)" }.joined(separator: ","))
        out.append("verified \(try log.verify().ok)")
        try tamper("UPDATE calls SET channel = 'voice' WHERE call_id = '\(b)'")
        out.append(
            contentsOf: try log.verify().problems.filter { $0.contains(b) }.map {
                $0.replacingOccurrences(of: #"alert [0-9a-f-]{36} "#, with: "alert <id> ", options: .regularExpression)
            })
        return out
    }

    @Test func channelsAreAlikeOnBothEngines() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let postgres = try Self.log(cluster)
        defer { postgres.close() }
        let scratch = try ScratchSQLite()
        let onPostgres = try Self.channelScenario(postgres) { _ = try cluster.sql(cluster.primaryPort, $0) }
        let onSQLite = try Self.channelScenario(scratch.store) { sql in
            let queue = try DatabaseQueue(path: scratch.directory.path + "/calls.sqlite")
            try queue.write { try $0.execute(sql: sql) }
            try queue.close()
        }
        #expect(onPostgres == onSQLite)
        #expect(
            onSQLite == [
                // This suite's policy has no online match: a report without a number is unrouted.
                "ok emergency alert", "ok emergency alert", "ok anti-terrorist-hotline -", "ok unrouted -",
                "ok anti-terrorist-hotline -",
                "alert:sms sms '999' - - no-identity",
                "alert:video-relay-bsl video-relay-bsl '999' interpreter:BSL-4471 - identity",
                "text-relay '0800789321' relay-assistant:RA-2231 - no-identity",
                "online '' - ACT-2026-118204 no-identity",
                "sms: a", "video-relay-bsl: b", "voice: ",
                "export sms,video-relay-bsl,text-relay,online",
                "verified true",
                "call bbbbbbbb-0000-4000-8000-000000000022 was changed in the calls table: its channel differ from its events",
                "alert <id> of call bbbbbbbb-0000-4000-8000-000000000022 names another channel than the calls table: one of the two was changed (the call's is checked against its events above)",
            ], "\(onSQLite)")
    }
}
