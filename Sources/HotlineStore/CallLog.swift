import HotlineCore

/// What the daemon asks of the storage engine that keeps the call log: domain operations in
/// domain values, never SQL nor JSON. The server (Dispatcher, the alert centre, the service
/// and its jobs) and the writer depend on this alone, so a second engine plugs in beside
/// ``CallStore`` (SQLite, the first) without touching them.
///
/// An engine keeps the promises of docs/RELIABILITY.md and docs/SECURITY.md: a batch is
/// applied in one transaction (each event in its own savepoint), nothing is acknowledged
/// before ``syncLog()`` has made it durable, an event's alerts and audit entries are
/// written with it, and both chains are extended as ``Chain`` says.
public protocol CallLog: AnyObject, Sendable {
    /// Where the log is kept, for the journal: a file's path, a server's address.
    var location: String { get }

    // MARK: Writing (one writer at a time: EventWriter's thread)

    /// Applies `batch` in one transaction and commits it; see ``CallStore/commit(_:policy:alerting:now:yieldFrom:shouldYield:)``.
    func commit(
        _ batch: [WriteSubmission], policy: CallPolicy, alerting: AlertSettings, now: Timestamp, yieldFrom: Int,
        shouldYield: () -> Bool
    ) -> BatchOutcome
    /// Whether the writer has engine work waiting for an idle moment (SQLite: an erasure's
    /// WAL truncation that readers held up), and the work itself.
    var hasIdleWork: Bool { get }
    func doIdleWork()

    // MARK: Durability

    /// Makes every commit so far durable. Nothing may be acknowledged before it returns.
    func syncLog() throws
    /// Why this process may write nothing more (a failed sync), if so.
    var syncFailure: String? { get }
    /// Waits until this process may write nothing more, and says why; nil when the waiting
    /// task is cancelled first.
    func whenSyncFails() async -> String?
    /// What is wrong with storage now (for `stats` and `STATUS=`), if anything.
    var storageFault: String? { get }
    func noteStorageFault(_ reason: String)
    /// Whether a restart could write again after a ``syncFailure`` (SQLite: the file
    /// system holding the database is writable).
    var canWriteAfterRestart: Bool { get }

    // MARK: Reading

    func call(id: String, notesAfter: Int64?, maxNotes: Int, maxNoteBytes: Int) throws -> CallDetail?
    func listCalls(_ query: CallsQuery, ownerUID: UInt32?) throws -> CallPage
    func counts() throws -> LogCounts
    /// What the wallboard and the metrics endpoint show (issue 17): the unacknowledged
    /// alerts (the oldest `alertLimit`, and all counted by level), open calls by route, and
    /// the calls received in `[from, to)`, by their route and times only.
    func liveRows(callsFrom from: Timestamp, to: Timestamp, alertLimit: Int) throws -> LiveRows
    func exportPage(from: Timestamp, to: Timestamp, afterSeq: Int64?, limit: Int) throws -> ExportPage
    /// The calls open at `asOf` and those ended in `[from, to)` without an outcome (issue 16).
    func handover(from: Timestamp, to: Timestamp, asOf: Timestamp, limit: Int) throws -> Handover
    /// Legal hold: put on and released with an audit entry in the same transaction;
    /// `notFound` for no such call, `conflict` for one already held (or not held).
    func placeHold(callID: String, by peer: Peer, reason: String, at now: Timestamp) throws -> LegalHold
    func releaseHold(callID: String, by peer: Peer, reason: String, at now: Timestamp) throws -> LegalHold
    func holds() throws -> [LegalHold]
    /// Whether a read failed because the engine stopped it so that an erased identity
    /// could be removed from disk (worth asking again), not because storage failed.
    func wasStoppedForErasure(_ error: any Error) -> Bool

    // MARK: Alerts

    func acknowledgeAlert(id: String, by peer: Peer, at requested: Timestamp) throws -> Alert?
    func alertBacklog() throws -> AlertBacklog
    func alertBacklogPage(_ backlog: AlertBacklog, after last: Alert?, limit: Int) throws -> [Alert]
    func escalateDue(now: Timestamp, settings: AlertSettings, ackSeconds: (String) -> Double) throws -> [Alert]
    func dueDeliveries(now: Timestamp, limit: Int, excludingSinks: [String], excludingIDs: Set<Int64>) throws -> [AlertDelivery]
    func nextDeliveryDue() throws -> Timestamp?
    func markDelivered(_ id: Int64, at now: Timestamp) throws
    func markFailed(_ id: Int64, error: String, retryAt: Timestamp) throws

    // MARK: Audit and tamper evidence

    /// Appends `entry` to the audit log (durable at once with `sync`, else with the writer's
    /// next sync); returns it with its `seq`.
    @discardableResult
    func audit(_ entry: AuditEntry, sync: Bool) throws -> AuditEntry
    func auditEntries(from: Timestamp, to: Timestamp, limit: Int, maxBytes: Int) throws -> AuditPage
    /// Where both chains end, as committed.
    var heads: ChainHeads { get }
    func verify() throws -> VerifyReport

    // MARK: Retention

    @discardableResult
    func purge(rules: [RetentionRule], now: Timestamp, uid: UInt32, pid: Int32) throws -> PurgeReport

    /// Closes the log; nothing is read or written after.
    func close() throws

    // MARK: Several daemons on one log (PostgreSQL); SQLite's log has one daemon

    /// Whether the writer is waiting on a database server within a bounded time (a COMMIT
    /// waiting for a standby): a wait, not a hang, to the watchdog.
    var isInBoundedWait: Bool { get }
    /// Whether this daemon is the one to do the work done once across every daemon on the
    /// log (re-escalation, sink delivery) now; asks for or renews the lead as needed.
    /// Blocking.
    func mayDoSharedWork() -> Bool
    /// The deliveries due (as ``dueDeliveries(now:limit:excludingSinks:excludingIDs:)``),
    /// claimed for this daemon for `seconds`: no other daemon on the log is given them until
    /// then, unless marked failed (due again at its retry) first.
    func claimDeliveries(now: Timestamp, limit: Int, excludingSinks: [String], excludingIDs: Set<Int64>, for seconds: Double) throws
        -> [AlertDelivery]
    /// Makes claimed deliveries not started due again at `dueAt`.
    func unclaimDeliveries(_ ids: [Int64], dueAt: Timestamp) throws
    /// Gives that work up, at a stop, for another daemon to take at once. Blocking.
    func resignSharedWork()
    /// Calls `deliver` with the alerts committed on the log (raised, or gone up a level) by
    /// the other daemons on it, and by this one (those it pushed already come again: the
    /// caller skips them), until the calling task is cancelled. SQLite: returns at once.
    func followAlerts(_ deliver: @escaping @Sendable (Alert) -> Void) async
}

extension CallStore: CallLog {
    public var location: String { path }
    public var hasIdleWork: Bool { isScrubPending }
    public func doIdleWork() { retryScrub() }
    public var canWriteAfterRestart: Bool { directoryWritable }
    public func whenSyncFails() async -> String? { await durability.syncFailed.failure() }
    public func wasStoppedForErasure(_ error: any Error) -> Bool { Self.isInterruption(error) }
    /// fdatasync is not bounded: a wait on it is what the watchdog is for.
    public var isInBoundedWait: Bool { false }
    /// A SQLite log has one daemon.
    public func mayDoSharedWork() -> Bool { true }
    /// One daemon: what it has under way, AlertCenter knows (`excludingIDs`).
    public func claimDeliveries(now: Timestamp, limit: Int, excludingSinks: [String], excludingIDs: Set<Int64>, for seconds: Double) throws
        -> [AlertDelivery]
    {
        try dueDeliveries(now: now, limit: limit, excludingSinks: excludingSinks, excludingIDs: excludingIDs)
    }
    public func unclaimDeliveries(_ ids: [Int64], dueAt: Timestamp) throws {}
    public func resignSharedWork() {}
    public func followAlerts(_ deliver: @escaping @Sendable (Alert) -> Void) async {}
}

extension CallLog {
    /// Appends `entry` to the audit log, durable before this returns.
    @discardableResult
    public func audit(_ entry: AuditEntry) throws -> AuditEntry { try audit(entry, sync: true) }

    /// A page of the audit log of at most 5000 entries.
    public func auditEntries(from: Timestamp, to: Timestamp, maxBytes: Int) throws -> AuditPage {
        try auditEntries(from: from, to: to, limit: 5000, maxBytes: maxBytes)
    }

    /// At most 100 deliveries due.
    public func dueDeliveries(now: Timestamp, excludingSinks: [String], excludingIDs: Set<Int64>) throws -> [AlertDelivery] {
        try dueDeliveries(now: now, limit: 100, excludingSinks: excludingSinks, excludingIDs: excludingIDs)
    }
}
