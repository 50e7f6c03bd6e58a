import Foundation
import HotlineCore
import Logging

/// The single writer: it takes every write waiting at the moment it is free, commits them
/// in one transaction, and only then answers each one.
///
/// One fsync serves every workstation that was waiting, so throughput grows with the number
/// of connected workstations while each acknowledgement stays durable.
public final class EventWriter: @unchecked Sendable {
    private let store: CallStore
    private let maxBatch: Int
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var queue: [WriteSubmission] = []
    private var stopping = false
    private var policy: CallPolicy
    private var alerting = AlertSettings()
    private var onCommit: (@Sendable ([Alert]) -> Void)?
    private var lastLoop = ContinuousClock.now
    private let finished = DispatchSemaphore(value: 0)
    /// Committed batches waiting for their fsync, and the syncer's own heartbeat.
    private let syncCondition = NSCondition()
    private var syncQueue: [(batch: [WriteSubmission], outcome: CallStore.BatchOutcome)] = []
    private var writerDone = false
    private var lastSync = ContinuousClock.now
    private let syncFinished = DispatchSemaphore(value: 0)
    private let clock: @Sendable () -> Timestamp
    private let idleTick: TimeInterval

    /// - Parameter heartbeat: how often an idle writer still goes round its loop, proving
    ///   it is alive (``lastHeartbeat``); keep it well under the watchdog's interval.
    public init(
        store: CallStore, policy: CallPolicy, alerting: AlertSettings = AlertSettings(), maxBatch: Int,
        heartbeat: Duration = .seconds(1),
        clock: @escaping @Sendable () -> Timestamp = { Timestamp(secondsSince1970: Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.policy = policy
        self.alerting = alerting
        self.maxBatch = maxBatch
        self.clock = clock
        let c = heartbeat.components
        self.idleTick = max(0.01, Double(c.seconds) + Double(c.attoseconds) / 1e18)
    }

    /// Starts the writer thread and the thread that fsyncs and answers what it committed.
    public func start() {
        let thread = Thread { [self] in self.run() }
        thread.name = "hotlined-writer"
        thread.start()
        let syncer = Thread { [self] in self.runSyncer() }
        syncer.name = "hotlined-sync"
        syncer.start()
    }

    /// Replaces the routing rules and alert sinks for events not yet processed
    /// (configuration reload).
    public func setRules(_ policy: CallPolicy, alerting: AlertSettings) {
        condition.withLock {
            self.policy = policy
            self.alerting = alerting
        }
    }

    /// Called after each commit with the alerts it raised, before the writes are answered.
    public func setCommitObserver(_ observer: @escaping @Sendable ([Alert]) -> Void) {
        condition.withLock { self.onCommit = observer }
    }

    /// Queues a write. After ``stop()`` it is answered `unavailable` at once.
    public func submit(_ submission: WriteSubmission) {
        let accepted = condition.withLock { () -> Bool in
            guard !stopping else { return false }
            queue.append(submission)
            condition.signal()
            return true
        }
        if !accepted {
            submission.completion(.failure(.shuttingDown))
        }
    }

    /// How many writes are waiting.
    public var backlog: Int { condition.withLock { queue.count } }

    /// When the writer and the syncer last went round their loops (the older of the two):
    /// a hung writer, or an fsync that never returns, stops moving this.
    public var lastHeartbeat: ContinuousClock.Instant {
        min(condition.withLock { lastLoop }, syncCondition.withLock { lastSync })
    }

    /// Finishes every queued write, then stops the thread.
    public func stop() {
        let wasRunning = condition.withLock { () -> Bool in
            let was = !stopping
            stopping = true
            condition.signal()
            return was
        }
        if wasRunning {
            finished.wait()
            syncFinished.wait()
        }
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping {
                lastLoop = .now
                if !condition.wait(until: Date().addingTimeInterval(idleTick)), store.isScrubPending {
                    condition.unlock()
                    store.scrubWAL()
                    condition.lock()
                }
            }
            lastLoop = .now
            if queue.isEmpty && stopping {
                condition.unlock()
                break
            }
            let count = min(queue.count, maxBatch)
            let batch = Array(queue.prefix(count))
            queue.removeFirst(count)
            let policy = self.policy
            let alerting = self.alerting
            condition.unlock()

            let outcome = store.commit(batch, policy: policy, alerting: alerting, now: clock())
            syncCondition.withLock {
                syncQueue.append((batch, outcome))
                syncCondition.signal()
            }
            // The syncer answers them, and tells the commit observer, after the fsync.
        }
        syncCondition.withLock {
            writerDone = true
            syncCondition.signal()
        }
        finished.signal()
    }

    /// Takes every committed batch waiting, makes them durable with one fsync, then tells
    /// the commit observer of their alerts and answers each write.
    private func runSyncer() {
        while true {
            syncCondition.lock()
            while syncQueue.isEmpty && !writerDone {
                lastSync = .now
                _ = syncCondition.wait(until: Date().addingTimeInterval(idleTick))
            }
            lastSync = .now
            if syncQueue.isEmpty && writerDone {
                syncCondition.unlock()
                break
            }
            let ready = syncQueue
            syncQueue.removeAll()
            syncCondition.unlock()

            var durable = true
            do {
                try store.syncLog()
            } catch {
                durable = false
                store.noteStorageFault("\(error)")
                store.logger.critical(
                    "could not make committed events durable; answering them 'storage': \(error)",
                    metadata: ["message_id": "\(MessageID.storageFailure.rawValue)"])
            }
            let onCommit = condition.withLock { self.onCommit }
            for (batch, outcome) in ready {
                if durable, !outcome.alerts.isEmpty { onCommit?(outcome.alerts) }
                for (submission, result) in zip(batch, outcome.results) {
                    submission.completion(durable ? result : .failure(CallStore.storageFailure))
                }
            }
        }
        syncFinished.signal()
    }
}
