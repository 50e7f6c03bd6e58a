import GRDB
import GRDBSQLite
import Synchronization

/// The reader connections of the store's pool, so that an erasure held up by reads can
/// interrupt them (``CallStore/erasureGrace``): a read that holds a snapshot from before the
/// erasure keeps the WAL, and the identity's ciphertext in it, from being truncated.
///
/// `sqlite3_interrupt` may be called from any thread while the connection is open. Each
/// reader is held weakly and its handle read when it is interrupted, as GRDB's own
/// `interrupt()` does: a connection whose setup failed after it was registered, and was
/// closed, is gone or has no handle by then. The store forgets them all before it closes
/// the pool. An interrupt stops the statements running on the connection (the read then
/// fails, and its client is answered `storage`, ask again); on an idle one it does nothing.
final class ReaderConnections: Sendable {
    /// `@unchecked Sendable` because of its `weak var`, which Swift cannot check: it is set
    /// once, at creation, and read only under `handles`' lock (and only for its
    /// `sqliteConnection`), so no two threads ever touch it unsynchronised.
    private final class Reader: @unchecked Sendable {
        weak var db: Database?
        init(_ db: Database) { self.db = db }
    }

    private let handles = Mutex<[Reader]>([])

    func add(_ db: Database) {
        handles.withLock { $0.append(Reader(db)) }
    }

    /// Interrupts whatever every reader is running; returns how many readers there are.
    @discardableResult
    func interruptAll() -> Int {
        handles.withLock { handles in
            handles.removeAll { $0.db == nil }
            for reader in handles {
                if let connection = reader.db?.sqliteConnection { sqlite3_interrupt(connection) }
            }
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
