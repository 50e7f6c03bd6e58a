import Foundation
import GRDB
import HotlineCore
import HotlineScratch
import HotlinePostgres
import HotlineStore
import Logging
import PostgresNIO
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The log's writes on PostgreSQL (issue 15): the same answers as SQLite's for the same
/// events, one chain whichever daemon writes, and nothing acknowledged lost or stored twice
/// across a failover. On the private primary and synchronous standby.
@Suite(.serialized, .enabled(if: Requires.postgres != nil, "PostgreSQL is not installed (make test installs it)"))
struct PostgresLogTests {
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    static let keys = try! KeyRing(hexKeys: [String(repeating: "5e", count: 32)])
    static let handler = Peer(uid: 1001, gid: 1001, pid: 4242, roles: [.handler])
    static let supervisor = Peer(uid: 1002, gid: 1002, pid: 4243, roles: [.supervisor])
    static let now = try! Timestamp(rfc3339: "2026-11-24T19:05:00Z")
    static let policy = CallPolicy(
        routes: RouteTable(
            routes: [
                RouteRule(
                    name: "emergency", numbers: ["999", "112"], grade: .emergency, marking: .official, anonymity: .forbidden,
                    alertOnStart: true),
                RouteRule(
                    name: "anti-terrorist-hotline", numbers: ["0800 789 321"], grade: .priority, marking: .officialSensitive,
                    anonymity: .allowed),
            ],
            unrouted: RouteRule(name: "unrouted", numbers: [], grade: .scheduled, marking: .official, anonymity: .allowed)))

    static func log(_ cluster: PostgresCluster, hosts: [Int]? = nil) throws -> PostgresLog {
        let connector = try PostgresConnector(
            settings: PostgreSQLSettings(
                hosts: (hosts ?? [cluster.primaryPort]).map(cluster.host), database: "postgres", user: cluster.user,
                connectTimeoutSeconds: 2),
            credentials: nil, logger: logger)
        return try PostgresLog(connector: connector, keys: keys, logger: logger)
    }

    /// The same log in SQLite, with the same key, in a directory of its own.
    final class ScratchSQLite {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-sqlite-\(UUIDText.random())")
        let store: CallStore

        init() throws {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            store = try CallStore(path: directory.path + "/calls.sqlite", keys: PostgresLogTests.keys, logger: PostgresLogTests.logger)
        }

        deinit {
            try? store.close()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// Requests as a workstation sends them, through the daemon's own decoder.
    static func events(_ requests: [JSONValue]) -> [WriteEvent] {
        let decoder = RequestDecoder(outcomes: ["report-taken", "dispatched"])
        return requests.map { request in
            guard case .success(.write(let event)) = decoder.decode(request).result else {
                fatalError("not a write: \(request)")
            }
            return event
        }
    }

    static func submissions(_ events: [WriteEvent], by peer: Peer = handler) -> [WriteSubmission] {
        events.map { WriteSubmission(event: $0, peer: peer) { _ in } }
    }

    /// An answer without what differs by chance from one engine to the other: alert ids.
    static func comparable(_ result: Result<WriteAck, HotlineError>) -> String {
        switch result {
        case .success(var ack):
            ack.alertID = ack.alertID.map { _ in "some alert" }
            return JSONWriter.string(ack.json)
        case .failure(let error):
            return "\(error.code): \(error.message) (\(error.field ?? "-"))"
        }
    }

    /// A session of the test's own on the log's primary.
    static func session(_ log: PostgresLog) throws -> PostgresSession {
        try PostgresSession.open(log.connector, logger: logger).session
    }

    /// Every row's links recomputed from its digest (an audit entry's digest from its
    /// content too): whether the chain holds from the first row, and the rows' seqs.
    static func chainHolds(_ log: PostgresLog, audit: Bool = false) throws -> (holds: Bool, seqs: [Int64]) {
        let session = try session(log)
        defer { session.close() }
        var (previous, previousMAC, holds, seqs) = (Chain.genesis, Chain.macGenesis, true, [Int64]())
        for row in try session.rows(audit ? "SELECT * FROM audit ORDER BY seq" : "SELECT * FROM events ORDER BY seq") {
            let r = row.makeRandomAccess()
            let digest = try r["digest"].decode(Data.self)
            if audit {
                let recomputed = try PostgresLog.auditRow(row).digest
                holds = holds && recomputed == digest
            }
            previous = Chain.link(previous, digest)
            previousMAC = keys.chainMAC(after: previousMAC, digest: digest)
            let (hash, mac) = (try r["hash"].decode(Data.self), try r["mac"].decode(Data.self))
            holds = holds && previous == hash && previousMAC == mac
            seqs.append(try r["seq"].decode(Int64.self))
        }
        return (holds, seqs)
    }

    @Test func theSameEventsGetTheSameAnswersAsOnSQLite() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let postgres = try Self.log(cluster)
        defer { postgres.close() }
        let scratch = try ScratchSQLite()
        let sqlite = scratch.store

        let (a, b) = (UUIDText.random(), UUIDText.random())
        let first = Req.start(call: a, dialled: "999", extra: ["cli": "+447700900123", "caller": ["name": "A Caller"]])
        let hotline = Req.start(call: b, dialled: "0800 789 321", extra: ["cli": "+447700900456"])
        let batch = Self.events([
            first,
            hotline,
            Req.update(call: a, set: ["flags": ["threat_to_life": true]], note: "Smoke seen from the road"),
            first,  // a resend: its original answer
            Req.update(call: b, event: first["event_id"]!.stringValue!, note: "not the first event"),  // a used event_id
            Req.update(call: UUIDText.random(), note: "no such call"),
            Req.update(call: b, set: ["anonymous_requested": true]),  // the caller's identity erased
            Req.end(call: a),
        ])
        let onSQLite = sqlite.commit(Self.submissions(batch), policy: Self.policy, alerting: AlertSettings(), now: Self.now)
        let onPostgres = postgres.commit(Self.submissions(batch), policy: Self.policy, alerting: AlertSettings(), now: Self.now)
        #expect(onPostgres.results.map(Self.comparable) == onSQLite.results.map(Self.comparable))
        #expect(onPostgres.alerts.count == onSQLite.alerts.count)
        #expect(onPostgres.results.compactMap { try? $0.get() }.filter { $0.duplicate }.count == 1)
        // A marking lowered by a supervisor: answered alike, and audited on both.
        let lower = Self.events([Req.update(call: b, set: ["marking": "OFFICIAL"], reason: "declassified")])
        #expect(
            postgres.commit(Self.submissions(lower, by: Self.supervisor), policy: Self.policy, alerting: AlertSettings(), now: Self.now)
                .results.map(Self.comparable)
                == sqlite.commit(
                    Self.submissions(lower, by: Self.supervisor), policy: Self.policy, alerting: AlertSettings(), now: Self.now
                )
                .results.map(Self.comparable))

        let (p, s) = (try postgres.counts(), try sqlite.counts())
        #expect([p.events, p.calls, p.callsOpen, p.alertsUnacked] == [s.events, s.calls, s.callsOpen, s.alertsUnacked])
        #expect(postgres.heads.events.seq == sqlite.heads.events.seq)
        #expect(postgres.heads.audit.seq == 1)
        #expect(try Self.chainHolds(postgres) == (true, Array(1...s.events)))
        // Caller B asked to stay anonymous: no identity of theirs is left in the log's rows.
        #expect(try cluster.sql(cluster.primaryPort, "SELECT count(*) FROM event_identity WHERE call_id = '\(b)'") == "0")
        #expect(try cluster.sql(cluster.primaryPort, "SELECT identity IS NULL FROM calls WHERE call_id = '\(b)'") == "t")
        // Read back alike: the call with its identity, location, notes and alerts; the list.
        for call in [a, b] {
            let (p, s) = (
                try #require(try postgres.call(id: call, notesAfter: nil, maxNotes: 1000, maxNoteBytes: 1 << 20)),
                try #require(try sqlite.call(id: call, notesAfter: nil, maxNotes: 1000, maxNoteBytes: 1 << 20))
            )
            #expect(p.state == s.state)
            #expect(p.notes == s.notes)
            #expect(p.alerts.map(\.reason) == s.alerts.map(\.reason))
            #expect(p.recordedAt == s.recordedAt)
        }
        #expect(try postgres.call(id: UUIDText.random(), notesAfter: nil, maxNotes: 10, maxNoteBytes: 1000) == nil)
        let window = CallsQuery(from: try Timestamp(rfc3339: "2026-11-24T00:00:00Z"), to: try Timestamp(rfc3339: "2026-11-25T00:00:00Z"))
        #expect(try postgres.listCalls(window, ownerUID: nil).calls == (try sqlite.listCalls(window, ownerUID: nil).calls))
        #expect(try postgres.listCalls(window, ownerUID: 1001).calls.count == 2)
        #expect(try postgres.listCalls(window, ownerUID: 999).calls.isEmpty)
        // And what the primary acknowledged, the standby has (flushed at the commit; applied,
        // so readable there, a moment later).
        let deadline = Date().addingTimeInterval(10)
        var onStandby = ""
        repeat {
            onStandby = try cluster.sql(cluster.standbyPort, "SELECT count(*) FROM events")
        } while onStandby != "\(s.events)" && Date() < deadline
        #expect(onStandby == "\(s.events)")
    }

    @Test func aCallsNotesAndTheCallsListPageAlike() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let postgres = try Self.log(cluster)
        defer { postgres.close() }
        let scratch = try ScratchSQLite()
        let sqlite = scratch.store
        let call = UUIDText.random()
        let batch = Self.events(
            [Req.start(call: call, dialled: "0800 789 321")]
                + (1...7).map { Req.update(call: call, note: "note \($0) " + String(repeating: "x", count: 100)) }
                + (0..<5).map { _ in Req.start(dialled: "101") })
        for log in [postgres.commit, sqlite.commit]
            as [([WriteSubmission], CallPolicy, AlertSettings, Timestamp, Int, () -> Bool) -> BatchOutcome]
        {
            #expect(
                log(Self.submissions(batch), Self.policy, AlertSettings(), Self.now, .max, { false }).results.allSatisfy {
                    (try? $0.get()) != nil
                })
        }
        func pages(_ read: (Int64?) throws -> CallDetail?) throws -> [[String]] {
            var pages: [[String]] = []
            var after: Int64? = nil
            repeat {
                let page = try #require(try read(after))
                pages.append(page.notes.map(\.text))
                after = page.notesNext
            } while after != nil && pages.count < 10
            return pages
        }
        // By count, and by bytes (250 bytes: a page ends once its notes reach it).
        for (maxNotes, maxBytes) in [(3, 1 << 20), (100, 250)] {
            let p = try pages { try postgres.call(id: call, notesAfter: $0, maxNotes: maxNotes, maxNoteBytes: maxBytes) }
            #expect(p == (try pages { try sqlite.call(id: call, notesAfter: $0, maxNotes: maxNotes, maxNoteBytes: maxBytes) }))
            #expect(p.flatMap { $0 }.count == 7)
            #expect(p.count > 1)
        }
        let window = CallsQuery(
            from: try Timestamp(rfc3339: "2026-11-24T00:00:00Z"), to: try Timestamp(rfc3339: "2026-11-25T00:00:00Z"), limit: 2)
        func list(_ read: (CallsQuery) throws -> CallPage) throws -> [[String]] {
            var query = window
            var pages: [[String]] = []
            while pages.count < 10 {
                let page = try read(query)
                pages.append(page.calls.map(\.id))
                guard let next = page.nextAfterSeq else { break }
                query.afterSeq = next
            }
            return pages
        }
        let listed = try list { try postgres.listCalls($0, ownerUID: nil) }
        #expect(listed == (try list { try sqlite.listCalls($0, ownerUID: nil) }))
        #expect(listed.map(\.count) == [2, 2, 2])
    }

    /// Alerts from raising to delivery, and the audit log, told as a transcript: the same
    /// on both engines.
    static func alertTranscript(_ log: some AlertEngine) throws -> [String] {
        let settings = AlertSettings(
            maxLevel: 3, ackSeconds: 60,
            sinks: [
                AlertSink(name: "pager", kind: .command, levels: [2], argv: ["/bin/true"]),
                AlertSink(name: "board", kind: .journal, levels: [1, 2]),
            ])
        var transcript: [String] = []
        func note(_ line: String) { transcript.append(line) }
        let calls = Self.events([Req.start(dialled: "999"), Req.start(dialled: "112"), Req.start(dialled: "0800 789 321")])
        let outcome = log.commit(
            Self.submissions(calls), policy: Self.policy, alerting: settings, now: Self.now, yieldFrom: .max, shouldYield: { false })
        note("raised \(outcome.alerts.map { "\($0.reason.rawValue)/\($0.level)" })")
        let backlog = try log.alertBacklog()
        note("backlog \(backlog.count) of \(backlog.lastSeq)")
        let first = try log.alertBacklogPage(backlog, after: nil, limit: 1)
        let rest = try log.alertBacklogPage(backlog, after: first.last, limit: 10)
        note("pages \(first.map(\.seq)) \(rest.map(\.seq))")
        note(
            "due \(try log.dueDeliveries(now: Self.now, limit: 100, excludingSinks: [], excludingIDs: []).map { "\($0.sink)/\($0.level)" })"
        )
        note("due but board \(try log.dueDeliveries(now: Self.now, limit: 100, excludingSinks: ["board"], excludingIDs: []).count)")
        // Acknowledged: the first once (a resend answered the same, audited no more).
        let acked = try #require(try log.acknowledgeAlert(id: outcome.alerts[0].id, by: Self.supervisor, at: Self.now))
        let again = try #require(try log.acknowledgeAlert(id: outcome.alerts[0].id, by: Self.supervisor, at: Self.now.adding(seconds: 5)))
        note("acked \(acked.ackedAt == again.ackedAt) by \(acked.ackedBy ?? 0)")
        note("unknown \(try log.acknowledgeAlert(id: UUIDText.random(), by: Self.supervisor, at: Self.now) == nil)")
        note("then \(try log.alertBacklogPage(backlog, after: nil, limit: 10).map { $0.ackedAt != nil })")
        // Two minutes on: the other goes up, a level at a time, to the top and no further,
        // and is queued for the sinks of each level.
        let later = Self.now.adding(seconds: 120)
        note("escalated \(try log.escalateDue(now: later, settings: settings) { _ in 60 }.map { "\($0.reason.rawValue)/\($0.level)" })")
        note("escalated again \(try log.escalateDue(now: later, settings: settings) { _ in 60 }.map(\.level))")
        note("and again \(try log.escalateDue(now: later, settings: settings) { _ in 60 }.count)")
        let due = try log.dueDeliveries(now: later, limit: 100, excludingSinks: [], excludingIDs: [])
        note("due \(due.map { "\($0.sink)/\($0.level)" })")
        for delivery in due { try log.markDelivered(delivery.id, at: later) }
        note("next \(try log.nextDeliveryDue().map(\.microseconds) ?? 0)")
        let entry = try log.audit(
            AuditEntry(peer: Self.supervisor, op: "call.get", at: later, detail: ["call_ids": [], "result": "ok"], reason: "a complaint"),
            sync: true)
        note("audited \(entry.seq)")
        let counts = try log.counts()
        note("counts \(counts.events) \(counts.calls) \(counts.alertsUnacked)")
        return transcript
    }

    @Test func alertsAndTheAuditLogBehaveAlike() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let postgres = try Self.log(cluster)
        defer { postgres.close() }
        let scratch = try ScratchSQLite()
        let onPostgres = try Self.alertTranscript(postgres)
        #expect(onPostgres == (try Self.alertTranscript(scratch.store)))
        #expect(onPostgres.contains("escalated again [3]") && onPostgres.contains("and again 0"))
        #expect(onPostgres.last == "counts 3 3 1")
        #expect(postgres.heads.audit.seq == 2)
    }

    @Test func theAuditLogAndTheExportPageAlike() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let postgres = try Self.log(cluster)
        defer { postgres.close() }
        let scratch = try ScratchSQLite()
        let engines: [any PagingEngine] = [postgres, scratch.store]
        // Twelve entries, four of them in one microsecond (a page never splits those),
        // with reasons, which are sealed and opened again.
        for engine in engines {
            for i in 0..<12 {
                let at = Self.now.adding(seconds: i < 4 ? 0 : Double(i))
                _ = try engine.audit(
                    AuditEntry(
                        peer: Self.supervisor, op: "call.get", at: at, detail: ["call_ids": [.string("c\(i)")], "result": "ok"],
                        reason: "case \(i)"), sync: true)
            }
            let calls = Self.events(
                (0..<5).map { Req.start(dialled: $0 % 2 == 0 ? "999" : "101", at: "2026-11-24T19:0\($0):00Z") })
            _ = engine.commit(
                Self.submissions(calls), policy: Self.policy, alerting: AlertSettings(), now: Self.now, yieldFrom: .max,
                shouldYield: { false })
        }
        func auditPages(_ engine: any PagingEngine, limit: Int, maxBytes: Int) throws -> [[String]] {
            var pages: [[String]] = []
            var from = Self.now.adding(seconds: -1)
            while pages.count < 20 {
                let page = try engine.auditEntries(from: from, to: Self.now.adding(seconds: 3600), limit: limit, maxBytes: maxBytes)
                pages.append(page.entries.map { "\($0.seq) \($0.reason ?? "-") \($0.at.microseconds)" })
                guard let next = page.nextFrom else { break }
                from = next
            }
            return pages
        }
        for (limit, maxBytes) in [(3, 1 << 20), (100, 120), (5000, 1 << 20)] {
            let p = try auditPages(postgres, limit: limit, maxBytes: maxBytes)
            #expect(p == (try auditPages(scratch.store, limit: limit, maxBytes: maxBytes)), "limit \(limit), bytes \(maxBytes)")
            #expect(p.flatMap { $0 }.count == 12)
            #expect(p.first?.count ?? 0 >= 4)  // the four of one microsecond together
        }
        func exportPages(_ engine: any PagingEngine) throws -> [String] {
            var rows: [String] = []
            var after: Int64? = nil
            repeat {
                let page = try engine.exportPage(
                    from: try Timestamp(rfc3339: "2026-11-24T00:00:00Z"), to: try Timestamp(rfc3339: "2026-11-25T00:00:00Z"),
                    afterSeq: after, limit: 2)
                rows += page.calls.map { "\($0.summary.route) \($0.alerts.count)" }
                after = page.nextAfterSeq
            } while after != nil && rows.count < 20
            return rows
        }
        let exported = try exportPages(postgres)
        #expect(exported == (try exportPages(scratch.store)))
        #expect(exported == ["emergency 1", "unrouted 0", "emergency 1", "unrouted 0", "emergency 1"])
    }

    /// Collects what a room hears from the others.
    final class Heard: Sendable {
        let alerts = Mutex<[Alert]>([])
        func wait(for count: Int, seconds: Double = 10) -> [Alert] {
            let deadline = Date().addingTimeInterval(seconds)
            while alerts.withLock({ $0.count }) < count, Date() < deadline { usleep(20_000) }
            return alerts.withLock { $0 }
        }
    }

    @Test func anAlertRaisedOrEscalatedInOneRoomReachesTheOtherOnce() async throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let (north, south) = (try Self.log(cluster), try Self.log(cluster))
        defer {
            north.close()
            south.close()
        }
        let (heardInNorth, heardInSouth) = (Heard(), Heard())
        // On threads of their own: this test blocks a concurrency-pool thread while it waits,
        // and on two cores other tests may hold the other.
        let listeners = [
            Task(executorPreference: PostgresExecutor.shared) {
                await north.alertsFromOtherRooms { alert in heardInNorth.alerts.withLock { $0.append(alert) } }
            },
            Task(executorPreference: PostgresExecutor.shared) {
                await south.alertsFromOtherRooms { alert in heardInSouth.alerts.withLock { $0.append(alert) } }
            },
        ]
        defer { for listener in listeners { listener.cancel() } }
        let deadline = Date().addingTimeInterval(10)
        while try cluster.sql(cluster.primaryPort, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hotlined alerts'")
            != "2",
            Date() < deadline
        {
            usleep(50_000)
        }
        try #require(
            try cluster.sql(cluster.primaryPort, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hotlined alerts'") == "2",
            "the two rooms did not start listening")
        // Raised in the north: heard in the south, as committed; not echoed back north.
        let raised = north.commit(
            Self.submissions(Self.events([Req.start(dialled: "999")])), policy: Self.policy, alerting: AlertSettings(), now: Self.now
        ).alerts
        #expect(raised.count == 1)
        #expect(heardInSouth.wait(for: 1).map(\.id) == raised.map(\.id))
        // Escalated in the south (a minute on): heard in the north at its new level.
        let escalated = try south.escalateDue(now: Self.now.adding(seconds: 61), settings: AlertSettings()) { _ in 60 }
        #expect(escalated.map(\.level) == [2])
        #expect(heardInNorth.wait(for: 1).map { "\($0.id) \($0.level)" } == ["\(raised[0].id) 2"])
        usleep(300_000)
        #expect(heardInSouth.alerts.withLock { $0.count } == 1)
        #expect(heardInNorth.alerts.withLock { $0.count } == 1)

        // Both listening sessions lost (as in a failover): an alert the north raises before
        // they listen again is caught up once the south does.
        _ = try cluster.sql(
            cluster.primaryPort, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hotlined alerts'")
        let gone = Date().addingTimeInterval(10)
        while try cluster.sql(cluster.primaryPort, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hotlined alerts'")
            != "0",
            Date() < gone
        {
            usleep(20_000)
        }
        let inTheGap = north.commit(
            Self.submissions(Self.events([Req.start(dialled: "112")])), policy: Self.policy, alerting: AlertSettings(), now: Self.now
        ).alerts
        #expect(inTheGap.count == 1)
        #expect(heardInSouth.wait(for: 2, seconds: 15).map(\.id).contains(inTheGap[0].id))
    }

    /// A listening session whose server stops answering without closing it (a machine gone
    /// without a reset; here its server process stopped with SIGSTOP): the probe notices,
    /// the room listens again on a new session and catches up on what it missed.
    @Test func aListenerWhoseServerFallsSilentListensAgain() async throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let (north, west) = (try Self.log(cluster), try Self.log(cluster))
        defer {
            north.close()
            west.close()
        }
        let heard = Heard()
        let listener = Task(executorPreference: PostgresExecutor.shared) {
            await west.alertsFromOtherRooms(retry: .milliseconds(200), probeEvery: .seconds(1)) { alert in
                heard.alerts.withLock { $0.append(alert) }
            }
        }
        defer { listener.cancel() }
        let listening = "SELECT pid FROM pg_stat_activity WHERE application_name = 'hotlined alerts' AND state = 'idle'"
        let deadline = Date().addingTimeInterval(10)
        while try cluster.sql(cluster.primaryPort, listening).isEmpty, Date() < deadline { usleep(50_000) }
        let pid = try #require(Int32(try cluster.sql(cluster.primaryPort, listening)))
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        let raised = north.commit(
            Self.submissions(Self.events([Req.start(dialled: "999")])), policy: Self.policy, alerting: AlertSettings(), now: Self.now
        ).alerts
        #expect(raised.count == 1)
        #expect(heard.wait(for: 1, seconds: 15).map(\.id) == raised.map(\.id))
        // And it stops when told to (a daemon stopping waits for it), however it listens.
        let stopped = Heard()
        listener.cancel()
        // Watched from a thread of the PostgreSQL executor, not the cooperative pool: the
        // test waits below by blocking, and with every suite running, the pool's two
        // threads (on two cores) can all be blocked so (the run of 2026-11-30 saw it).
        Task(executorPreference: PostgresExecutor.shared) {
            await listener.value; stopped.alerts.withLock { $0 = raised }
        }
        #expect(!stopped.wait(for: 1, seconds: 5).isEmpty, "the listener did not stop within 5 s of being cancelled")
    }

    static func room(_ cluster: PostgresCluster, _ ports: [Int]) throws -> PostgresLeadership {
        PostgresLeadership(
            connector: try PostgresConnector(
                settings: PostgreSQLSettings(
                    hosts: ports.map(cluster.host), database: "postgres", user: cluster.user, connectTimeoutSeconds: 2),
                credentials: nil, logger: logger),
            logger: logger)
    }

    /// What a failover manager does once it has promoted a standby with none of its own left.
    static func standAlone(_ cluster: PostgresCluster) throws {
        try cluster.sql(cluster.standbyPort, "ALTER SYSTEM SET synchronous_standby_names = ''")
        try cluster.sql(cluster.standbyPort, "SELECT pg_reload_conf()")
    }

    @Test func exactlyOneRoomLeadsAndAnotherTakesOverWhenItGoes() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        try Self.log(cluster).close()  // the schema, with its lease
        let hosts = [cluster.primaryPort, cluster.standbyPort]
        let (north, south) = (try Self.room(cluster, hosts), try Self.room(cluster, hosts))
        #expect(north.tryToLead())
        #expect(!south.tryToLead())
        #expect(north.tryToLead())  // still
        #expect(!south.tryToLead())
        let firstEpoch = north.epoch
        north.resign()  // a stop
        #expect(south.tryToLead())
        #expect(!north.tryToLead())
        #expect(south.epoch == firstEpoch + 1)
        // The primary lost and a standby promoted: the lease came with the log, and its holder
        // renews it there; the other room still does not lead.
        try cluster.kill(cluster.primary)
        try cluster.promote(cluster.standby)
        try Self.standAlone(cluster)
        #expect(south.tryToLead())
        #expect(!north.tryToLead())
        #expect(south.isLeader && !north.isLeader)
        south.resign()
        #expect(north.tryToLead())
        north.resign()
    }

    /// A failover with the old primary left running (no fencing): the room leading there
    /// cannot renew, since its commits wait for a standby that now follows another, and it
    /// stops leading; the other room leads on the new primary once the lease has run out,
    /// and not before.
    @Test func aLeaderLeftOnAnOldPrimaryStopsLeadingBeforeAnotherStarts() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        try Self.log(cluster).close()
        let north = try Self.room(cluster, [cluster.primaryPort])
        let south = try Self.room(cluster, [cluster.standbyPort])
        #expect(north.tryToLead())
        try cluster.promote(cluster.standby)
        try Self.standAlone(cluster)
        #expect(!south.tryToLead())  // the lease, replicated, is north's for a while yet
        #expect(!north.tryToLead())  // its renewal waits for a standby that is gone, and fails
        #expect(!north.isLeader)
        let deadline = Date().addingTimeInterval(15)
        while !south.tryToLead(), Date() < deadline { usleep(500_000) }
        #expect(south.isLeader)
        #expect(!north.isLeader)
        south.resign()
        north.resign()
    }

    @Test func retentionPurgesAlikeAndLeavesTheChainWhole() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let postgres = try Self.log(cluster)
        defer { postgres.close() }
        let scratch = try ScratchSQLite()
        let (a, b, c) = (UUIDText.random(), UUIDText.random(), UUIDText.random())
        let batch = Self.events([
            Req.start(call: a, dialled: "999", extra: ["cli": "+447700900123"]), Req.start(call: b, dialled: "0800 789 321"),
            Req.start(call: c, dialled: "101"), Req.update(call: a, note: "a note"), Req.end(call: a), Req.end(call: b),
        ])
        let later = try Timestamp(rfc3339: "2027-01-01T00:00:00Z")
        let rules = [RetentionRule(purgeAfterDays: 30)]
        var details: [[String: JSONValue]] = []
        var reports: [PurgeReport] = []
        for engine in [postgres, scratch.store] as [any RetentionEngine] {
            _ = engine.commit(
                Self.submissions(batch), policy: Self.policy, alerting: AlertSettings(), now: Self.now, yieldFrom: .max,
                shouldYield: { false })
            reports.append(try engine.purge(rules: rules, now: later, uid: 0, pid: 1))
            let entries = try engine.auditEntries(from: later, to: later.adding(seconds: 1), limit: 10, maxBytes: 1 << 20).entries
            details.append(try #require(entries.first).detail)
            // A purged call's id is spent, alike.
            let reused = engine.commit(
                Self.submissions(Self.events([Req.start(call: a, dialled: "999")])), policy: Self.policy, alerting: AlertSettings(),
                now: later, yieldFrom: .max, shouldYield: { false }
            ).results
            #expect((try? reused[0].get()) == nil)
        }
        #expect(reports[0] == reports[1])
        #expect(reports[0].calls == 2 && reports[0].events == 5)
        // Each engine's tombstones hash its own rows (their digests differ by the random alert
        // ids and identity nonces): PostgreSQL's purged rows, hashed as SQLite hashes a row,
        // give the digest its purge recorded.
        let session = try Self.session(postgres)
        defer { session.close() }
        var rehashed = Chain.Tombstones()
        for row in try session.rows(
            "SELECT seq, event_id, call_id, op, recorded_at, peer_uid, peer_pid, identity_commitment, digest FROM events WHERE purged_by IS NOT NULL ORDER BY seq"
        ) {
            let r = row.makeRandomAccess()
            rehashed.add(
                [
                    "seq": try r["seq"].decode(Int64.self), "event_id": try r["event_id"].decode(String.self),
                    "call_id": try r["call_id"].decode(String.self), "op": try r["op"].decode(String.self),
                    "recorded_at": try r["recorded_at"].decode(Int64.self), "peer_uid": try r["peer_uid"].decode(Int64.self),
                    "peer_pid": try r["peer_pid"].decode(Int64.self),
                    "identity_commitment": try r["identity_commitment"].decode(Data?.self),
                    "digest": try r["digest"].decode(Data?.self),
                ] as GRDB.Row)
        }
        #expect(details[0]["tombstones"] == .string(rehashed.digest.hex))
        #expect(details[0]["events"] == details[1]["events"])
        #expect(Set((details[0]["call_ids"]?.arrayValue ?? []).compactMap(\.stringValue)) == [a, b])
        #expect(try postgres.counts().calls == 1)
        #expect(try postgres.call(id: a, notesAfter: nil, maxNotes: 10, maxNoteBytes: 1000) == nil)
        // The tombstones keep the chain whole.
        #expect(try Self.chainHolds(postgres).holds)
        #expect(try cluster.sql(cluster.primaryPort, "SELECT count(*) FROM events WHERE purged_by IS NOT NULL AND body = ''") == "5")
        #expect(try cluster.sql(cluster.primaryPort, "SELECT count(*) FROM event_identity") == "0")
    }

    /// `verify` on PostgreSQL walks the same chains, projection and identities as on
    /// SQLite: a whole log is intact on both, and the same edits, made by an insider with
    /// the database, are found alike.
    @Test func verifyFindsTheSameOnBothEngines() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let postgres = try Self.log(cluster)
        defer { postgres.close() }
        let scratch = try ScratchSQLite()
        let (a, b, c, d) = (UUIDText.random(), UUIDText.random(), UUIDText.random(), UUIDText.random())
        let batch = Self.events([
            Req.start(call: a, dialled: "999", extra: ["cli": "+447700900123", "caller": ["name": "A Caller"]]),
            Req.start(call: b, dialled: "0800 789 321", extra: ["cli": "+447700900456"]),
            Req.start(call: c, dialled: "0800 789 321", extra: ["cli": "+447700900789"]),
            Req.start(call: d, dialled: "101"),
            Req.update(
                call: a, set: ["location": ["text": "Junction 28, M1", "lat": 53.06, "lon": -1.48], "flags": ["threat_to_life": true]],
                note: "Smoke seen from the road"),
            Req.update(call: c, set: ["anonymous_requested": true, "category": "suspicious-vehicle"]),
            Req.update(call: d, set: ["caller": ["name": "D Caller"]]),
            Req.end(call: b),
        ])
        let later = try Timestamp(rfc3339: "2027-01-01T00:00:00Z")
        var reports: [VerifyReport] = []
        for engine in [postgres, scratch.store] as [any VerifyEngine] {
            _ = engine.commit(
                Self.submissions(batch), policy: Self.policy, alerting: AlertSettings(), now: Self.now, yieldFrom: .max,
                shouldYield: { false })
            try engine.audit(
                AuditEntry(at: Self.now, uid: 1002, pid: 4243, role: .supervisor, op: "call.get", detail: ["call_id": .string(a)]),
                sync: true)
            #expect(try engine.purge(rules: [RetentionRule(purgeAfterDays: 30)], now: later, uid: 0, pid: 1).calls == 1)
            reports.append(try engine.verify())
        }
        for report in reports {
            #expect(report.ok, "\(report.problems)")
            #expect(report.keyed == .checked)
        }
        #expect(reports[0].events == reports[1].events)
        #expect(reports[0].auditEntries == reports[1].auditEntries && reports[0].auditEntries == 2)
        #expect(reports[0].eventHead == postgres.heads.events)

        // The same edits on both.
        let edits = [
            "UPDATE calls SET category = 'edited' WHERE call_id = '\(a)'",
            "UPDATE events SET recorded_at = recorded_at + 1 WHERE seq = 4",
            "DELETE FROM event_identity WHERE call_id = '\(d)'",
            "UPDATE audit SET detail = detail || ' ' WHERE seq = 1",
            "UPDATE events SET body = '{}' WHERE seq = (SELECT MIN(seq) FROM events WHERE purged_by IS NOT NULL)",
            "UPDATE calls SET location = NULL WHERE call_id = '\(a)'",
            "DELETE FROM calls WHERE call_id = '\(c)'",
        ]
        for edit in edits { _ = try cluster.sql(cluster.primaryPort, edit) }
        let file = try DatabaseQueue(path: scratch.directory.path + "/calls.sqlite")
        try file.write { db in
            for edit in edits { try db.execute(sql: edit) }
        }
        try file.close()
        let tampered = (try postgres.verify(), try scratch.store.verify())
        #expect(!tampered.0.ok)
        #expect(Set(tampered.0.problems) == Set(tampered.1.problems))
        #expect(tampered.0.problems.count == tampered.1.problems.count)
        #expect(tampered.0.badCalls.sorted() == tampered.1.badCalls.sorted())
        #expect(tampered.0.firstBadSeq == tampered.1.firstBadSeq && tampered.0.firstBadSeq != nil)
        #expect(tampered.0.firstBadAuditSeq == 1 && tampered.1.firstBadAuditSeq == 1)
        #expect(Set(tampered.0.badCalls) == [a, c, d])
        for expected in [
            "audit entry 1 was changed", "event 4 was changed", "was purged, yet has content again",
            "but the caller never became anonymous", "call \(c) was deleted from the calls table",
        ] {
            #expect(tampered.0.problems.contains { $0.contains(expected) }, "\(expected)")
        }
        #expect(tampered.0.problems.contains { $0.contains("call \(a) was changed") && $0.contains("category, location") })
    }

    /// Rows deleted from the end of either chain under the daemon: the next write says so
    /// in the journal and chains past the gap, which verify then finds.
    @Test func rowsDeletedFromTheEndAreJournalledAndLeftAsAGap() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let journal = CapturedLog()
        let log = try PostgresLog(
            connector: try PostgresConnector(
                settings: PostgreSQLSettings(
                    hosts: [cluster.host(cluster.primaryPort)], database: "postgres", user: cluster.user, connectTimeoutSeconds: 2),
                credentials: nil, logger: Self.logger),
            keys: Self.keys, logger: Logger(label: "test") { _ in journal })
        defer { log.close() }
        _ = log.commit(
            Self.submissions(Self.events([Req.start(dialled: "101"), Req.start(dialled: "101")])), policy: Self.policy,
            alerting: AlertSettings(), now: Self.now)
        _ = try log.audit(AuditEntry(peer: Self.supervisor, op: "call.get", at: Self.now, detail: [:]), sync: true)
        try cluster.sql(cluster.primaryPort, "DELETE FROM events WHERE seq = 2; DELETE FROM audit WHERE seq = 1")
        let next = log.commit(
            Self.submissions(Self.events([Req.start(dialled: "101")])), policy: Self.policy, alerting: AlertSettings(), now: Self.now
        ).results
        #expect((try? next[0].get())?.seq == 3)
        _ = try log.audit(AuditEntry(peer: Self.supervisor, op: "call.get", at: Self.now, detail: [:]), sync: true)
        #expect(journal.messages.filter { $0.contains("event log is not what this daemon wrote") }.count == 1)
        #expect(journal.messages.filter { $0.contains("audit log is not what this daemon wrote") }.count == 1)
        #expect(try cluster.sql(cluster.primaryPort, "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM events") == "1,3")
        #expect(try cluster.sql(cluster.primaryPort, "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM audit") == "2")
    }

    @Test func twoDaemonsWritingAtOnceKeepOneChain() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let rooms = [try Self.log(cluster), try Self.log(cluster)]
        defer { for room in rooms { room.close() } }
        let failures = Atomic<Int>(0)
        let done = DispatchGroup()
        for room in rooms {
            // Each room's writer, and beside it its readers' audit entries and its
            // supervisors' acknowledgements, all extending the audit chain at once.
            DispatchQueue.global().async(group: done) {
                for _ in 0..<15 {
                    let batch = Self.events((0..<3).map { _ in Req.start(dialled: "0800 789 321") } + [Req.start(dialled: "999")])
                    let outcome = room.commit(Self.submissions(batch), policy: Self.policy, alerting: AlertSettings(), now: Self.now)
                    failures.add(outcome.results.filter { (try? $0.get()) == nil }.count, ordering: .relaxed)
                    for alert in outcome.alerts {
                        if (try? room.acknowledgeAlert(id: alert.id, by: Self.supervisor, at: Self.now)) == nil {
                            failures.add(1, ordering: .relaxed)
                        }
                    }
                }
            }
            DispatchQueue.global().async(group: done) {
                for i in 0..<15 {
                    let entry = AuditEntry(
                        peer: Self.supervisor, op: "call.get", at: Self.now, detail: ["n": .int(Int64(i))], reason: "a check")
                    if (try? room.audit(entry, sync: true)) == nil { failures.add(1, ordering: .relaxed) }
                }
            }
        }
        done.wait()
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(try Self.chainHolds(rooms[0]) == (true, Array(1...120)))
        #expect(try rooms[1].counts().events == 120)
        // 30 alerts acknowledged and 30 reads: one audit chain, every link recomputing.
        #expect(try Self.chainHolds(rooms[1], audit: true) == (true, Array(1...60)))
    }

    /// A statement the server refuses (here a constraint an administrator added) fails its
    /// own event, not the others of its batch, and the chain goes on past it.
    @Test func anEventTheServerRefusesFailsAloneAndTheBatchGoesOn() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let log = try Self.log(cluster)
        defer { log.close() }
        try cluster.sql(
            cluster.primaryPort, "ALTER TABLE calls ADD CONSTRAINT not_this CHECK (category IS DISTINCT FROM 'refused-here')")
        let call = UUIDText.random()
        let batch = Self.events([
            Req.start(call: call, dialled: "0800 789 321"),
            Req.update(call: call, set: ["category": "refused-here"]),
            Req.update(call: call, note: "after it"),
        ])
        let results = log.commit(Self.submissions(batch), policy: Self.policy, alerting: AlertSettings(), now: Self.now).results
        #expect(results.map { (try? $0.get())?.seq } == [1, nil, 2])
        if case .failure(let error) = results[1] { #expect(error.code == .storage) }
        #expect(log.storageFault == nil)
        #expect(try Self.chainHolds(log) == (true, [1, 2]))
    }

    /// A batch of nothing but resends waits for the standby like any other: its answers
    /// say the events are stored, and only once the standby has everything before them.
    @Test func aBatchOfResendsIsAnsweredOnlyOnceTheStandbyHasIt() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let log = try Self.log(cluster)
        defer { log.close() }
        let sent = Self.events([Req.start(dialled: "999")])
        #expect(
            (try? log.commit(Self.submissions(sent), policy: Self.policy, alerting: AlertSettings(), now: Self.now).results[0].get()) != nil
        )
        try cluster.kill(cluster.standby)
        let answered = Atomic<Bool>(false)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let again = log.commit(Self.submissions(sent), policy: Self.policy, alerting: AlertSettings(), now: Self.now).results
            answered.store((try? again[0].get())?.duplicate == true, ordering: .relaxed)
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 3) == .timedOut, "a resend was answered with the standby down")
        try cluster.start(cluster.standby)
        #expect(done.wait(timeout: .now() + 15) == .success)
        let wasDuplicate = answered.load(ordering: .relaxed)
        #expect(wasDuplicate)
    }

    /// A COMMIT cut off while it waits for the standby (its session terminated) may have
    /// committed on the primary: it is answered unavailable, never storage, and the resend,
    /// once the standby is back, is answered as the stored event it is.
    @Test func aCommitCutOffWhileItWaitsIsAnsweredUnavailableAndTheResendIsADuplicate() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let log = try Self.log(cluster)
        defer { log.close() }
        try cluster.kill(cluster.standby)
        let sent = Self.events([Req.start(dialled: "999")])
        let answer = Mutex<Result<WriteAck, HotlineError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let results = log.commit(Self.submissions(sent), policy: Self.policy, alerting: AlertSettings(), now: Self.now).results
            answer.withLock { $0 = results[0] }
            done.signal()
        }
        // The writer's COMMIT waits for the standby; an administrator terminates it.
        let deadline = Date().addingTimeInterval(10)
        var waiting = ""
        repeat {
            usleep(100_000)
            waiting = try cluster.sql(
                cluster.primaryPort, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND application_name = 'hotlined'")
        } while waiting != "1" && Date() < deadline
        try #require(waiting == "1", "the commit never waited for the standby")
        try cluster.sql(
            cluster.primaryPort, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")
        #expect(done.wait(timeout: .now() + 15) == .success)
        let cut = try #require(answer.withLock { $0 })
        guard case .failure(let error) = cut else {
            Issue.record("a commit cut off in its wait for the standby was acknowledged: \(cut)")
            return
        }
        #expect(error.code == .unavailable)
        // The standby back, the workstation sends it again: stored once, answered as such.
        try cluster.start(cluster.standby)
        let resent = log.commit(Self.submissions(sent), policy: Self.policy, alerting: AlertSettings(), now: Self.now).results
        #expect((try? resent[0].get())?.duplicate == true)
        #expect(try log.counts().events == 1)
    }

    @Test func aFailoverLosesNoAcknowledgedEventAndStoresNoneTwice() throws {
        let cluster = try PostgresCluster(bin: Requires.postgres!)
        let log = try Self.log(cluster, hosts: [cluster.primaryPort, cluster.standbyPort])
        defer { log.close() }
        let sent = Self.events((0..<10).map { _ in Req.start(dialled: "999") })
        let acked = log.commit(Self.submissions(sent), policy: Self.policy, alerting: AlertSettings(), now: Self.now).results
        #expect(acked.allSatisfy { (try? $0.get()) != nil })

        // The primary is lost; the next write is refused, not acknowledged.
        try cluster.kill(cluster.primary)
        let during = Self.events([Req.start(dialled: "999")])
        let refused = log.commit(Self.submissions(during), policy: Self.policy, alerting: AlertSettings(), now: Self.now).results
        #expect((try? refused[0].get()) == nil)
        if case .failure(let error) = refused[0] { #expect([.storage, .unavailable].contains(error.code)) }
        #expect(log.storageFault != nil)

        // The standby is promoted (and, alone now, no longer waits for a standby of its own),
        // and the workstations send again everything not acknowledged, and more.
        try cluster.promote(cluster.standby)
        try cluster.sql(cluster.standbyPort, "ALTER SYSTEM SET synchronous_standby_names = ''")
        try cluster.sql(cluster.standbyPort, "SELECT pg_reload_conf()")
        let resent = log.commit(Self.submissions(sent + during), policy: Self.policy, alerting: AlertSettings(), now: Self.now)
            .results
        #expect(resent.prefix(10).map { (try? $0.get())?.duplicate } == Array(repeating: true, count: 10))
        #expect(
            resent.prefix(10).map(Self.comparable)
                == acked.map {
                    Self.comparable(
                        $0.map {
                            var a = $0; a.duplicate = true; return a
                        })
                })
        #expect((try? resent[10].get())?.duplicate == false)
        #expect(try log.counts().events == 11)
        #expect(log.storageFault == nil)
        #expect(log.durability?.isReplicated == false)
        #expect(try Self.chainHolds(log) == (true, Array(1...11)))
    }
}

/// What the alert transcript asks of an engine; both have it.
protocol AlertEngine {
    func commit(
        _ batch: [WriteSubmission], policy: CallPolicy, alerting: AlertSettings, now: Timestamp, yieldFrom: Int,
        shouldYield: () -> Bool
    ) -> BatchOutcome
    func alertBacklog() throws -> AlertBacklog
    func alertBacklogPage(_ backlog: AlertBacklog, after last: Alert?, limit: Int) throws -> [Alert]
    func escalateDue(now: Timestamp, settings: AlertSettings, ackSeconds: (String) -> Double) throws -> [Alert]
    func acknowledgeAlert(id: String, by peer: Peer, at requested: Timestamp) throws -> Alert?
    func dueDeliveries(now: Timestamp, limit: Int, excludingSinks: [String], excludingIDs: Set<Int64>) throws -> [AlertDelivery]
    func markDelivered(_ id: Int64, at now: Timestamp) throws
    func nextDeliveryDue() throws -> Timestamp?
    func audit(_ entry: AuditEntry, sync: Bool) throws -> AuditEntry
    func counts() throws -> LogCounts
}

extension CallStore: AlertEngine {}
extension PostgresLog: AlertEngine {}

/// What the paging test asks of an engine; both have it.
protocol PagingEngine {
    func commit(
        _ batch: [WriteSubmission], policy: CallPolicy, alerting: AlertSettings, now: Timestamp, yieldFrom: Int,
        shouldYield: () -> Bool
    ) -> BatchOutcome
    func audit(_ entry: AuditEntry, sync: Bool) throws -> AuditEntry
    func auditEntries(from: Timestamp, to: Timestamp, limit: Int, maxBytes: Int) throws -> AuditPage
    func exportPage(from: Timestamp, to: Timestamp, afterSeq: Int64?, limit: Int) throws -> ExportPage
}

extension CallStore: PagingEngine {}
extension PostgresLog: PagingEngine {}

/// What the retention test asks of an engine; both have it.
protocol RetentionEngine: PagingEngine {
    func purge(rules: [RetentionRule], now: Timestamp, uid: UInt32, pid: Int32) throws -> PurgeReport
}

extension CallStore: RetentionEngine {}
extension PostgresLog: RetentionEngine {}

/// What the verify test asks of an engine; both have it.
protocol VerifyEngine: RetentionEngine {
    func verify() throws -> VerifyReport
}

extension CallStore: VerifyEngine {}
extension PostgresLog: VerifyEngine {}

/// A log handler that keeps every message, for what the journal would say.
final class CapturedLog: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var kept: [String] = []
    var messages: [String] { lock.withLock { kept } }
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { lock.withLock { kept.append("\(event.message)") } }
}
