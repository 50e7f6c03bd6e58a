import Foundation
import GRDB
import HotlineCore

/// The database schema, as named migrations that are only ever appended to.
enum Schema {
    /// `keys` seal what an older version wrote in the clear (`v6-sealed-coordinates`);
    /// `sealed` is told what that did.
    static func migrator(
        keys: KeyRing, sealed: @escaping @Sendable (SealedCoordinates.Outcome) -> Void = { _ in },
        keyed: @escaping @Sendable (KeyedChain.Outcome) -> Void = { _ in }
    ) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-event-log") { db in
            // The append-only event log. `body` is the event without identity or free text,
            // in canonical JSON; `secret` its free text, sealed; `ack` the acknowledgement
            // answered, so a resend gets the original back.
            try db.execute(
                sql: """
                    CREATE TABLE events (
                        seq INTEGER PRIMARY KEY,
                        event_id TEXT NOT NULL UNIQUE,
                        call_id TEXT NOT NULL,
                        op TEXT NOT NULL,
                        body TEXT NOT NULL,
                        secret BLOB,
                        ack TEXT NOT NULL,
                        recorded_at INTEGER NOT NULL,
                        peer_uid INTEGER NOT NULL,
                        peer_pid INTEGER NOT NULL
                    );
                    CREATE INDEX events_by_call ON events(call_id, seq);
                    -- Identifying fields, kept apart from the log so that erasing them for an
                    -- anonymous caller never touches an event.
                    CREATE TABLE event_identity (
                        seq INTEGER PRIMARY KEY REFERENCES events(seq),
                        call_id TEXT NOT NULL,
                        secret BLOB NOT NULL
                    );
                    CREATE INDEX event_identity_by_call ON event_identity(call_id);
                    -- Each call's current state: a projection of its events.
                    CREATE TABLE calls (
                        call_id TEXT PRIMARY KEY,
                        dialled TEXT NOT NULL,
                        route TEXT NOT NULL,
                        route_anonymity TEXT NOT NULL,
                        route_grade TEXT NOT NULL,
                        grade TEXT NOT NULL,
                        marking TEXT NOT NULL,
                        anonymous INTEGER NOT NULL,
                        anonymous_requested INTEGER NOT NULL,
                        escalated INTEGER NOT NULL,
                        threat_alert_raised INTEGER NOT NULL,
                        category TEXT,
                        location BLOB,
                        flags TEXT NOT NULL,
                        outcome TEXT,
                        received_at INTEGER NOT NULL,
                        answered_at INTEGER,
                        ended_at INTEGER,
                        workstation TEXT,
                        handler TEXT,
                        owner_uid INTEGER NOT NULL,
                        identity BLOB,
                        first_seq INTEGER NOT NULL UNIQUE,
                        last_seq INTEGER NOT NULL
                    );
                    CREATE INDEX calls_by_received ON calls(received_at, first_seq);
                    CREATE INDEX calls_open ON calls(ended_at) WHERE ended_at IS NULL;
                    -- Alerts, written in the same transaction as the event that raised them.
                    CREATE TABLE alerts (
                        alert_id TEXT PRIMARY KEY,
                        call_id TEXT NOT NULL,
                        seq INTEGER NOT NULL REFERENCES events(seq),
                        route TEXT NOT NULL,
                        grade TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        level INTEGER NOT NULL,
                        raised_at INTEGER NOT NULL,
                        acked_at INTEGER,
                        acked_by INTEGER
                    );
                    CREATE INDEX alerts_by_call ON alerts(call_id);
                    CREATE INDEX alerts_unacked ON alerts(raised_at) WHERE acked_at IS NULL;
                    """
            )
        }
        migrator.registerMigration("v2-alert-outbox") { db in
            // Deliveries to alert sinks (journal, command, webhook), written in the same
            // transaction as the alert or its re-escalation, so none is lost to a crash and
            // each is delivered once per sink and level as far as the sink's answer tells.
            try db.execute(
                sql: """
                    CREATE TABLE alert_outbox (
                        id INTEGER PRIMARY KEY,
                        alert_id TEXT NOT NULL REFERENCES alerts(alert_id),
                        level INTEGER NOT NULL,
                        sink TEXT NOT NULL,
                        payload TEXT NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt_at INTEGER NOT NULL,
                        delivered_at INTEGER,
                        last_error TEXT,
                        UNIQUE (alert_id, level, sink)
                    );
                    CREATE INDEX alert_outbox_due ON alert_outbox(next_attempt_at) WHERE delivered_at IS NULL;
                    """
            )
        }
        migrator.registerMigration("v3-audit-and-chain") { db in
            // Tamper evidence (Chain) for the event log, and the audit log of who read what.
            // `purged_by` is set on the events whose content retention removed: the audit
            // entry that did it. Their digest stays, so the chain still verifies.
            try db.execute(
                sql: """
                    ALTER TABLE events ADD COLUMN identity_commitment BLOB;
                    ALTER TABLE events ADD COLUMN digest BLOB;
                    ALTER TABLE events ADD COLUMN hash BLOB;
                    ALTER TABLE events ADD COLUMN purged_by INTEGER;
                    CREATE TABLE audit (
                        seq INTEGER PRIMARY KEY,
                        at INTEGER NOT NULL,
                        uid INTEGER NOT NULL,
                        pid INTEGER NOT NULL,
                        role TEXT,
                        op TEXT NOT NULL,
                        detail TEXT NOT NULL,
                        digest BLOB NOT NULL,
                        hash BLOB NOT NULL
                    );
                    CREATE INDEX audit_by_at ON audit(at, seq);
                    """
            )
            // Events written before the chain existed are chained now, in order.
            var previous = Chain.genesis
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT e.*, i.secret AS identity FROM events e LEFT JOIN event_identity i ON i.seq = e.seq
                    ORDER BY e.seq
                    """)
            var updates: [(Int64, Data?, Data, Data)] = []
            while let row = try rows.next() {
                let commitment = (row["identity"] as Data?).map(Chain.commitment(to:))
                let digest = CallStore.eventContent(row, identityCommitment: commitment).digest
                previous = Chain.link(previous, digest)
                updates.append((row["seq"], commitment, digest, previous))
            }
            let update = try db.makeStatement(
                sql: "UPDATE events SET identity_commitment = ?, digest = ?, hash = ? WHERE seq = ?")
            for (seq, commitment, digest, hash) in updates {
                try update.execute(arguments: [commitment, digest, hash, seq])
            }
        }
        // The alert centre looks for alerts due for escalation ten times a second; those at
        // the top level never are, and a console left unattended piles them up (20,000 cost
        // half a core before this index; Benchmarks/alert-backlog.sh).
        migrator.registerMigration("v4-alerts-escalating") { db in
            try db.execute(
                sql: "CREATE INDEX alerts_escalating ON alerts(level, raised_at) WHERE acked_at IS NULL")
        }
        // A handler's calls.list holds only its own calls (owner_uid). Without this index it
        // walked every call received in the window (calls_by_received) and dropped the other
        // handlers', so one handler's list cost as much as a supervisor's of the whole room.
        // Equality on the owner, then the window; first_seq is in the index so after_seq is
        // judged without reading the row.
        migrator.registerMigration("v5-calls-by-owner") { db in
            try db.execute(sql: "CREATE INDEX calls_by_owner ON calls(owner_uid, received_at, first_seq)")
        }
        // An incident's coordinates were written in the clear in the event's body (the
        // description was sealed): for a hotline report, often the caller's street. They are
        // sealed now, and the chain recomputed from there (SealedCoordinates).
        migrator.registerMigration("v6-sealed-coordinates") { db in
            sealed(try SealedCoordinates.migrate(db, keys: keys, at: SystemClock.now()))
        }
        // The plain chain can be recomputed by anyone who can write the file; the keyed one
        // only with the key (KeyedChain).
        migrator.registerMigration("v7-keyed-chain") { db in
            keyed(try KeyedChain.migrate(db, keys: keys, at: SystemClock.now()))
        }
        // Issue 16. Legal holds: a held call is never purged; the row is the hold's current
        // state, the audit log (call.hold / call.release entries) its history, and verify
        // holds one to the other. calls_by_ended serves the handover's "open at the shift's
        // end" (ended after it), calls_without_outcome its "ended without an outcome".
        migrator.registerMigration("v8-holds-and-handover") { db in
            try db.execute(
                sql: """
                    CREATE TABLE holds (
                        call_id TEXT PRIMARY KEY NOT NULL,
                        held_at INTEGER NOT NULL,
                        held_by INTEGER NOT NULL,
                        role TEXT,
                        reason BLOB,
                        audit_seq INTEGER NOT NULL
                    );
                    CREATE INDEX calls_by_ended ON calls(ended_at) WHERE ended_at IS NOT NULL;
                    CREATE INDEX calls_without_outcome ON calls(ended_at) WHERE outcome IS NULL AND ended_at IS NOT NULL;
                    """)
        }
        // Issue 18. How each call came in (every call before is a voice call), who relayed
        // it, and an online report's form reference. The projection's columns; the events
        // carry them in their bodies, where verify reads them back. Alerts carry the channel
        // too, so a console shows it without reading the call.
        migrator.registerMigration("v9-channels") { db in
            try db.execute(
                sql: """
                    ALTER TABLE calls ADD COLUMN channel TEXT NOT NULL DEFAULT 'voice';
                    ALTER TABLE calls ADD COLUMN relay_kind TEXT;
                    ALTER TABLE calls ADD COLUMN relay_reference TEXT;
                    ALTER TABLE calls ADD COLUMN form_reference TEXT;
                    ALTER TABLE alerts ADD COLUMN channel TEXT NOT NULL DEFAULT 'voice';
                    """)
        }
        return migrator
    }
}
