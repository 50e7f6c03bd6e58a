import Dispatch
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

    package init(_ connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// Runs `query` to its end.
    package func execute(_ query: PostgresQuery) throws {
        let (connection, logger) = (connection, logger)
        try Self.blocking { try await connection.query(query, logger: logger) }
    }

    /// Every row `query` gives, read to the end.
    package func rows(_ query: PostgresQuery) throws -> [PostgresRow] {
        let (connection, logger) = (connection, logger)
        return try Self.blocking { try await connection.query(query, logger: logger).collect() }
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

    /// Runs `body` in a task and waits for it on this thread.
    package static func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task(executorPreference: PostgresExecutor.shared) {
            let outcome: Result<T, any Error>
            do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }
}

/// Runs the tasks that ``PostgresSession`` waits for on Dispatch's threads, apart from the
/// concurrency pool that a waiting caller may be holding.
final class PostgresExecutor: TaskExecutor {
    static let shared = PostgresExecutor()
    private let queue = DispatchQueue(label: "hotlined.postgres", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
