import Dispatch
import HotlineCore
import NIOCore
import NIOPosix
import Logging
import PostgresNIO
import Synchronization

/// One connection to the primary, used from a thread that may block: the writer's thread
/// and the daemon's reader threads, which call the log synchronously (``HotlineStore/CallLog``).
/// postgres-nio is asynchronous; each call here runs its query in a task and waits for it.
/// The task runs on threads of its own (``PostgresExecutor``), not the concurrency pool's:
/// a caller blocking a pool thread (a test, a service) can then never starve the task it
/// waits for, however few pool threads there are (two, on a two-core machine).
package final class PostgresSession: Sendable {
    package let connection: PostgresConnection
    let logger: Logger

    /// How long one statement may take before the session is closed and the statement
    /// failed: a primary whose machine died sends no reset, and a wait on it would hold the
    /// writer for as long as TCP takes to give up. A COMMIT cut off so is answered as an
    /// outcome unknown. Under the unit's watchdog interval (30 s).
    package static let statementDeadline: Duration = .seconds(20)

    /// The server process serving this session, and how to reach the server again to end
    /// it (``bounded(_:)``); nil for a session made without ``open(_:logger:)``.
    let backend: Backend?
    /// Where this session says when a statement is under way, if anyone asks (the writer's:
    /// the watchdog's question whether the writer is stuck or waiting on the server).
    let activity: StatementActivity?
    /// Fails the statement under way when the connection closes.
    let closed: CloseSignal

    /// The server process serving a session: its pid and start, which together name it on
    /// whichever server it is (after a failover, the same pid on the new primary is another
    /// process).
    struct Backend {
        var pid: Int32
        var started: String
        var connector: PostgresConnector
    }

    init(_ connection: PostgresConnection, logger: Logger, backend: Backend? = nil, activity: StatementActivity? = nil) {
        self.connection = connection
        self.logger = logger
        self.backend = backend
        self.activity = activity
        self.closed = CloseSignal(connection.closeFuture)
    }

    /// A session on the primary, prepared (``PostgresDurability/prepare(_:logger:)``); the
    /// primary it reached and what a commit means there.
    package static func open(_ connector: PostgresConnector, logger: Logger, activity: StatementActivity? = nil) throws -> (
        session: PostgresSession, endpoint: PostgresEndpoint, durability: PostgresDurability
    ) {
        let (connection, endpoint) = try blocking { try await connector.connectToPrimary() }
        // Preparing it is bounded like any statement: a server lost just after it answered
        // must not hold the caller (the writer, under its lock) for as long as TCP retries.
        let signal = CloseSignal(connection.closeFuture)
        let close: @Sendable () -> Void = { _ = connection.close() as EventLoopFuture<Void> }
        activity?.began()
        defer { activity?.ended() }
        do {
            let durability = try blocking(deadline: statementDeadline, failsWhen: signal, onDeadline: close) {
                try await PostgresDurability.prepare(connection, logger: logger)
            }
            let (pid, started) = try blocking(deadline: statementDeadline, failsWhen: signal, onDeadline: close) {
                var found: (Int32, String) = (0, "")
                let rows = try await connection.query(
                    "SELECT pid, backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()", logger: logger)
                for try await row in rows.decode((Int32, String).self) { found = row }
                return found
            }
            let backend = Backend(pid: pid, started: started, connector: connector)
            return (PostgresSession(connection, logger: logger, backend: backend, activity: activity), endpoint, durability)
        } catch {
            _ = try? blocking(deadline: .seconds(5)) { try await connection.close() }
            throw error
        }
    }

    /// Runs `query` to its end. Its rows are read (and dropped): postgres-nio answers a
    /// query that returns rows before it has run, and an error it meets then (a `SELECT
    /// pg_advisory_xact_lock` cancelled, a `pg_notify` refused) surfaces only as the rows
    /// are read. Unread, it would be lost, and the transaction's COMMIT would roll back
    /// without an error.
    package func execute(_ query: PostgresQuery) throws {
        let (connection, logger) = (connection, logger)
        try bounded { _ = try await connection.query(query, logger: logger).collect() }
    }

    /// Every row `query` gives, read to the end.
    package func rows(_ query: PostgresQuery) throws -> [PostgresRow] {
        let (connection, logger) = (connection, logger)
        return try bounded { try await connection.query(query, logger: logger).collect() }
    }

    /// `body` on this session, failed and the session closed after ``statementDeadline``.
    /// Closing our end is not enough: the server's process would go on (a COMMIT waiting for
    /// a standby, holding the writers' lock, and every room's writes behind it), so it is
    /// ended too, from a connection of its own. A COMMIT so ended may have committed on the
    /// primary: its caller answers an outcome unknown.
    private func bounded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let (connection, backend, logger) = (connection, backend, logger)
        activity?.began()
        defer { activity?.ended() }
        return try Self.blocking(
            deadline: Self.statementDeadline, failsWhen: closed,
            onDeadline: {
                _ = connection.close() as EventLoopFuture<Void>
                guard let backend else { return }
                Task(executorPreference: PostgresExecutor.shared) {
                    guard let (other, _) = try? await backend.connector.connectToPrimary() else { return }
                    // Only that process: on another server (a failover since) the pid is another's.
                    _ = try? await other.query(
                        """
                        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                        WHERE pid = \(backend.pid) AND backend_start::text = \(backend.started)
                        """, logger: logger
                    ).collect()
                    try? await other.close()
                }
            }, body)
    }

    /// The first row `query` gives, if any.
    package func row(_ query: PostgresQuery) throws -> PostgresRandomAccessRow? {
        try rows(query).first?.makeRandomAccess()
    }

    package var isClosed: Bool { connection.isClosed }

    /// Closes the connection; waits at most a few seconds for it (a connection to a lost
    /// server has been seen never to finish closing).
    package func close() {
        let connection = connection
        _ = try? Self.blocking(deadline: .seconds(5)) { try await connection.close() }
    }

    /// Runs `body` in a task and waits for it on this thread; after `deadline`, runs
    /// `onDeadline` (which must make `body` fail: closing its connection) and waits 5 s more
    /// for the end, then throws ``DeadlinePassed`` and leaves the task to end on its own.
    /// Never on an event loop's thread: the task may need that very loop.
    /// - Parameter closed: when it completes (the connection closed: the server gone), the
    ///   wait ends with ``ConnectionClosed`` even if `body` has not: postgres-nio has been
    ///   seen to leave a statement unanswered for ever on a connection the server closed.
    package static func blocking<T: Sendable>(
        deadline: Duration? = nil, failsWhen closed: CloseSignal? = nil, onDeadline: @Sendable () -> Void = {},
        _ body: @escaping @Sendable () async throws -> T
    ) throws -> T {
        precondition(MultiThreadedEventLoopGroup.currentEventLoop == nil, "PostgresSession blocking on an event loop")
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        // The first outcome, the body's or the connection's end, is the one.
        let finish: @Sendable (Result<T, any Error>) -> Void = { outcome in
            let first = result.withLock { r in
                guard r == nil else { return false }
                r = outcome
                return true
            }
            if first { done.signal() }
        }
        Task(executorPreference: PostgresExecutor.shared) {
            do { finish(.success(try await body())) } catch { finish(.failure(error)) }
        }
        closed?.arm { finish(.failure(ConnectionClosed())) }
        // What the signal holds (the result box, through `finish`) goes with the wait.
        defer { closed?.disarm() }
        if let deadline {
            let (seconds, attoseconds) = deadline.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            if done.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .timedOut {
                onDeadline()
                // Closing the connection should fail the statement at once; it has been seen
                // not to (a COMMIT in flight across a failover), so the wait is bounded here
                // too, and the task left to end when it will.
                if done.wait(timeout: .now() + .seconds(5)) == .timedOut { throw DeadlinePassed(deadline: deadline) }
            }
        } else {
            done.wait()
        }
        return try result.withLock { $0! }.get()
    }
}

/// Calls the waiter armed, if any, when a connection closes: one callback on the
/// connection's close for the session's life, rather than one per statement (NIO keeps a
/// future's callbacks until it completes: one per statement would keep every statement's
/// results for as long as the connection lives).
package final class CloseSignal: Sendable {
    private let state = Mutex<(closed: Bool, waiter: (@Sendable () -> Void)?)>((false, nil))

    init(_ future: EventLoopFuture<Void>) {
        future.whenComplete { [weak self] _ in
            guard let self else { return }
            let waiter = self.state.withLock { s in
                s.closed = true
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?()
        }
    }

    /// `waiter` is called when the connection closes (at once if it has).
    func arm(_ waiter: @escaping @Sendable () -> Void) {
        let closedAlready = state.withLock { s in
            if !s.closed { s.waiter = waiter }
            return s.closed
        }
        if closedAlready { waiter() }
    }

    func disarm() { state.withLock { $0.waiter = nil } }
}

/// The connection closed (the server went, or it was closed at a deadline) before the
/// statement was answered: a COMMIT's outcome is then unknown.
package struct ConnectionClosed: Error, CustomStringConvertible {
    package var description: String { "the connection to the server closed before the statement was answered" }
}

/// A statement did not end within its deadline, nor soon after its connection was closed.
package struct DeadlinePassed: Error, CustomStringConvertible {
    let deadline: Duration
    package var description: String { "no answer from the server within \(deadline); the connection was closed" }
}

/// Whether the writer is at work on the server (a batch, a connection), and when it last
/// moved: every statement is bounded (``PostgresSession/statementDeadline``), so work whose
/// last statement began or ended within that is a wait on the server (a COMMIT for its
/// standbys, a lock another room's COMMIT holds), not a hang.
package final class StatementActivity: Sendable {
    private let state = Mutex<(depth: Int, moved: ContinuousClock.Instant)>((0, .now))
    /// How long one step may take: a statement (its deadline and the grace after it), or
    /// finding the primary among the hosts (each bounded at twice the connect timeout).
    let bound: Duration

    package init(connectBound: Duration = .zero) {
        bound = max(PostgresSession.statementDeadline + .seconds(5), connectBound) + .seconds(5)
    }

    /// Work begins (nests).
    func began() { state.withLock { $0 = ($0.depth + 1, .now) } }
    /// Work ends.
    func ended() { state.withLock { $0 = (max(0, $0.depth - 1), .now) } }

    /// Whether work is under way and moved within the longest a step may take.
    package var isWaitingWithinDeadline: Bool {
        state.withLock { $0.depth > 0 && ContinuousClock.now - $0.moved < bound }
    }
}

/// Runs the tasks that ``PostgresSession`` waits for on Dispatch's threads, apart from the
/// concurrency pool that a waiting caller may be holding.
package final class PostgresExecutor: TaskExecutor {
    package static let shared = PostgresExecutor()
    private let queue = DispatchQueue(label: "hotlined.postgres", attributes: .concurrent)

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
