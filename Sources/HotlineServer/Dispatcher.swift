import Foundation
import HotlineCore
import HotlineStore
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Carries out decoded requests against the store (PROTOCOL.md sections 4, 8 and 9), after
/// the role check every request has (``Access``). Shared by every connection.
///
/// This file holds what every op shares: the state, the role check, and the two ways a
/// read runs (``read(on:_:)`` on the urgent threads; ``audited(_:_:subject:reason:on:_:)``,
/// whose answer waits for its audit entry). Each concern has its own file: writes
/// (Dispatcher+Writes), call reads and stats (+Reads), the audit log and verify (+Audit),
/// alerts (+Alerts) and the export (+Export).
public final class Dispatcher: Sendable {
    let store: any CallLog
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
    /// The metrics endpoint's figures, when it is configured.
    let metrics: DaemonMetrics?
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
        store: any CallLog, writer: EventWriter, configuration: Configuration, readers: NIOThreadPool,
        bulkReaders: NIOThreadPool, bulkEncoders: NIOThreadPool? = nil, auditWriters: NIOThreadPool? = nil,
        logger: Logger, hub: AlertHub = AlertHub(), metrics: DaemonMetrics? = nil,
        clock: @escaping @Sendable () -> Timestamp = SystemClock.now
    ) {
        self.hub = hub
        self.metrics = metrics
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

    /// Runs `request` for `peer`; the future fails only with a ``HotlineError``. Whether the
    /// daemon is stopping is decided when the request is read, not here: a read queued
    /// behind writes read before SIGTERM is still answered.
    func handle(_ request: Request, peer: Peer, on loop: any EventLoop) -> EventLoopFuture<JSONValue> {
        let access = request.access
        let scope: Access.Decision = access.decide(peer.roles)
        if let metrics {
            switch request {
            case .stats, .callGet, .callsList, .auditList, .verify, .export, .holdsList:
                metrics.read(op: request.op, role: peer.primaryRole?.rawValue ?? "none")
            case .hello, .ping, .write, .alertsSubscribe, .alertAck, .callHold, .callRelease:
                break
            }
        }
        if case .refused(let error) = scope {
            // A peer with some role asking for what its roles do not allow is audited, for
            // the ops whose refusals are; one with none is refused before anything.
            guard access.auditsRefusals, !peer.roles.isEmpty else { return loop.makeFailedFuture(error) }
            return audited(peer, request.op, subject: Self.refusalSubject(request), reason: request.auditReason, on: loop) {
                _ throws(HotlineError) in throw error
            }
        }
        switch request {
        case .hello, .ping:
            return loop.makeSucceededFuture([:])
        case .write:
            // Writes belong to a connection's queue at the writer (offerWrite, where one
            // waits for room rather than being refused); ConnectionHandler offers them.
            return loop.makeFailedFuture(HotlineError(.unavailable, "Write on a connection of your own."))
        case .alertsSubscribe:
            // Subscriptions belong to a connection; ConnectionHandler carries them out.
            return loop.makeFailedFuture(HotlineError(.unavailable, "Subscribe on a connection of your own."))
        case .callGet(let callID, let notesAfter, let reason):
            return callGet(callID, notesAfter: notesAfter, reason: reason, peer: peer, on: loop)
        case .callsList(let query, let reason):
            return callsList(query, reason: reason, ownCallsOnly: scope == .ownCalls, peer: peer, on: loop)
        case .stats:
            return stats(on: loop)
        case .auditList(let from, let to, let reason):
            return auditList(from: from, to: to, reason: reason, peer: peer, on: loop)
        case .verify(let reason):
            return verify(reason: reason, peer: peer, on: loop)
        case .export(let query, let reason):
            return export(query, reason: reason, peer: peer, on: loop)
        case .alertAck(let alertID):
            return acknowledge(alertID, peer: peer, on: loop)
        case .callHold(let callID, let reason):
            return hold(callID, reason: reason, release: false, peer: peer, on: loop)
        case .callRelease(let callID, let reason):
            return hold(callID, reason: reason, release: true, peer: peer, on: loop)
        case .holdsList(let reason):
            return holdsList(reason: reason, peer: peer, on: loop)
        }
    }

    /// What the audit entry of a refused request says it asked for.
    static func refusalSubject(_ request: Request) -> [String: JSONValue] {
        switch request {
        case .auditList(let from, let to, _): ["filter": ["from": .string(from.rfc3339), "to": .string(to.rfc3339)]]
        case .export(let query, _): ["filter": exportFilter(query)]
        case .alertAck(let alertID): ["alert_id": .string(alertID)]
        case .callGet(let callID, _, _), .callHold(let callID, _), .callRelease(let callID, _): ["call_ids": [.string(callID)]]
        case .hello, .ping, .write, .callsList, .stats, .alertsSubscribe, .verify, .holdsList: [:]
        }
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

    /// The `invalid` answer when `op` needs a reason (`reasons_required`) and gave none.
    func missingReason(_ op: String, _ reason: String?, allowedBy allowing: Set<Role>) -> HotlineError? {
        guard reason == nil, configuration.reasonsRequired.isRequired(op: op, allowedBy: allowing) else { return nil }
        return ReasonsRequired.missing(op: op, allowedBy: allowing)
    }

    /// Runs a read whose answer must be audited (PROTOCOL.md section 8): the answer goes out
    /// only once its audit entry (`subject` plus what `body` adds) is durable. A refusal or
    /// a miss is audited too, with its error code as `result`; if the entry cannot be
    /// written the read is answered `storage` and discloses nothing.
    func audited(
        _ peer: Peer, _ op: String, subject: [String: JSONValue], reason: String? = nil, on loop: any EventLoop,
        _ body: @escaping @Sendable (any CallLog) throws(HotlineError) -> (JSONValue, [String: JSONValue])
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
                _ = try Self.storage(store) { try store.audit(entry, sync: false) }
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
        on loop: any EventLoop, _ body: @escaping @Sendable (any CallLog) throws(HotlineError) -> JSONValue
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

    static func storage<T>(_ store: any CallLog, _ body: () throws -> T) throws(HotlineError) -> T {
        do {
            return try body()
        } catch let error as HotlineError {
            throw error
        } catch {
            guard !store.wasStoppedForErasure(error) else {
                throw HotlineError(
                    .storage,
                    "This read was stopped so that an erased caller identity could be removed from disk (it held the log's write-ahead file); ask again."
                )
            }
            throw HotlineError(.storage, "The call log could not be read (\(error)); retry later.")
        }
    }
}
