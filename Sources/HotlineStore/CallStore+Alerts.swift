import Foundation
import GRDB
import HotlineCore
import Synchronization

/// Alerts after they are raised: acknowledgement, re-escalation and the sink outbox.
extension CallStore {
    /// Every alert not yet acknowledged, oldest first.
    public func unacknowledgedAlerts() throws -> [Alert] {
        try pool.read { db in
            try Self.decodeRows(db, sql: "SELECT * FROM alerts WHERE acked_at IS NULL ORDER BY raised_at, seq", Self.alert)
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
    ///
    /// Acknowledgements commit one at a time, each with an `acked_at` later than every one
    /// before it (`at`, or a microsecond after the last if the clock stepped back), so a
    /// backlog counted at some moment can tell the alerts acknowledged after it by their
    /// `acked_at` alone (``alertBacklog()``).
    public func acknowledgeAlert(id: String, by peer: Peer, at requested: Timestamp) throws -> Alert? {
        let (alert, audited) = try lastAcknowledgement.withLock { last throws -> (Alert?, Chain.Head?) in
            let previous = try last ?? latestAcknowledgement()
            let now = Timestamp(microseconds: max(requested.microseconds, previous + 1))
            let outcome = try writeRestoringHeads { db -> (Alert?, Chain.Head?) in
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
                        "alert_id": .string(alert.id), "call_ids": [.string(alert.callID)],
                        "level": .int(Int64(alert.level)), "result": "ok",
                    ])
                return (alert, try appendAudit(entry, db))
            }
            last = outcome.1 != nil ? now.microseconds : previous
            return outcome
        }
        // A resent ack is answered from the row; that row too must be on disk first (the
        // first ack's sync may still be under way, or may have failed).
        if alert?.ackedAt != nil { try syncLog() }
        if audited != nil { publish(events: nil, audit: audited) }
        return alert
    }

    /// The latest `acked_at` in the file, `Int64.min` for none (a scan: read once, then
    /// kept up to date).
    private func latestAcknowledgement() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(acked_at) FROM alerts") } ?? .min
    }

    /// LogCounts the backlog (a COUNT over the unacknowledged alerts' index, nothing read).
    public func alertBacklog() throws -> AlertBacklog {
        // Under the acknowledgements' lock, so that none commits between reading the
        // horizon and counting.
        try lastAcknowledgement.withLock { last throws -> AlertBacklog in
            let horizon = try last ?? latestAcknowledgement()
            last = horizon
            return try pool.read { db in
                AlertBacklog(
                    count: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM alerts WHERE acked_at IS NULL") ?? 0,
                    lastSeq: try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") ?? 0,
                    ackHorizon: horizon)
            }
        }
    }

    /// The next at most `limit` alerts of `backlog` after `last` (nil: from the start),
    /// oldest first (by `raised_at`, then `seq`, then id): keyset pagination, so a page
    /// costs the same however far in, and alerts raised or acknowledged meanwhile neither
    /// shift nor repeat anything.
    public func alertBacklogPage(_ backlog: AlertBacklog, after last: Alert?, limit: Int) throws -> [Alert] {
        guard limit > 0 else { return [] }
        var after = ""
        var arguments: StatementArguments = [backlog.lastSeq]
        if let last {
            // The row value is the order; `raised_at >= ?` lets SQLite start in the index.
            after = " AND raised_at >= ? AND (raised_at, seq, alert_id) > (?, ?, ?)"
            arguments += [last.raisedAt.microseconds, last.raisedAt.microseconds, last.seq, last.id]
        }
        let order = " ORDER BY raised_at, seq, alert_id LIMIT \(limit)"
        return try pool.read { db in
            let unacknowledged = try Self.decodeRows(
                db, sql: "SELECT * FROM alerts WHERE acked_at IS NULL AND seq <= ?" + after + order, arguments: arguments, Self.alert)
            // Read after the snapshot above began, under the lock: an acknowledgement that
            // snapshot saw has set it by now. Only then are the acknowledged ones looked
            // for (acked_at has no index: a scan, paid only while acknowledgements arrive).
            let acknowledgedSince = lastAcknowledgement.withLock { $0 } != backlog.ackHorizon
            guard acknowledgedSince else { return unacknowledged }
            let acknowledged = try Self.decodeRows(
                db, sql: "SELECT * FROM alerts WHERE acked_at > ? AND seq <= ?" + after + order,
                arguments: [backlog.ackHorizon] + arguments, Self.alert)
            return Array((unacknowledged + acknowledged).sorted(by: AlertBacklog.order).prefix(limit))
        }
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
            // From a cursor (``CallStore/decodeRows(_:sql:arguments:_:)``): ten times a second,
            // over a backlog that may be thousands long.
            try Self.decodeRows(
                db, sql: "SELECT * FROM alerts WHERE acked_at IS NULL AND level < ?", arguments: [settings.maxLevel], Self.alert)
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

    /// Deliveries due by `now`, oldest first, leaving out those to `excludingSinks` (busy
    /// ones) and `excludingIDs` (under way).
    public func dueDeliveries(
        now: Timestamp, limit: Int = 100, excludingSinks: [String] = [], excludingIDs: Set<Int64> = []
    ) throws -> [AlertDelivery] {
        let sinks = excludingSinks.isEmpty ? "" : " AND sink NOT IN (\(databaseQuestionMarks(count: excludingSinks.count)))"
        let ids = excludingIDs.isEmpty ? "" : " AND id NOT IN (\(databaseQuestionMarks(count: excludingIDs.count)))"
        var arguments: StatementArguments = [now.microseconds]
        arguments += StatementArguments(excludingSinks)
        arguments += StatementArguments(Array(excludingIDs))
        arguments += [limit]
        return try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, alert_id, level, sink, payload, attempts FROM alert_outbox
                    WHERE delivered_at IS NULL AND next_attempt_at <= ?\(sinks)\(ids)
                    ORDER BY next_attempt_at, id LIMIT ?
                    """,
                arguments: arguments
            ).map { row in
                AlertDelivery(
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
