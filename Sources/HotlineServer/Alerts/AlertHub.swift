import HotlineCore
import Logging
import NIOCore
import Synchronization

/// The subscribed supervisor consoles. Publishing never waits for one of them: each
/// subscriber is handed the alert on its own event loop, with a bounded queue.
public final class AlertHub: Sendable {
    private let subscribers = Mutex<[ObjectIdentifier: AlertSubscriber]>([:])

    public init() {}

    func add(_ subscriber: AlertSubscriber) {
        subscribers.withLock { $0[ObjectIdentifier(subscriber)] = subscriber }
    }

    func remove(_ subscriber: AlertSubscriber) {
        _ = subscribers.withLock { $0.removeValue(forKey: ObjectIdentifier(subscriber)) }
    }

    public var count: Int { subscribers.withLock { $0.count } }

    /// Disconnects every subscriber, telling it why. After a reload that may have taken the
    /// supervisor role from someone: consoles reconnect and subscribe again under the roles
    /// now configured, and get every unacknowledged alert again, so nothing is missed.
    func disconnectAll(reason: String) {
        for subscriber in subscribers.withLock({ Array($0.values) }) {
            subscriber.disconnect(reason: reason)
        }
    }

    /// Pushes `alerts` to every subscriber; returns at once.
    public func publish(_ alerts: [Alert]) {
        guard !alerts.isEmpty else { return }
        for subscriber in subscribers.withLock({ Array($0.values) }) {
            subscriber.push(alerts)
        }
    }
}

/// One subscribed connection. Its state lives on the connection's event loop.
final class AlertSubscriber: @unchecked Sendable {
    private let channel: any Channel
    private let limit: Int
    private let logger: Logger
    /// Until the backlog is written, live alerts wait here so nothing comes out of order.
    private var buffered: [Alert]? = []
    private var backlogKeys: Set<String> = []
    private var unwritten = 0
    private var closed = false

    init(channel: any Channel, limit: Int, logger: Logger) {
        self.channel = channel
        self.limit = limit
        self.logger = logger
    }

    func push(_ alerts: [Alert]) {
        channel.eventLoop.execute { self.deliver(alerts) }
    }

    /// Writes the backlog (oldest first), then whatever arrived meanwhile, and goes live.
    func goLive(backlog: [Alert]) {
        channel.eventLoop.preconditionInEventLoop()
        // The backlog is owed in full, however long: only live pushes count against the queue.
        for alert in backlog { write(alert, counted: false) }
        backlogKeys = Set(backlog.map(Self.key))
        let waiting = buffered ?? []
        buffered = nil
        for alert in waiting where !backlogKeys.contains(Self.key(alert)) { write(alert) }
        backlogKeys = []
        channel.flush()
    }

    private func deliver(_ alerts: [Alert]) {
        if buffered != nil {
            buffered! += alerts
            return
        }
        for alert in alerts { write(alert) }
        channel.flush()
    }

    private static func key(_ alert: Alert) -> String { "\(alert.id)/\(alert.level)" }

    func disconnect(reason: String) {
        channel.eventLoop.execute { self.close(reason: reason) }
    }

    /// Sends `{"push": "disconnect", "reason": …}` and closes the connection.
    private func close(reason: String) {
        guard !closed else { return }
        closed = true
        var bytes = JSONWriter.bytes(["push": "disconnect", "reason": .string(reason)])
        bytes.append(0x0A)
        channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: nil)
        channel.close(promise: nil)
    }

    private func write(_ alert: Alert, counted: Bool = true) {
        guard !closed else { return }
        if counted, unwritten >= limit {
            // Too far behind: it gets everything unacknowledged again when it reconnects.
            logger.warning("disconnecting an alert subscriber that fell \(unwritten) alerts behind")
            close(reason: "You fell more than \(limit) alerts behind; reconnect and subscribe to get every unacknowledged alert.")
            return
        }
        var bytes = JSONWriter.bytes(alert.pushFrame)
        bytes.append(0x0A)
        guard counted else {
            channel.write(channel.allocator.buffer(bytes: bytes), promise: nil)
            return
        }
        unwritten += 1
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in self.unwritten -= 1 }
        channel.write(channel.allocator.buffer(bytes: bytes), promise: promise)
    }
}
