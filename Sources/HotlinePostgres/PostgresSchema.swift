import Logging
import PostgresNIO

/// The log's schema in PostgreSQL, as named migrations that are only ever appended to (as on
/// SQLite, `HotlineStore.Schema`). The first is the SQLite schema as it stands after its
/// seventh migration, in PostgreSQL's types: the same tables, columns and indexes, so that
/// one engine's rows read as the other's.
public enum PostgresSchema {
    public struct Migration: Sendable {
        public let name: String
        let statements: [String]
    }

    public static let migrations: [Migration] = [
        Migration(
            name: "pg1-log",
            statements: [
                // The append-only event log; see Schema's v1, v3 and v7 on SQLite.
                """
                CREATE TABLE events (
                    seq bigint PRIMARY KEY,
                    event_id text NOT NULL UNIQUE,
                    call_id text NOT NULL,
                    op text NOT NULL,
                    body text NOT NULL,
                    secret bytea,
                    ack text NOT NULL,
                    recorded_at bigint NOT NULL,
                    peer_uid bigint NOT NULL,
                    peer_pid bigint NOT NULL,
                    identity_commitment bytea,
                    digest bytea,
                    hash bytea,
                    purged_by bigint,
                    mac bytea
                )
                """,
                "CREATE INDEX events_by_call ON events (call_id, seq)",
                // Identifying fields, apart from the log, so that erasing them never touches an event.
                """
                CREATE TABLE event_identity (
                    seq bigint PRIMARY KEY REFERENCES events (seq),
                    call_id text NOT NULL,
                    secret bytea NOT NULL
                )
                """,
                "CREATE INDEX event_identity_by_call ON event_identity (call_id)",
                // Each call's current state: a projection of its events.
                """
                CREATE TABLE calls (
                    call_id text PRIMARY KEY,
                    dialled text NOT NULL,
                    route text NOT NULL,
                    route_anonymity text NOT NULL,
                    route_grade text NOT NULL,
                    grade text NOT NULL,
                    marking text NOT NULL,
                    anonymous boolean NOT NULL,
                    anonymous_requested boolean NOT NULL,
                    escalated boolean NOT NULL,
                    threat_alert_raised boolean NOT NULL,
                    category text,
                    location bytea,
                    flags text NOT NULL,
                    outcome text,
                    received_at bigint NOT NULL,
                    answered_at bigint,
                    ended_at bigint,
                    workstation text,
                    handler text,
                    owner_uid bigint NOT NULL,
                    identity bytea,
                    first_seq bigint NOT NULL UNIQUE,
                    last_seq bigint NOT NULL
                )
                """,
                "CREATE INDEX calls_by_received ON calls (received_at, first_seq)",
                "CREATE INDEX calls_open ON calls (ended_at) WHERE ended_at IS NULL",
                "CREATE INDEX calls_by_owner ON calls (owner_uid, received_at, first_seq)",
                // Alerts, in the same transaction as the event that raised them.
                """
                CREATE TABLE alerts (
                    alert_id text PRIMARY KEY,
                    call_id text NOT NULL,
                    seq bigint NOT NULL REFERENCES events (seq),
                    route text NOT NULL,
                    grade text NOT NULL,
                    reason text NOT NULL,
                    level integer NOT NULL,
                    raised_at bigint NOT NULL,
                    acked_at bigint,
                    acked_by bigint
                )
                """,
                "CREATE INDEX alerts_by_call ON alerts (call_id)",
                "CREATE INDEX alerts_unacked ON alerts (raised_at) WHERE acked_at IS NULL",
                "CREATE INDEX alerts_escalating ON alerts (level, raised_at) WHERE acked_at IS NULL",
                // Deliveries to alert sinks, in the same transaction as the alert or its re-escalation.
                """
                CREATE TABLE alert_outbox (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    alert_id text NOT NULL REFERENCES alerts (alert_id),
                    level integer NOT NULL,
                    sink text NOT NULL,
                    payload text NOT NULL,
                    attempts integer NOT NULL DEFAULT 0,
                    next_attempt_at bigint NOT NULL,
                    delivered_at bigint,
                    last_error text,
                    UNIQUE (alert_id, level, sink)
                )
                """,
                "CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE delivered_at IS NULL",
                // The audit log of who read what, chained like the events.
                """
                CREATE TABLE audit (
                    seq bigint PRIMARY KEY,
                    at bigint NOT NULL,
                    uid bigint NOT NULL,
                    pid bigint NOT NULL,
                    role text,
                    op text NOT NULL,
                    detail text NOT NULL,
                    digest bytea NOT NULL,
                    hash bytea NOT NULL,
                    mac bytea
                )
                """,
                "CREATE INDEX audit_by_at ON audit (at, seq)",
            ]),
        // The latest acknowledgement is read under the writers' lock for every one
        // (PostgresLog.acknowledgeAlert): an index, or a scan of every alert ever raised
        // would hold every room's writes.
        Migration(name: "pg2-alerts-by-acked", statements: ["CREATE INDEX alerts_by_acked ON alerts (acked_at)"]),
        // A row every batch updates, so that its COMMIT writes WAL and waits for the
        // standbys even when the batch stored nothing new (only resends): PostgreSQL skips
        // the wait for a transaction that wrote nothing (PostgresLog.commit).
        Migration(
            name: "pg3-commit-marks",
            statements: [
                "CREATE TABLE hotline_commit_marks (id smallint PRIMARY KEY, n bigint NOT NULL)",
                "INSERT INTO hotline_commit_marks VALUES (1, 0)",
            ]),
        // The leader's lease among the daemons on the log (PostgresLeadership).
        Migration(
            name: "pg4-leader-lease",
            statements: [
                "CREATE TABLE hotline_leader (id smallint PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL, expires_at timestamptz NOT NULL)",
                "INSERT INTO hotline_leader VALUES (1, '', 0, '-infinity')",
            ]),
        // Issue 16: legal holds, and the index the handover lists use (SQLite's v8).
        Migration(
            name: "pg5-holds-and-handover",
            statements: [
                """
                CREATE TABLE holds (
                    call_id text PRIMARY KEY,
                    held_at bigint NOT NULL,
                    held_by bigint NOT NULL,
                    role text,
                    reason bytea,
                    audit_seq bigint NOT NULL
                )
                """,
                "CREATE INDEX calls_by_ended ON calls (ended_at) WHERE ended_at IS NOT NULL",
                "CREATE INDEX calls_without_outcome ON calls (ended_at) WHERE outcome IS NULL AND ended_at IS NOT NULL",
            ]),
        // Issue 18: each call's channel, relay and form reference (SQLite's v9).
        Migration(
            name: "pg6-channels",
            statements: [
                "ALTER TABLE calls ADD COLUMN channel text NOT NULL DEFAULT 'voice'",
                "ALTER TABLE calls ADD COLUMN relay_kind text",
                "ALTER TABLE calls ADD COLUMN relay_reference text",
                "ALTER TABLE calls ADD COLUMN form_reference text",
                "ALTER TABLE alerts ADD COLUMN channel text NOT NULL DEFAULT 'voice'",
            ]),
    ]

    /// The advisory lock every migration runs under, so that two daemons starting at once
    /// (two rooms) apply each migration once: "hotlined" as a number.
    static let migrationLock: Int64 = 0x686f_746c_696e_6564

    /// Applies the migrations not applied yet, each in its own transaction with its name
    /// recorded, and returns their names. Safe to run from several daemons at once.
    @discardableResult
    public static func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> [String] {
        var applied: [String] = []
        for migration in migrations {
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
                // Under the lock: two daemons creating it at once would collide.
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS hotline_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT clock_timestamp())",
                    logger: logger)
                let done = try await connection.query(
                    "SELECT count(*) FROM hotline_migrations WHERE name = \(migration.name)", logger: logger)
                var count = 0
                for try await n in done.decode(Int.self) { count = n }
                if count == 0 {
                    for statement in migration.statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO hotline_migrations (name) VALUES (\(migration.name))", logger: logger)
                    applied.append(migration.name)
                }
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
        if !applied.isEmpty {
            logger.notice("PostgreSQL schema migrated", metadata: ["migrations": "\(applied.joined(separator: ", "))"])
        }
        return applied
    }

    /// The migrations applied, in order.
    public static func applied(_ connection: PostgresConnection, logger: Logger) async throws -> [String] {
        let rows = try await connection.query("SELECT name FROM hotline_migrations ORDER BY applied_at, name", logger: logger)
        var names: [String] = []
        for try await name in rows.decode(String.self) { names.append(name) }
        return names
    }
}
