import Foundation
import GRDB
import HotlineCore

/// Alerts after they are raised: acknowledgement, re-escalation and the sink outbox.
extension CallStore {
    /// Every alert not yet acknowledged, oldest first.
    public func unacknowledgedAlerts() throws -> [Alert] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM alerts WHERE acked_at IS NULL ORDER BY raised_at, seq")
                .map(Self.alert)
        }
    }

    public func alert(id: String) throws -> Alert? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM alerts WHERE alert_id = ?", arguments: [id]).map(Self.alert)
        }
    }

    /// Records who acknowledged `id` and when, with an audit entry, durably; an alert already
    /// acknowledged keeps its first acknowledgement (a resent ack is answered the same and
    /// audited no more). Nil when there is no such alert.
    public func acknowledgeAlert(id: String, by peer: Peer, at now: Timestamp) throws -> Alert? {
        let (alert, audited) = try writeRestoringHeads { db -> (Alert?, Chain.Head?) in
            try db.execute(
                sql: "UPDATE alerts SET acked_at = ?, acked_by = ? WHERE alert_id = ? AND acked_at IS NULL",
                arguments: [now.microseconds, Int64(peer.uid), id])
            let acked = db.changesCount == 1
            let alert = try Row.fetchOne(db, sql: "SELECT * FROM alerts WHERE alert_id = ?", arguments: [id])
                .map(Self.alert)
            guard acked, let alert else { return (alert, nil) }
            let entry = AuditEntry(
                peer: peer, op: "alert.ack", at: now,
                detail: [
                    "alert_id": .string(alert.id), "call_ids": [.string(alert.callID)], "level": .int(Int64(alert.level)),
                    "result": "ok",
                ])
            return (alert, try appendAudit(entry, db))
        }
        // A resent ack is answered from the row; that row too must be on disk first (the
        // first ack's sync may still be under way, or may have failed).
        if alert?.ackedAt != nil { try syncLog() }
        if audited != nil { publish(events: nil, audit: audited) }
        return alert
    }

    /// Raises every unacknowledged alert whose acknowledgement time has run out to the
    /// level it is due, queueing its sinks for that level in the same transaction.
    /// Returns the alerts that went up, at their new level.
    public func escalateDue(now: Timestamp, settings: AlertSettings, ackSeconds: (String) -> Double) throws -> [Alert] {
        // Runs every tick: look with a read first, and take the write lock (which the event
        // writer needs) only when some alert is due.
        // Only those below the top level can be due: the rest, however many, are not read
        // (alerts_escalating). Sorted here, oldest first: an ORDER BY would have SQLite walk
        // every unacknowledged alert in raise order instead.
        let below = try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM alerts WHERE acked_at IS NULL AND level < ?", arguments: [settings.maxLevel]
            ).map(Self.alert)
        }.sorted { ($0.raisedAt.microseconds, $0.seq) < ($1.raisedAt.microseconds, $1.seq) }
        let due = below.filter { alert in
            Escalation.level(
                raisedAt: alert.raisedAt, now: now, ackSeconds: ackSeconds(alert.route), maxLevel: settings.maxLevel)
                > alert.level
        }
        guard !due.isEmpty else { return [] }
        try checkWritable()
        return try pool.write { db in
            var raised: [Alert] = []
            for var alert in due {
                // One step at a time: each level is pushed and delivered to its sinks. An
                // alert acknowledged or raised since the read above is left alone.
                try db.execute(
                    sql: "UPDATE alerts SET level = level + 1 WHERE alert_id = ? AND level = ? AND acked_at IS NULL",
                    arguments: [alert.id, alert.level])
                guard db.changesCount == 1 else { continue }
                alert.level += 1
                try enqueueDeliveries(of: alert, sinks: settings.sinks(forLevel: alert.level), now: now, db)
                raised.append(alert)
            }
            return raised
        }
    }

    /// Queues `alert` for each of `sinks` at its current level (inside the caller's transaction).
    func enqueueDeliveries(of alert: Alert, sinks: [AlertSink], now: Timestamp, _ db: Database) throws {
        guard !sinks.isEmpty else { return }
        let payload = JSONWriter.string(alert.json)
        let statement = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO alert_outbox (alert_id, level, sink, payload, next_attempt_at)
                VALUES (?, ?, ?, ?, ?)
                """)
        for sink in sinks {
            try statement.execute(arguments: [alert.id, alert.level, sink.name, payload, now.microseconds])
        }
    }

    /// A queued delivery of one alert level to one sink.
    public struct Delivery: Sendable, Equatable {
        public var id: Int64
        public var alertID: String
        public var level: Int
        public var sink: String
        public var payload: JSONValue
        public var attempts: Int
    }

    /// Deliveries due by `now`, oldest first.
    public func dueDeliveries(now: Timestamp, limit: Int = 100) throws -> [Delivery] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, alert_id, level, sink, payload, attempts FROM alert_outbox
                    WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?
                    """,
                arguments: [now.microseconds, limit]
            ).map { row in
                Delivery(
                    id: row["id"], alertID: row["alert_id"], level: row["level"], sink: row["sink"],
                    payload: (try? JSONParser.parse(Array((row["payload"] as String).utf8))) ?? .null,
                    attempts: row["attempts"])
            }
        }
    }

    /// When the next queued delivery is due, if any.
    public func nextDeliveryDue() throws -> Timestamp? {
        try pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT MIN(next_attempt_at) FROM alert_outbox WHERE delivered_at IS NULL")
                .map(Timestamp.init(microseconds:))
        }
    }

    public func markDelivered(_ id: Int64, at now: Timestamp) throws {
        try checkWritable()
        try pool.write { db in
            try db.execute(
                sql: "UPDATE alert_outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
                arguments: [now.microseconds, id])
        }
    }

    public func markFailed(_ id: Int64, error: String, retryAt: Timestamp) throws {
        try checkWritable()
        try pool.write { db in
            try db.execute(
                sql: "UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                arguments: [String(error.prefix(500)), retryAt.microseconds, id])
        }
    }

    /// The outbox as it stands, for tests and `stats`.
    public func outboxCounts() throws -> (pending: Int, delivered: Int) {
        try pool.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM alert_outbox WHERE delivered_at IS NULL") ?? 0,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM alert_outbox WHERE delivered_at IS NOT NULL") ?? 0
            )
        }
    }
}
