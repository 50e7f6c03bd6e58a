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

    /// Told whenever the set of unacknowledged alerts may have changed here (an alert
    /// pushed, or acknowledged through this daemon): the wallboard reads it again at once.
    private let watchers = Mutex<[@Sendable () -> Void]>([])

    public func watch(_ changed: @escaping @Sendable () -> Void) {
        watchers.withLock { $0.append(changed) }
    }

    /// An alert was acknowledged through this daemon.
    public func noteAcknowledged() {
        for watcher in watchers.withLock({ $0 }) { watcher() }
    }

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

    /// The alerts (at their levels) pushed lately: an alert can reach the hub twice when
    /// several daemons share the log (committed here, then heard of from the database), and
    /// is pushed once. Bounded: the oldest are forgotten first.
    private let pushed = Mutex(RecentlyPushed())

    struct RecentlyPushed {
        static let capacity = 8192
        private var keys: Set<String> = []
        private var order: [String] = []
        private var next = 0

        /// Whether `key` is new, remembering it if so.
        mutating func insert(_ key: String) -> Bool {
            guard keys.insert(key).inserted else { return false }
            if order.count < Self.capacity {
                order.append(key)
            } else {
                keys.remove(order[next])
                order[next] = key
                next = (next + 1) % Self.capacity
            }
            return true
        }
    }

    /// Pushes `alerts` to every subscriber, but those already pushed at the same level;
    /// returns at once.
    public func publish(_ alerts: [Alert]) {
        let fresh = pushed.withLock { recent in alerts.filter { recent.insert("\($0.id)/\($0.level)") } }
        guard !fresh.isEmpty else { return }
        for subscriber in subscribers.withLock({ Array($0.values) }) {
            subscriber.push(fresh)
        }
        for watcher in watchers.withLock({ $0 }) { watcher() }
    }

    /// Publishes alerts heard of from the log (another daemon's, or this one's own whose
    /// commit this one could not confirm), in order with backlog pages as escalations are.
    public func publishFromLog(_ alerts: [Alert]) {
        escalationOrder.withLock { _ in publish(alerts) }
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
