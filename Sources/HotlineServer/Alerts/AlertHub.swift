import HotlineCore
import HotlineStore
import Logging
import Synchronization

/// The subscribed supervisor consoles. Publishing never waits for one of them: each
/// subscriber is handed the alert on its own event loop, with a bounded queue.
public final class AlertHub: Sendable {
    private let subscribers = Mutex<[ObjectIdentifier: AlertSubscriber]>([:])
    /// Held while an escalation is committed and handed to the subscribers' event loops,
    /// and while a backlog page is read. So a page that shows an alert at some level was
    /// read after that level's push was queued on the subscriber's event loop, and the
    /// page reaches the subscriber after the push (an event loop runs its tasks in the
    /// order they came): the subscriber can tell the pushes a page already holds.
    private let escalationOrder = Mutex<Void>(())

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

    /// Runs `escalate` (which commits re-escalations) and publishes what it raised, as one
    /// step with respect to backlog pages (see `escalationOrder`).
    func publishEscalations(_ escalate: () throws -> [Alert]) throws -> [Alert] {
        try escalationOrder.withLock { _ throws -> [Alert] in
            let raised = try escalate()
            publish(raised)
            return raised
        }
    }

    /// Reads a backlog page between escalations (see `escalationOrder`).
    func readBacklogPage(_ read: () throws -> [Alert]) throws -> [Alert] {
        try escalationOrder.withLock { _ throws -> [Alert] in try read() }
    }
}
