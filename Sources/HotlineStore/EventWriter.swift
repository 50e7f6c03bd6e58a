import DequeModule
import Foundation
import HotlineCore
import Logging

/// The single writer: it takes every write waiting at the moment it is free, commits them
/// in one transaction, and only then answers each one.
///
/// One fsync serves every workstation that was waiting, so throughput grows with the number
/// of connected workstations while each acknowledgement stays durable.
///
/// Fairness: each source (a connection) has its own queue, and a batch is assembled round
/// robin, one write from each source in turn, a source that had nothing queued first, so a
/// quiet workstation's `call.start` goes into the next batch however many writes others
/// have pipelined. The queues together hold at most `maxQueued` writes (and
/// ``reservedPerSource`` more for each source); past that ``offer(_:source:)`` says no and
/// the source waits for ``whenRoom(_:)``.
///
/// `@unchecked Sendable`: every mutable field is guarded by `condition` (the writer's) or
/// `syncCondition` (the syncer's), as marked.
public final class EventWriter: @unchecked Sendable {
    private let store: CallStore
    private let maxBatch: Int
    private let maxQueued: Int
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var queues: [Int: Deque<WriteSubmission>] = [:]
    /// Sources with writes queued, in the order they are next served.
    private var ring: Deque<Int> = []
    /// Sources that had nothing queued when their write came: served before the ring, so a
    /// workstation sending one call at a time never waits for a round of the busy ones.
    private var fresh: Deque<Int> = []
    private var queued = 0
    private var roomWaiters: [@Sendable () -> Void] = []
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
    /// How long one batch's work should take, so that a write arriving while the writer is
    /// busy waits about that long for its turn, however many are queued (nil: no aim, only
    /// `maxBatch`).
    private let batchTarget: Double?
    /// The writer's seconds of work per event, smoothed over recent batches. Writer thread only.
    private var secondsPerEvent = 0.0

    /// - Parameter heartbeat: how often an idle writer still goes round its loop, proving
    ///   it is alive (``lastHeartbeat``); keep it well under the watchdog's interval.
    public init(
        store: CallStore, policy: CallPolicy, alerting: AlertSettings = AlertSettings(), maxBatch: Int,
        maxQueued: Int = Configuration.Limits().maxQueuedWrites, batchTarget: Duration? = .milliseconds(5),
        heartbeat: Duration = .seconds(1),
        clock: @escaping @Sendable () -> Timestamp = { Timestamp(secondsSince1970: Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.policy = policy
        self.alerting = alerting
        self.maxBatch = maxBatch
        self.maxQueued = maxQueued
        self.clock = clock
        self.idleTick = max(0.01, Self.seconds(heartbeat))
        self.batchTarget = batchTarget.map(Self.seconds)
    }

    private static func seconds(_ duration: Duration) -> Double {
        let c = duration.components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
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

    /// Writes a source may always have queued, however full the queues are: so the queues
    /// hold at most `maxQueued` plus this many per source.
    static let reservedPerSource = 2

    /// Queues a write from `source` unless every queue together already holds `maxQueued`
    /// (and the source has ``reservedPerSource`` queued already):
    /// then it returns false and queues nothing (wait for ``whenRoom(_:)`` and offer again).
    /// After ``stop()`` the write is answered `unavailable` at once, and this returns true.
    public func offer(_ submission: WriteSubmission, source: Int) -> Bool {
        enqueue(submission, source: source, force: false)
    }

    /// Queues a write whatever the cap (in-process callers that have no way to wait).
    public func submit(_ submission: WriteSubmission, source: Int = 0) {
        _ = enqueue(submission, source: source, force: true)
    }

    private func enqueue(_ submission: WriteSubmission, source: Int, force: Bool) -> Bool {
        enum Outcome { case queued, full, stopped }
        let outcome = condition.withLock { () -> Outcome in
            guard !stopping else { return .stopped }
            // A source with next to nothing queued is always let in, cap or no cap: otherwise
            // a flood from other connections refills every place a batch frees before a quiet
            // workstation's offer comes round (its one 999 call.start waited 25 s in a test).
            let own = queues[source]?.count ?? 0
            guard force || queued < maxQueued || own < Self.reservedPerSource else { return .full }
            if queues[source, default: []].isEmpty { fresh.append(source) }
            queues[source, default: []].append(submission)
            queued += 1
            condition.signal()
            return .queued
        }
        if outcome == .stopped { submission.completion(.failure(.shuttingDown)) }
        return outcome != .full
    }

    /// Calls `callback` once, on the writer's thread, when the queues next have room (at
    /// once, on this thread, if they have room now or the writer is stopping).
    public func whenRoom(_ callback: @escaping @Sendable () -> Void) {
        let now = condition.withLock { () -> Bool in
            if queued < maxQueued || stopping { return true }
            roomWaiters.append(callback)
            return false
        }
        if now { callback() }
    }

    /// How many writes are waiting.
    public var backlog: Int { condition.withLock { queued } }

    /// How many writes the next batch takes: `maxBatch`, or fewer when that many would take
    /// the writer longer than `batchTarget`.
    private var batchSize: Int {
        guard let batchTarget, secondsPerEvent > 0 else { return maxBatch }
        return max(1, min(maxBatch, Int(batchTarget / secondsPerEvent)))
    }

    /// Takes up to `size` writes, one from each source in turn. Call with `condition` held.
    private func takeBatch(_ size: Int) -> [WriteSubmission] {
        var batch: [WriteSubmission] = []
        batch.reserveCapacity(min(queued, size))
        while batch.count < size, let source = fresh.popFirst() ?? ring.popFirst() {
            batch.append(queues[source]!.removeFirst())
            if queues[source]!.isEmpty {
                queues[source] = nil
            } else {
                ring.append(source)
            }
        }
        queued -= batch.count
        return batch
    }

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
            while queued == 0 && !stopping {
                lastLoop = .now
                if !condition.wait(until: Date().addingTimeInterval(idleTick)), store.isScrubPending {
                    condition.unlock()
                    store.scrubWAL()
                    condition.lock()
                }
            }
            lastLoop = .now
            if queued == 0 && stopping {
                let waiters = roomWaiters
                roomWaiters = []
                condition.unlock()
                for waiter in waiters { waiter() }
                break
            }
            let batch = takeBatch(batchSize)
            let policy = self.policy
            let alerting = self.alerting
            let waiters = roomWaiters
            roomWaiters = []
            condition.unlock()
            // Room was made: every source that waited offers again (one that loses the race
            // for the room waits again).
            for waiter in waiters { waiter() }

            let started = ContinuousClock.now
            let outcome = store.commit(batch, policy: policy, alerting: alerting, now: clock())
            let perEvent = Self.seconds(ContinuousClock.now - started) / Double(batch.count)
            secondsPerEvent = secondsPerEvent == 0 ? perEvent : 0.8 * secondsPerEvent + 0.2 * perEvent
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
