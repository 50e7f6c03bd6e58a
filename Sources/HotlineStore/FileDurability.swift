import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import HotlineCore
import Logging
import Synchronization

/// What makes an acknowledgement true for a log kept in files (``CallStore``): the
/// fdatasync of the WAL, the latch that stops every write after a failed one, the storage
/// fault `stats` and `STATUS=` show, and the checks that the database file is still the one
/// opened and that its file system can be written. Apart from the store's SQL so that each
/// can be read, and reasoned about, on its own.
public final class FileDurability: Sendable {
    let path: String
    let logger: Logger
    let syncFailed = SyncFailure()
    /// What is wrong with storage right now (the last failed commit's reason), cleared by
    /// the next commit that succeeds: `stats` and `STATUS=` show it.
    let storageFaultState = Mutex<String?>(nil)
    /// The WAL, open since the store was: fdatasync on a descriptor opened before any
    /// write sees every write-back error since, even one another descriptor was told of.
    /// -1 while there is no WAL (the database file is synced instead).
    let walDescriptor = Mutex<CInt>(-1)
    /// The database file's device and inode when it was opened.
    private let fileIdentity: (dev: UInt64, ino: UInt64)?

    init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
        self.fileIdentity = Self.identity(of: path)
    }

    /// Opens the WAL to sync it by (once the database has one).
    func openWAL() {
        walDescriptor.withLock { $0 = open(path + "-wal", O_RDONLY | O_CLOEXEC) }
    }

    func closeWAL() {
        walDescriptor.withLock { wal in
            if wal >= 0 { Glibc.close(wal) }
            wal = -1
        }
    }

    /// Makes every commit so far durable: fdatasync of the WAL (of the database itself when
    /// there is no WAL). Nothing may be acknowledged before this returns.
    ///
    /// A failed fdatasync is not retried: Linux reports a write-back error once and may mark
    /// the pages it could not write clean, so a later fdatasync can succeed while WAL frames
    /// are missing from the disk, and SQLite's recovery would then drop every frame after
    /// them, acknowledged ones included. So the store stops writing for good (``syncFailure``)
    /// and the daemon restarts, letting SQLite recover the log from what is on disk; the
    /// events not acknowledged are resent by their workstations (docs/RELIABILITY.md).
    public func syncLog() throws {
        // One at a time, and the failure recorded before the lock is let go: no other
        // caller may sync successfully in between and acknowledge.
        try walDescriptor.withLock { wal throws(StorageFault) in
            if let failure = syncFailure { throw StorageFault(description: failure) }
            if wal < 0 { wal = open(path + "-wal", O_RDONLY | O_CLOEXEC) }
            var file = path + "-wal", fd = wal
            if fd < 0 {
                file = path
                fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else {
                    throw StorageFault(description: "cannot open \(file) to sync it: \(String(cString: strerror(errno)))")
                }
            }
            defer { if fd != wal { Glibc.close(fd) } }
            guard fdatasync(fd) == 0 else {
                let reason = syncFailed.record("fdatasync of \(file) failed (\(String(cString: strerror(errno))))")
                noteStorageFault(explain(reason))
                throw StorageFault(description: reason)
            }
        }
    }

    /// Why writes stopped for the life of this process (a failed fdatasync), if they did.
    public var syncFailure: String? { syncFailed.reason }

    /// Throws when nothing may be written: after a failed fdatasync, or when the database
    /// file is not the one this store opened.
    func checkWritable() throws {
        if let failure = syncFailure { throw StorageFault(description: failure) }
        try checkDatabaseFile()
    }

    /// Device and inode of `path`, or nil when it cannot be seen.
    static func identity(of path: String) -> (dev: UInt64, ino: UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    public struct StorageFault: Error, CustomStringConvertible {
        public var description: String
    }

    /// Throws when the database file is no longer the one this store opened (removed,
    /// renamed or replaced underneath it): writes stop until the same file is back.
    func checkDatabaseFile() throws {
        guard let opened = fileIdentity else { return }
        guard let now = Self.identity(of: path) else {
            throw StorageFault(description: "the database file \(path) was removed while open; writes stop until it is back")
        }
        guard now == opened else {
            throw StorageFault(description: "the database file \(path) was replaced while open; writes stop until the original is back")
        }
    }

    /// What is wrong with storage now, if anything.
    /// A failed fsync is explained when asked: whoever met it (a checkpoint, say) may not
    /// have known why.
    public var storageFault: String? { syncFailure.map(explain) ?? storageFaultState.withLock { $0 } }

    /// `reason`, with what the file system holding the database says of itself when that
    /// explains it better than SQLite's "disk I/O error": read-only, or no space left.
    func explain(_ reason: String) -> String {
        if !directoryWritable { return "the file system holding \(directory) is read-only (\(reason))" }
        var fs = statvfs()
        if statvfs(directory, &fs) == 0, fs.f_bavail == 0 {
            return "the file system holding \(directory) is full (\(reason))"
        }
        return reason
    }

    /// The directory holding the database.
    public var directory: String {
        let directory = (path as NSString).deletingLastPathComponent
        return directory.isEmpty ? "." : directory
    }

    /// False when a file cannot be created in ``directory`` because its file system is
    /// read-only. (An ext4 that remounted itself read-only after an error still shows `rw`
    /// to statvfs and access; only writing tells.)
    public var directoryWritable: Bool {
        let probe = directory + "/.hotlined-write-probe"
        let fd = open(probe, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        // EIO too: an ext4 shut down after an error answers that, and is no more writable.
        guard fd >= 0 else { return errno != EROFS && errno != EIO }
        Glibc.close(fd)
        unlink(probe)
        return true
    }

    public func noteStorageFault(_ reason: String) {
        let first = storageFaultState.withLock { state -> Bool in
            defer { state = reason }
            return state == nil
        }
        if first {
            logger.critical(
                "storage fault: \(reason); writes are answered 'storage' until it clears",
                metadata: ["message_id": "\(MessageID.storageFailure.rawValue)"])
        }
    }

    func clearStorageFault() {
        let was = storageFaultState.withLock { state -> String? in
            defer { state = nil }
            return state
        }
        if let was { logger.notice("storage fault cleared; writes succeed again (it was: \(was))") }
    }
}
