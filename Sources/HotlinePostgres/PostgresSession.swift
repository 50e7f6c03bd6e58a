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
    let backend: (pid: Int32, connector: PostgresConnector)?

    package init(_ connection: PostgresConnection, logger: Logger, backend: (pid: Int32, connector: PostgresConnector)? = nil) {
        self.connection = connection
        self.logger = logger
        self.backend = backend
    }

    /// A session on the primary, prepared (``PostgresDurability/prepare(_:logger:)``); the
    /// primary it reached and what a commit means there.
    package static func open(_ connector: PostgresConnector, logger: Logger) throws -> (
        session: PostgresSession, endpoint: PostgresEndpoint, durability: PostgresDurability
    ) {
        let (connection, endpoint) = try blocking { try await connector.connectToPrimary() }
        do {
            let durability = try blocking { try await PostgresDurability.prepare(connection, logger: logger) }
            let pid = try blocking {
                var pid: Int32 = 0
                for try await n in try await connection.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self) { pid = n }
                return pid
            }
            return (PostgresSession(connection, logger: logger, backend: (pid, connector)), endpoint, durability)
        } catch {
            _ = try? blocking { try await connection.close() }
            throw error
        }
    }

    /// Runs `query` to its end.
    package func execute(_ query: PostgresQuery) throws {
        let (connection, logger) = (connection, logger)
        try bounded { try await connection.query(query, logger: logger) }
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
        return try Self.blocking(
            deadline: Self.statementDeadline,
            onDeadline: {
                _ = connection.close() as EventLoopFuture<Void>
                guard let backend else { return }
                Task(executorPreference: PostgresExecutor.shared) {
                    guard let (other, _) = try? await backend.connector.connectToPrimary() else { return }
                    _ = try? await other.query("SELECT pg_terminate_backend(\(backend.pid))", logger: logger)
                    try? await other.close()
                }
            }, body)
    }

    /// The first row `query` gives, if any.
    package func row(_ query: PostgresQuery) throws -> PostgresRandomAccessRow? {
        try rows(query).first?.makeRandomAccess()
    }

    package var isClosed: Bool { connection.isClosed }

    package func close() {
        let connection = connection
        _ = try? Self.blocking { try await connection.close() }
    }

    /// Runs `body` in a task and waits for it on this thread; after `deadline`, runs
    /// `onDeadline` (which must make `body` fail: closing its connection) and waits for the end.
    /// Never on an event loop's thread: the task may need that very loop.
    package static func blocking<T: Sendable>(
        deadline: Duration? = nil, onDeadline: @Sendable () -> Void = {}, _ body: @escaping @Sendable () async throws -> T
    ) throws -> T {
        precondition(MultiThreadedEventLoopGroup.currentEventLoop == nil, "PostgresSession blocking on an event loop")
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task(executorPreference: PostgresExecutor.shared) {
            let outcome: Result<T, any Error>
            do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        if let deadline {
            let (seconds, attoseconds) = deadline.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            if done.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .timedOut {
                onDeadline()
                done.wait()
            }
        } else {
            done.wait()
        }
        return try result.withLock { $0! }.get()
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
