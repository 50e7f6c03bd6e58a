import Foundation
import HotlineCore
import HotlineTime
import HotlineStore
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Carries out decoded requests against the store: the protocol's ops, with their role
/// checks (PROTOCOL.md sections 4, 8 and 9). Shared by every connection.
public final class Dispatcher: Sendable {
    let store: CallStore
    let writer: EventWriter
    /// Urgent reads (`alert.ack`, `stats`, a subscriber's backlog, a new peer's roles).
    let readers: NIOThreadPool
    /// Bulk reads (``RequestClass/bulkRead``), apart so they cannot hold up the urgent ones.
    let bulkReaders: NIOThreadPool
    /// Encode bulk answers (up to a MiB or so each) off the event loops. Apart from
    /// `bulkReaders` so that an answer read is encoded at once, not after every read queued
    /// behind it: 64 connections' answers waiting there, decoded, took 90 MiB.
    let bulkEncoders: NIOThreadPool
    /// Write the audit entries of bulk reads, at the normal priority (``audited``).
    let auditWriters: NIOThreadPool
    let logger: Logger
    public let hub: AlertHub
    /// The time reads are audited at, acknowledgements recorded at and a named shift resolved
    /// against: the system's, or a test's.
    let clock: @Sendable () -> Timestamp
    private let state: Mutex<State>
    let startedAt = ContinuousClock.now
    let connections = Atomic<Int>(0)

    struct State {
        var configuration: Configuration
        var shuttingDown = false
        var configurationProblem: String?
    }

    public init(
        store: CallStore, writer: EventWriter, configuration: Configuration, readers: NIOThreadPool,
        bulkReaders: NIOThreadPool, bulkEncoders: NIOThreadPool? = nil, auditWriters: NIOThreadPool? = nil,
        logger: Logger, hub: AlertHub = AlertHub(),
        clock: @escaping @Sendable () -> Timestamp = { Timestamp(secondsSince1970: Date().timeIntervalSince1970) }
    ) {
        self.hub = hub
        self.clock = clock
        self.store = store
        self.writer = writer
        self.readers = readers
        self.bulkReaders = bulkReaders
        self.bulkEncoders = bulkEncoders ?? bulkReaders
        self.auditWriters = auditWriters ?? readers
        self.logger = logger
        self.state = Mutex(State(configuration: configuration))
    }

    public var configuration: Configuration { state.withLock { $0.configuration } }

    /// Bumped by every reload: connections then work out their peer's roles again, so a
    /// role taken away applies to open connections too, from their next request.
    let rolesGeneration = Atomic<Int>(0)

    /// Installs a new configuration for requests from now on.
    public func reload(_ configuration: Configuration) {
        state.withLock { $0.configuration = configuration }
        rolesGeneration.add(1, ordering: .sequentiallyConsistent)
        hub.disconnectAll(reason: "The configuration was reloaded; reconnect and subscribe again.")
        writer.setRules(CallPolicy(routes: RouteTable(configuration)), alerting: configuration.alerts)
    }

    /// Why the last reload was refused, until a good configuration is loaded.
    public var configurationProblem: String? {
        get { state.withLock { $0.configurationProblem } }
        set { state.withLock { $0.configurationProblem = newValue } }
    }

    /// From now on, new requests are answered `unavailable`.
    public func beginShutdown() { state.withLock { $0.shuttingDown = true } }

    public var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    public var connectionCount: Int { connections.load(ordering: .relaxed) }

    static let forbiddenNoRole = HotlineError(
        .forbidden, "Your user has no hotlined role; ask an administrator to add you to a hotline group.")

    /// Runs `request` for `peer`; the future fails only with a ``HotlineError``.
    /// Runs `request` for `peer`; the future fails only with a ``HotlineError``. Whether the
    /// daemon is stopping is decided when the request is read, not here: a read queued
    /// behind writes read before SIGTERM is still answered.
    func handle(_ request: Request, peer: Peer, on loop: any EventLoop) -> EventLoopFuture<JSONValue> {
        switch request {
        case .hello, .ping:
            return loop.makeSucceededFuture([:])
        case .write:
            // Writes belong to a connection's queue at the writer (offerWrite, where one
            // waits for room rather than being refused); ConnectionHandler offers them.
            return loop.makeFailedFuture(HotlineError(.unavailable, "Write on a connection of your own."))
        case .callGet(let callID, let notesAfter, let reason):
            guard !peer.roles.isEmpty else { return loop.makeFailedFuture(Self.forbiddenNoRole) }
            // One answer carries at most this many notes; `notes_next` says where the rest begin.
            let configuration = self.configuration
            let limits = configuration.limits
            // The audit entry says which page was disclosed: the notes after `notes_after`
            // up to and including `notes_next` (to the end when there is none).
            var subject: [String: JSONValue] = ["call_ids": [.string(callID)]]
            if let notesAfter { subject["notes_after"] = .int(notesAfter) }
            // A reason needed even by the call's own handler is refused before the call is read;
            // otherwise whose call it is decides, once read.
            if let missing = missingReason("call.get", reason, allowedBy: peer.roles.intersection(Self.readAll).union([.handler])) {
                return loop.makeFailedFuture(missing)
            }
            return audited(peer, "call.get", subject: subject, reason: reason, on: loop) { store throws(HotlineError) in
                let found = try Self.storage {
                    try store.call(
                        id: callID, notesAfter: notesAfter, maxNotes: limits.maxNotesPerAnswer,
                        maxNoteBytes: limits.maxPageBytes)
                }
                guard let detail = found else {
                    throw HotlineError(.notFound, "There is no call \(callID).", field: "call_id")
                }
                if !peer.has(.supervisor), !peer.has(.auditor), detail.state.ownerUID != peer.uid {
                    throw HotlineError(.forbidden, "A handler may read only the calls it started.", field: "call_id")
                }
                // Whoever took the call reads it as its handler, whatever else it is; anyone
                // else, as a supervisor or an auditor.
                let allowing = peer.roles.intersection(Self.readAll).union(detail.state.ownerUID == peer.uid ? [.handler] : [])
                if reason == nil, configuration.reasonsRequired.isRequired(op: "call.get", allowedBy: allowing) {
                    throw ReasonsRequired.missing(op: "call.get", allowedBy: allowing)
                }
                let answer = CallGetAnswer(
                    call: CallRecord(detail.state, notes: detail.notes, alerts: detail.alerts, recordedAt: detail.recordedAt),
                    notesNext: detail.notesNext)
                return (answer.json, detail.notesNext.map { ["notes_next": .int($0)] } ?? [:])
            }
        case .callsList(let query, let reason):
            guard !peer.roles.isEmpty else { return loop.makeFailedFuture(Self.forbiddenNoRole) }
            let ownerOnly = !peer.has(.supervisor) && !peer.has(.auditor)
            if let missing = missingReason("calls.list", reason, allowedBy: ownerOnly ? [.handler] : peer.roles.intersection(Self.readAll))
            {
                return loop.makeFailedFuture(missing)
            }
            var filter = query.json.objectValue?.filter { $0.value != .null } ?? [:]
            if ownerOnly { filter["owner_uid"] = .int(Int64(peer.uid)) }
            return audited(peer, "calls.list", subject: ["filter": .object(filter)], reason: reason, on: loop) {
                store throws(HotlineError) in
                let page = try Self.storage { try store.listCalls(query, ownerUID: ownerOnly ? peer.uid : nil) }
                let answer = CallsListAnswer(calls: page.calls.map(CallSummary.init), nextAfterSeq: page.nextAfterSeq)
                return (answer.json, ["call_ids": .array(page.calls.map { .string($0.id) })])
            }
        case .auditList(let from, let to, let reason):
            let filter: JSONValue = ["from": .string(from.rfc3339), "to": .string(to.rfc3339)]
            guard peer.has(.auditor) else {
                return refused(
                    peer, "audit.list", subject: ["filter": filter], reason: reason, "Only auditors may read the audit log.", on: loop)
            }
            if let missing = missingReason("audit.list", reason, allowedBy: [.auditor]) { return loop.makeFailedFuture(missing) }
            let maxBytes = configuration.limits.maxPageBytes
            return audited(peer, "audit.list", subject: ["filter": filter], reason: reason, on: loop) { store throws(HotlineError) in
                let page = try Self.storage { try store.auditEntries(from: from, to: to, maxBytes: maxBytes) }
                let answer = AuditListAnswer(entries: page.entries, nextFrom: page.nextFrom)
                return (answer.json, ["entries": .int(Int64(page.entries.count))])
            }
        case .verify(let reason):
            guard peer.has(.auditor) else {
                return refused(peer, "verify", subject: [:], reason: reason, "Only auditors may verify the log.", on: loop)
            }
            if let missing = missingReason("verify", reason, allowedBy: [.auditor]) { return loop.makeFailedFuture(missing) }
            let logger = self.logger
            return audited(peer, "verify", subject: [:], reason: reason, on: loop) { store throws(HotlineError) in
                let report = try Self.storage { try store.verify() }
                if report.ok {
                    logger.notice(
                        "verify: the log is intact; \(report.events) events, \(report.auditEntries) audit entries",
                        metadata: ["head": "\(report.eventHead)", "audit_head": "\(report.auditHead)"])
                } else {
                    logger.critical(
                        "verify: the log was tampered with: \(report.problems.joined(separator: "; "))",
                        metadata: ["message_id": "\(MessageID.tamperDetected.rawValue)"])
                }
                var detail: [String: JSONValue] = ["ok": .bool(report.ok), "events": .int(report.events)]
                if let seq = report.firstBadSeq { detail["first_bad_seq"] = .int(seq) }
                if let seq = report.firstBadAuditSeq { detail["first_bad_audit_seq"] = .int(seq) }
                if !report.badCalls.isEmpty { detail["bad_calls"] = .int(Int64(report.badCalls.count)) }
                return (VerifyAnswer(report).json, detail)
            }
        case .export(let query, let reason):
            let subject: [String: JSONValue] = ["filter": Self.exportFilter(query)]
            guard peer.has(.supervisor) || peer.has(.auditor) else {
                return refused(peer, "export", subject: subject, reason: reason, "Only supervisors and auditors may export.", on: loop)
            }
            if let missing = missingReason("export", reason, allowedBy: peer.roles.intersection(Self.readAll)) {
                return loop.makeFailedFuture(missing)
            }
            let settings = configuration.shifts
            let now = clock()
            return audited(peer, "export", subject: subject, reason: reason, on: loop) { store throws(HotlineError) in
                let window = try Self.window(of: query, settings: settings, now: now)
                let page = try Self.storage {
                    try store.exportPage(from: window.from, to: window.to, afterSeq: query.afterSeq, limit: query.limit)
                }
                let answer = ExportAnswer(shift: window, calls: page.calls, nextAfterSeq: page.nextAfterSeq)
                return (
                    answer.json,
                    ["from": .string(window.from.rfc3339), "to": .string(window.to.rfc3339), "calls": .int(Int64(page.calls.count))]
                )
            }
        case .alertsSubscribe:
            // Subscriptions belong to a connection; ConnectionHandler carries them out.
            return loop.makeFailedFuture(HotlineError(.unavailable, "Subscribe on a connection of your own."))
        case .alertAck(let alertID):
            guard peer.has(.supervisor) else {
                return refused(
                    peer, "alert.ack", subject: ["alert_id": .string(alertID)], "Only supervisors may acknowledge alerts.",
                    on: loop)
            }
            let clock = self.clock
            return read(on: loop) { store throws(HotlineError) in
                let now = clock()
                // The first acknowledgement is audited with the write that records it.
                let acked = try Self.storage { try store.acknowledgeAlert(id: alertID, by: peer, at: now) }
                guard let alert = acked, let at = alert.ackedAt else {
                    _ = try Self.storage {
                        try store.audit(
                            AuditEntry(
                                peer: peer, op: "alert.ack", at: now,
                                detail: ["alert_id": .string(alertID), "result": "not_found"]))
                    }
                    throw HotlineError(.notFound, "There is no alert \(alertID).", field: "alert_id")
                }
                return AlertAckAnswer(alertID: alert.id, ackedAt: at).json
            }
        case .stats:
            guard !peer.roles.isEmpty else { return loop.makeFailedFuture(Self.forbiddenNoRole) }
            let connections = connectionCount
            let uptime = (ContinuousClock.now - startedAt).components.seconds
            let backlog = writer.backlog
            let subscribers = hub.count
            return read(on: loop) { store throws(HotlineError) in
                let counts = try Self.storage { try store.counts() }
                return StatsAnswer(
                    uptimeSeconds: uptime, connections: Int64(connections), events: counts.events, calls: counts.calls,
                    callsOpen: counts.callsOpen, alertsUnacked: counts.alertsUnacked, writerBacklog: Int64(backlog),
                    subscribers: Int64(subscribers), storageFault: store.storageFault
                ).json
            }
        }
    }

    /// Offers a call event to the writer for `source` (a connection), answering `promise`
    /// when it is durable or refused. False: the writer's queues are full
    /// (`limits.max_queued_writes`) and nothing was done; offer again after
    /// ``EventWriter/whenRoom(_:)``.
    func offerWrite(_ event: WriteEvent, peer: Peer, source: Int, promise: EventLoopPromise<JSONValue>) -> Bool {
        guard peer.has(.handler) || peer.has(.supervisor) else {
            promise.fail(Self.forbidden(peer, "Only handlers and supervisors may write call events."))
            return true
        }
        return writer.offer(
            WriteSubmission(event: event, peer: peer) { result in
                switch result {
                case .success(let ack): promise.succeed(ack.json)
                case .failure(let error): promise.fail(error)
                }
            }, source: source)
    }

    /// The peer with the roles the current configuration gives it. User and group lookups
    /// can block (NSS, LDAP), so they run on the reader threads, never on an event loop.
    func resolvePeer(_ cred: PeerIdentity.Credentials, on loop: any EventLoop) -> EventLoopFuture<(Peer, Int)> {
        let generation = rolesGeneration.load(ordering: .sequentiallyConsistent)
        let roles = configuration.roles
        return readers.runIfActive(eventLoop: loop) {
            (
                Peer(
                    uid: cred.uid, gid: cred.gid, pid: cred.pid,
                    roles: PeerIdentity.roles(uid: cred.uid, gid: cred.gid, configuration: roles)),
                generation
            )
        }
    }

    /// Where a new subscriber reads its backlog: on the reader threads, which run short
    /// reads only.
    var alertBacklog: AlertBacklogSource { AlertBacklogSource(store: store, readers: readers, hub: hub) }

    static func exportFilter(_ query: ExportQuery) -> JSONValue {
        var m: [String: JSONValue] = ["limit": .int(Int64(query.limit))]
        switch query.window {
        case .shift(let spec): m["shift"] = .string(spec)
        case .range(let from, let to):
            m["from"] = .string(from.rfc3339)
            m["to"] = .string(to.rfc3339)
        }
        if let after = query.afterSeq { m["after_seq"] = .int(after) }
        return .object(m)
    }

    /// The instants an export covers: the named shift on the configured calendar, or the range.
    static func window(of query: ExportQuery, settings: ShiftSettings, now: Timestamp) throws(HotlineError) -> ShiftWindow {
        switch query.window {
        case .range(let from, let to):
            return ShiftWindow(name: nil, date: nil, from: from, to: to, timezone: settings.timezone)
        case .shift(let spec):
            guard let calendar = settings.calendar else {
                throw HotlineError(.storage, "The configured timezone \(settings.timezone) is not in the system's timezone database.")
            }
            do {
                return try calendar.resolve(spec, now: now)
            } catch {
                throw HotlineError(.invalid, "Cannot export that shift: \(error.description).", field: "shift")
            }
        }
    }

    /// The roles that read every call, not only the reader's own.
    static let readAll: Set<Role> = [.supervisor, .auditor]

    /// The `invalid` answer when `op` needs a reason (`reasons_required`) and gave none.
    func missingReason(_ op: String, _ reason: String?, allowedBy allowing: Set<Role>) -> HotlineError? {
        guard reason == nil, configuration.reasonsRequired.isRequired(op: op, allowedBy: allowing) else { return nil }
        return ReasonsRequired.missing(op: op, allowedBy: allowing)
    }

    static func forbidden(_ peer: Peer, _ message: String) -> HotlineError {
        peer.roles.isEmpty ? forbiddenNoRole : HotlineError(.forbidden, message)
    }

    /// Refuses an op the peer's role does not allow; audited like a refused read when the
    /// peer holds some role (one with none is refused before anything, unaudited).
    func refused(
        _ peer: Peer, _ op: String, subject: [String: JSONValue], reason: String? = nil, _ message: String,
        on loop: any EventLoop
    ) -> EventLoopFuture<JSONValue> {
        guard !peer.roles.isEmpty else { return loop.makeFailedFuture(Self.forbiddenNoRole) }
        return audited(peer, op, subject: subject, reason: reason, on: loop) { _ throws(HotlineError) in
            throw HotlineError(.forbidden, message)
        }
    }

    /// Runs a read whose answer must be audited (PROTOCOL.md section 8): the answer goes out
    /// only once its audit entry (`subject` plus what `body` adds) is durable. A refusal or
    /// a miss is audited too, with its error code as `result`; if the entry cannot be
    /// written the read is answered `storage` and discloses nothing.
    func audited(
        _ peer: Peer, _ op: String, subject: [String: JSONValue], reason: String? = nil, on loop: any EventLoop,
        _ body: @escaping @Sendable (CallStore) throws(HotlineError) -> (JSONValue, [String: JSONValue])
    ) -> EventLoopFuture<JSONValue> {
        let store = self.store
        let auditWriters = self.auditWriters
        let writer = self.writer
        let clock = self.clock
        return bulkReaders.runIfActive(eventLoop: loop) { () throws -> (Result<JSONValue, HotlineError>, AuditEntry) in
            let now = clock()
            var detail = subject
            let outcome: Result<JSONValue, HotlineError>
            do throws(HotlineError) {
                let (answer, more) = try body(store)
                detail.merge(more) { _, new in new }
                detail["result"] = "ok"
                outcome = .success(answer)
            } catch {
                guard error.code == .notFound || error.code == .forbidden else { throw error }
                detail["result"] = .string(error.code.rawValue)
                outcome = .failure(error)
            }
            return (outcome, AuditEntry(peer: peer, op: op, at: now, detail: detail, reason: reason))
        }
        .flatMap { outcome, entry in
            // The entry is written on a thread at the normal priority: the bulk readers run
            // at a lower one (BulkThreads), and the writer must never wait for SQLite's write
            // lock held by a thread that gets little of the CPU.
            auditWriters.runIfActive(eventLoop: loop) { () throws -> Void in
                _ = try Self.storage { try store.audit(entry, sync: false) }
            }
            .flatMap {
                // Nothing is disclosed before its entry is durable: the writer's next fsync,
                // shared with the writes it makes durable, not one of its own.
                let durable = loop.makePromise(of: JSONValue.self)
                writer.whenDurable { ok in
                    if ok {
                        durable.completeWith(outcome.mapError { $0 as any Error })
                    } else {
                        durable.fail(
                            HotlineError(
                                .storage, "The audit entry of this read could not be made durable; nothing is disclosed. Retry later."))
                    }
                }
                return durable.futureResult
            }
        }
        .flatMapErrorThrowing { throw Self.poolFailure($0) }
    }

    /// Runs a blocking read on the urgent reader threads, so the event loop never waits on
    /// SQLite.
    func read(
        on loop: any EventLoop, _ body: @escaping @Sendable (CallStore) throws(HotlineError) -> JSONValue
    ) -> EventLoopFuture<JSONValue> {
        let store = self.store
        return readers.runIfActive(eventLoop: loop) { () throws -> JSONValue in try body(store) }
            .flatMapErrorThrowing { throw Self.poolFailure($0) }
    }

    /// A failure from a job on a thread pool as the wire shows it: ours as it is; any other
    /// is the pool having stopped.
    private static func poolFailure(_ error: any Error) -> HotlineError {
        (error as? HotlineError) ?? HotlineError.shuttingDown
    }

    private static func storage<T>(_ body: () throws -> T) throws(HotlineError) -> T {
        do {
            return try body()
        } catch let error as HotlineError {
            throw error
        } catch {
            guard !CallStore.isInterruption(error) else {
                throw HotlineError(
                    .storage,
                    "This read was stopped so that an erased caller identity could be removed from disk (it held the log's write-ahead file); ask again."
                )
            }
            throw HotlineError(.storage, "The call log could not be read (\(error)); retry later.")
        }
    }
}
