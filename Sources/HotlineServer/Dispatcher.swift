import Foundation
import HotlineCore
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
    let readers: NIOThreadPool
    let logger: Logger
    public let hub: AlertHub
    private let state: Mutex<State>
    let startedAt = ContinuousClock.now
    let connections = Atomic<Int>(0)

    struct State {
        var configuration: Configuration
        var shuttingDown = false
        var configurationProblem: String?
    }

    public init(
        store: CallStore, writer: EventWriter, configuration: Configuration, readers: NIOThreadPool, logger: Logger,
        hub: AlertHub = AlertHub()
    ) {
        self.hub = hub
        self.store = store
        self.writer = writer
        self.readers = readers
        self.logger = logger
        self.state = Mutex(State(configuration: configuration))
    }

    public var configuration: Configuration { state.withLock { $0.configuration } }

    /// Installs a new configuration for requests from now on.
    public func reload(_ configuration: Configuration) {
        state.withLock { $0.configuration = configuration }
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
        case .write(let event):
            guard peer.has(.handler) || peer.has(.supervisor) else {
                return loop.makeFailedFuture(
                    peer.roles.isEmpty
                        ? Self.forbiddenNoRole
                        : HotlineError(.forbidden, "Only handlers and supervisors may write call events."))
            }
            let promise = loop.makePromise(of: JSONValue.self)
            writer.submit(
                WriteSubmission(event: event, peer: peer) { result in
                    switch result {
                    case .success(let ack): promise.succeed(ack)
                    case .failure(let error): promise.fail(error)
                    }
                })
            return promise.futureResult
        case .callGet(let callID):
            guard !peer.roles.isEmpty else { return loop.makeFailedFuture(Self.forbiddenNoRole) }
            return read(on: loop) { store throws(HotlineError) in
                let found = try Self.storage { try store.call(id: callID) }
                guard let detail = found else {
                    throw HotlineError(.notFound, "There is no call \(callID).", field: "call_id")
                }
                if !peer.has(.supervisor), !peer.has(.auditor), detail.state.ownerUID != peer.uid {
                    throw HotlineError(.forbidden, "A handler may read only the calls it started.", field: "call_id")
                }
                return ["call": detail.json]
            }
        case .callsList(let query):
            guard !peer.roles.isEmpty else { return loop.makeFailedFuture(Self.forbiddenNoRole) }
            let ownerOnly = !peer.has(.supervisor) && !peer.has(.auditor)
            return read(on: loop) { store throws(HotlineError) in
                let page = try Self.storage { try store.listCalls(query, ownerUID: ownerOnly ? peer.uid : nil) }
                var answer: [String: JSONValue] = ["calls": .array(page.calls.map(\.summaryJSON))]
                if let next = page.nextAfterSeq { answer["next_after_seq"] = .int(next) }
                return .object(answer)
            }
        case .alertsSubscribe:
            // Subscriptions belong to a connection; ConnectionHandler carries them out.
            return loop.makeFailedFuture(HotlineError(.unavailable, "Subscribe on a connection of your own."))
        case .alertAck(let alertID):
            guard peer.has(.supervisor) else {
                return loop.makeFailedFuture(
                    peer.roles.isEmpty ? Self.forbiddenNoRole : HotlineError(.forbidden, "Only supervisors may acknowledge alerts."))
            }
            return read(on: loop) { store throws(HotlineError) in
                let now = Timestamp(secondsSince1970: Date().timeIntervalSince1970)
                let acked = try Self.storage { try store.acknowledgeAlert(id: alertID, by: peer.uid, at: now) }
                guard let alert = acked, let at = alert.ackedAt else {
                    throw HotlineError(.notFound, "There is no alert \(alertID).", field: "alert_id")
                }
                return ["acked_at": .string(at.rfc3339), "alert_id": .string(alert.id)]
            }
        case .stats:
            guard !peer.roles.isEmpty else { return loop.makeFailedFuture(Self.forbiddenNoRole) }
            let connections = connectionCount
            let uptime = (ContinuousClock.now - startedAt).components.seconds
            let backlog = writer.backlog
            let subscribers = hub.count
            return read(on: loop) { store throws(HotlineError) in
                let counts = try Self.storage { try store.counts() }
                return [
                    "uptime_s": .int(uptime), "connections": .int(Int64(connections)), "events": .int(counts.events),
                    "calls": .int(counts.calls), "calls_open": .int(counts.callsOpen),
                    "alerts_unacked": .int(counts.alertsUnacked), "writer_backlog": .int(Int64(backlog)),
                    "subscribers": .int(Int64(subscribers)),
                ]
            }
        }
    }

    /// Every unacknowledged alert, oldest first, for a new subscriber.
    func unacknowledgedAlerts(on loop: any EventLoop) -> EventLoopFuture<[Alert]> {
        let store = self.store
        return readers.runIfActive(eventLoop: loop) { try store.unacknowledgedAlerts() }
    }

    /// Runs a blocking read on the reader threads, so the event loop never waits on SQLite.
    func read(
        on loop: any EventLoop, _ body: @escaping @Sendable (CallStore) throws(HotlineError) -> JSONValue
    ) -> EventLoopFuture<JSONValue> {
        let store = self.store
        return readers.runIfActive(eventLoop: loop) { () throws -> JSONValue in try body(store) }
            .flatMapErrorThrowing { error in
                if error is HotlineError { throw error }
                throw HotlineError.shuttingDown
            }
    }

    private static func storage<T>(_ body: () throws -> T) throws(HotlineError) -> T {
        do {
            return try body()
        } catch let error as HotlineError {
            throw error
        } catch {
            throw HotlineError(.storage, "The call log could not be read (\(error)); retry later.")
        }
    }
}
