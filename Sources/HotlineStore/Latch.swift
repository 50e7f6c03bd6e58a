import Synchronization

/// A value set at most once, that tasks may wait for: the failed-sync latch (``SyncFailure``)
/// and the daemon's readiness wait on it.
public final class Latch<Value: Sendable>: Sendable {
    private let state = Mutex<(value: Value?, next: Int, waiting: [Int: CheckedContinuation<Value?, Never>])>((nil, 0, [:]))

    public init() {}

    /// The value, once set.
    public var value: Value? { state.withLock { $0.value } }

    /// Sets the value unless it is set already, waking every waiter; returns the value in
    /// force.
    @discardableResult
    public func set(_ value: Value) -> Value {
        let (inForce, woken) = state.withLock { s -> (Value, [CheckedContinuation<Value?, Never>]) in
            if let current = s.value { return (current, []) }
            s.value = value
            defer { s.waiting = [:] }
            return (value, Array(s.waiting.values))
        }
        for waiter in woken { waiter.resume(returning: inForce) }
        return inForce
    }

    /// Waits until the value is set and returns it (at once if it is); nil when the
    /// waiting task is cancelled first.
    public func wait() async -> Value? {
        let key = state.withLock { s -> Int in
            s.next += 1
            return s.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                // Registered under the lock set() takes: a value set after this wakes it, one
                // set before is returned at once.
                let now = state.withLock { s -> Value? in
                    if s.value == nil { s.waiting[key] = continuation }
                    return s.value
                }
                if let now {
                    continuation.resume(returning: now)
                } else if Task.isCancelled, let mine = state.withLock({ $0.waiting.removeValue(forKey: key) }) {
                    mine.resume(returning: nil)
                }
            }
        } onCancel: {
            state.withLock { $0.waiting.removeValue(forKey: key) }?.resume(returning: nil)
        }
    }
}
