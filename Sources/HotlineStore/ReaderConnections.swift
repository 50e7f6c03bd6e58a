import GRDB
import GRDBSQLite
import Synchronization

/// The reader connections of the store's pool, so that an erasure held up by reads can
/// interrupt them (``CallStore/erasureGrace``): a read that holds a snapshot from before the
/// erasure keeps the WAL, and the identity's ciphertext in it, from being truncated.
///
/// `sqlite3_interrupt` may be called from any thread while the connection is open; the
/// pool's readers stay open until the store closes, which forgets them first. An interrupt
/// stops the statements running on the connection (the read then fails, and its client is
/// answered `storage`, retry later); on an idle connection it does nothing.
final class ReaderConnections: Sendable {
    private struct Handle: @unchecked Sendable {
        let connection: OpaquePointer
    }

    private let handles = Mutex<[Handle]>([])

    func add(_ db: Database) {
        guard let connection = db.sqliteConnection else { return }
        handles.withLock { $0.append(Handle(connection: connection)) }
    }

    /// Interrupts whatever every reader is running; returns how many readers there are.
    @discardableResult
    func interruptAll() -> Int {
        handles.withLock { handles in
            for handle in handles { sqlite3_interrupt(handle.connection) }
            return handles.count
        }
    }

    /// Forgets every reader: the pool is about to close them.
    func forget() { handles.withLock { $0 = [] } }
}

extension CallStore {
    /// Whether `error` is a read interrupted by ``ReaderConnections/interruptAll()``.
    public static func isInterruption(_ error: any Error) -> Bool {
        (error as? DatabaseError)?.resultCode == .SQLITE_INTERRUPT
    }
}
