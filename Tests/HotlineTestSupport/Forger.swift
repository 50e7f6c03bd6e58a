import Foundation
import GRDB
import HotlineStore

/// What the tests that play a forger with the database file do: whatever anyone who can
/// write the file can, and nothing that needs the key.
public enum Forger {
    /// Recomputes the digest and plain hash of every event of the database at `path` from
    /// `seq` on, as the daemon would compute them (the keyed links it cannot).
    public static func rehashEvents(_ path: String, from seq: Int64) throws {
        var configuration = GRDB.Configuration()
        configuration.foreignKeysEnabled = false
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        try queue.write { db in
            var previous =
                try Data.fetchOne(db, sql: "SELECT hash FROM events WHERE seq = ?", arguments: [seq - 1])
                ?? Chain.genesis
            for row in try Row.fetchAll(db, sql: "SELECT * FROM events WHERE seq >= ? ORDER BY seq", arguments: [seq]) {
                // The digest as the store computes it, from the row's columns.
                let digest = CallStore.eventContent(row, identityCommitment: row["identity_commitment"]).digest
                previous = Chain.link(previous, digest)
                try db.execute(
                    sql: "UPDATE events SET digest = ?, hash = ? WHERE seq = ?", arguments: [digest, previous, row["seq"]])
            }
        }
    }
}
