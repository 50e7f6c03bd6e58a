import DequeModule
import Foundation
import HotlineCore
import Logging
import Synchronization

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
/// A quiet workstation also never waits for a long batch of others' backlog: a batch is cut
/// short as soon as such a write comes (the writes it did not reach are carried, first, into
/// the next batch), and a batch that holds such writes takes little backlog beside them
/// (a sixteenth of a batch, at least one write), so it commits soon. Every batch applies at
/// least one write of the backlog when there is one, so fresh writes never starve it.
///
/// `@unchecked Sendable`: every mutable field is guarded by `condition` (the writer's) or
/// `syncCondition` (the syncer's), as marked.
public final class EventWriter: @unchecked Sendable {
    private let store: any CallLog
    private let logger: Logger
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
    /// Whether `fresh` has sources: read by the writer between the events of a batch
    /// without the lock (written with it).
    private let freshWaiting = Atomic<Bool>(false)
    /// Writes the writer took for a batch but did not reach, cut short for fresh writes;
    /// they go into the next batch before any other backlog.
    private var carry: Deque<(source: Int, write: WriteSubmission)> = []
    /// How many of each source's writes are in `carry` or in the batch being applied past
    /// its fresh head (where it may be cut short): such a source is never fresh, so that its
    /// next write cannot overtake them.
    private var unsettled: [Int: Int] = [:]
    private var queued = 0
    private var roomWaiters: [@Sendable () -> Void] = []
    private var stopping = false
    private var policy: CallPolicy
    private var alerting = AlertSettings()
    private var onCommit: (@Sendable ([Alert]) -> Void)?
    private var onSync: (@Sendable (SyncObservation) -> Void)?
    private var lastLoop = ContinuousClock.now
    private let finished = DispatchSemaphore(value: 0)
    /// Committed batches waiting for their fsync, and the syncer's own heartbeat.
    private let syncCondition = NSCondition()
    private var syncQueue: [(batch: [WriteSubmission], outcome: BatchOutcome)] = []
    private var writerDone = false
    /// Callers waiting for what they committed themselves (an audit entry) to be durable:
    /// the syncer's next fsync covers them (``whenDurable(_:)``).
    private var durableWaiters: [@Sendable (Bool) -> Void] = []
    /// The syncer has stopped: a caller of ``whenDurable(_:)`` syncs for itself.
    private var syncerExited = false
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
        store: any CallLog, policy: CallPolicy, alerting: AlertSettings = AlertSettings(), maxBatch: Int,
        maxQueued: Int = Configuration.Limits().maxQueuedWrites, batchTarget: Duration? = .milliseconds(5),
        heartbeat: Duration = .seconds(1),
        clock: @escaping @Sendable () -> Timestamp = SystemClock.now, logger: Logger = Logger(label: "hotlined")
    ) {
        self.store = store
        self.logger = logger
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

    /// Called after each fsync of the syncer's, with what it made durable (or failed to):
    /// the metrics endpoint's group-commit sizes, fsync latencies and events written.
    public func setSyncObserver(_ observer: @escaping @Sendable (SyncObservation) -> Void) {
        condition.withLock { self.onSync = observer }
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
            if queues[source, default: []].isEmpty {
                if unsettled[source] == nil {
                    fresh.append(source)
                    freshWaiting.store(true, ordering: .relaxed)
                } else {
                    ring.append(source)
                }
            }
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
    public var backlog: Int { condition.withLock { queued + carry.count } }

    /// How many writes the next batch takes: `maxBatch`, or fewer when that many would take
    /// the writer longer than `batchTarget`.
    private var batchSize: Int {
        guard let batchTarget, secondsPerEvent > 0 else { return maxBatch }
        return max(1, min(maxBatch, Int(batchTarget / secondsPerEvent)))
    }

    /// The next batch, each write with its source, and how many writes at its head came from
    /// fresh sources: every fresh source's first write (up to `size`), then the carried
    /// writes and the ring's, one from each source in turn, up to `size` in all, or only a
    /// sixteenth of it (at least one) beside fresh writes. Call with `condition` held.
    private func takeBatch(_ size: Int) -> (batch: [(source: Int, write: WriteSubmission)], fresh: Int) {
        var batch: [(source: Int, write: WriteSubmission)] = []
        batch.reserveCapacity(min(queued + carry.count, size))
        func take(_ source: Int) {
            batch.append((source, queues[source]!.removeFirst()))
            if queues[source]!.isEmpty {
                queues[source] = nil
            } else {
                ring.append(source)
            }
        }
        while batch.count < size, let source = fresh.popFirst() { take(source) }
        let freshCount = batch.count
        if fresh.isEmpty { freshWaiting.store(false, ordering: .relaxed) }
        let limit = freshCount == 0 ? size : freshCount + max(1, size / 16)
        var fromCarry = 0
        while batch.count < limit, let entry = carry.popFirst() {
            batch.append(entry)
            fromCarry += 1
        }
        // Only once the carried writes are all taken: a source's queued writes are newer.
        if carry.isEmpty {
            while batch.count < limit, let source = ring.popFirst() {
                take(source)
                unsettled[source, default: 0] += 1
            }
        }
        queued -= batch.count - fromCarry
        return (batch, freshCount)
    }

    /// Settles a batch the store applied up to `applied`: the writes past its fresh head it
    /// applied are settled; those it did not reach go back, first, for the next batch. Call
    /// with `condition` held.
    private func settle(_ batch: [(source: Int, write: WriteSubmission)], fresh: Int, applied: Int) {
        for entry in batch[fresh..<max(fresh, applied)] {
            unsettled[entry.source]! -= 1
            if unsettled[entry.source] == 0 { unsettled[entry.source] = nil }
        }
        for entry in batch[max(fresh, applied)...].reversed() { carry.prepend(entry) }
    }

    /// When the writer and the syncer last went round their loops (the older of the two):
    /// a hung writer, or an fsync that never returns, stops moving this.
    /// A writer waiting on a database server within a bounded time (PostgreSQL: a COMMIT
    /// waiting for its standbys, cut off at its deadline) is not hung: it counts as moving.
    public var lastHeartbeat: ContinuousClock.Instant {
        store.isInBoundedWait ? .now : min(condition.withLock { lastLoop }, syncCondition.withLock { lastSync })
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
            while queued == 0 && carry.isEmpty && !stopping {
                lastLoop = .now
                // An erasure waiting for its WAL truncation is tried again every 100 ms.
                let tick = store.hasIdleWork ? min(idleTick, 0.1) : idleTick
                if !condition.wait(until: Date().addingTimeInterval(tick)), store.hasIdleWork {
                    condition.unlock()
                    // One try each tick, not scrubWAL's tries: a write arriving meanwhile waits.
                    store.doIdleWork()
                    condition.lock()
                }
            }
            lastLoop = .now
            if queued == 0 && carry.isEmpty && stopping {
                let waiters = roomWaiters
                roomWaiters = []
                condition.unlock()
                for waiter in waiters { waiter() }
                break
            }
            let (taken, freshCount) = takeBatch(batchSize)
            let policy = self.policy
            let alerting = self.alerting
            let waiters = roomWaiters
            roomWaiters = []
            condition.unlock()
            // Room was made: every source that waited offers again (one that loses the race
            // for the room waits again).
            for waiter in waiters { waiter() }

            let started = ContinuousClock.now
            // Past the fresh writes and one of the backlog, a batch stops for a fresh write
            // that came meanwhile.
            let outcome = store.commit(
                taken.map(\.write), policy: policy, alerting: alerting, now: clock(), yieldFrom: freshCount + 1,
                shouldYield: { self.freshWaiting.load(ordering: .relaxed) })
            let applied = outcome.results.count
            // A batch cut short shares its commit among few events: not what a batch costs.
            if applied == taken.count {
                let perEvent = Self.seconds(ContinuousClock.now - started) / Double(applied)
                secondsPerEvent = secondsPerEvent == 0 ? perEvent : 0.8 * secondsPerEvent + 0.2 * perEvent
            }
            if freshCount < taken.count {
                condition.withLock { settle(taken, fresh: freshCount, applied: applied) }
            }
            syncCondition.withLock {
                syncQueue.append((taken.prefix(applied).map(\.write), outcome))
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

    /// Calls `completion` once everything committed to the log before this call is durable,
    /// with whether it is: the syncer's next fsync, shared with the writes it makes durable,
    /// rather than one of the caller's own (an audited read's entry, 20 a second under a
    /// `call.get` flood, had its own fsync, and a 999 acknowledgement sometimes waited for it).
    public func whenDurable(_ completion: @escaping @Sendable (Bool) -> Void) {
        let exited = syncCondition.withLock { () -> Bool in
            if syncerExited { return true }
            durableWaiters.append(completion)
            syncCondition.signal()
            return false
        }
        if exited { completion((try? store.syncLog()) != nil) }
    }

    /// Takes every committed batch waiting, makes them durable with one fsync, then tells
    /// the commit observer of their alerts and answers each write (and ``whenDurable(_:)``'s
    /// callers).
    private func runSyncer() {
        while true {
            syncCondition.lock()
            while syncQueue.isEmpty && durableWaiters.isEmpty && !writerDone {
                lastSync = .now
                _ = syncCondition.wait(until: Date().addingTimeInterval(idleTick))
            }
            lastSync = .now
            if syncQueue.isEmpty && durableWaiters.isEmpty && writerDone {
                syncerExited = true
                syncCondition.unlock()
                break
            }
            let ready = syncQueue
            syncQueue.removeAll()
            let waiters = durableWaiters
            durableWaiters.removeAll()
            syncCondition.unlock()

            var durable = true
            let syncStarted = ContinuousClock.now
            do {
                try store.syncLog()
            } catch {
                durable = false
                store.noteStorageFault("\(error)")
                logger.critical(
                    "could not make committed events durable; answering them 'storage': \(error)",
                    metadata: ["message_id": "\(MessageID.storageFailure.rawValue)"])
            }
            let syncTook = ContinuousClock.now - syncStarted
            let (onCommit, onSync) = condition.withLock { (self.onCommit, self.onSync) }
            if let onSync {
                var observation = SyncObservation(duration: syncTook, durable: durable)
                for (_, outcome) in ready {
                    observation.events += outcome.results.count
                    observation.written += outcome.results.count { if case .success = $0 { true } else { false } }
                }
                onSync(observation)
            }
            for (batch, outcome) in ready {
                if durable, !outcome.alerts.isEmpty { onCommit?(outcome.alerts) }
                for (submission, result) in zip(batch, outcome.results) {
                    submission.completion(durable ? result : .failure(CallStore.storageFailure))
                }
            }
            for waiter in waiters { waiter(durable) }
        }
        syncFinished.signal()
    }
}

/// One fsync of the writer's syncer, as the metrics endpoint counts it.
public struct SyncObservation: Sendable, Equatable {
    /// How long the fsync took.
    public var duration: Duration
    /// Whether it succeeded (the writes were answered); false: they were answered `storage`.
    public var durable: Bool
    /// The writes it covered (its group commit's size; 0 for an audit entry's alone).
    public var events = 0
    /// Of those, the writes that were applied (not refused as invalid or conflicting).
    public var written = 0

    public init(duration: Duration, durable: Bool, events: Int = 0, written: Int = 0) {
        self.duration = duration
        self.durable = durable
        self.events = events
        self.written = written
    }
}
