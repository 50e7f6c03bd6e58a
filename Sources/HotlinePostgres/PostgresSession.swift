import Dispatch
import Logging
import PostgresNIO
import Synchronization

/// One connection to the primary, used from a thread that may block: the writer's thread
/// and the daemon's reader threads, which call the log synchronously (``HotlineStore/CallLog``).
/// postgres-nio is asynchronous; each call here runs its query in a task and waits for it.
/// Never called from the concurrency pool's own threads (the daemon's services reach the
/// log through `offPool`), so the wait cannot starve the task it waits for.
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
        Task {
            let outcome: Result<T, any Error>
            do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }
}
