import Foundation
import HotlineCore
import HotlineStore
import PostgresNIO

/// Alerts after they are raised, and the audit log, on PostgreSQL. What appends to the audit
/// chain takes the writers' advisory lock, as a batch does, so that the chain stays one
/// chain whichever daemon or thread extends it; acknowledgements, under the same lock, are
/// ordered by `acked_at` across every daemon.
extension PostgresLog {
    /// Runs `body` in a read-committed transaction on a session of its own (not the
    /// writer's). Two daemons take rows in the same order (escalation sorts by id last), so
    /// they never deadlock on them.
    func writing<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        try reading { session in
            try session.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            let result: T
            do {
                result = try body(session)
            } catch {
                try? session.execute("ROLLBACK")
                throw error
            }
            do {
                try session.execute("COMMIT")
            } catch {
                // Refused: rolled back, nothing done. Cut off (the connection lost, the
                // deadline): it may have committed, which only a retry can tell.
                if Self.isRefusal(error) { throw error }
                session.close()
                throw HotlineError(
                    .unavailable,
                    "The database connection was lost while this was being recorded, so whether it was is unknown; ask again.")
            }
            return result
        }
    }

    /// Appends `entry` to the audit log and commits it (durable once committed, with the
    /// synchronous standbys); returns it with its `seq`.
    @discardableResult
    public func audit(_ entry: AuditEntry, sync: Bool = true) throws -> AuditEntry {
        let keys = keys
        let head = try writing { session in
            try session.execute("SELECT pg_advisory_xact_lock(\(Self.writerLock))")
            return try PostgresAudit.append(entry, after: try auditEnd(session), keys: keys, session)
        }
        publish(audit: head)
        var stored = entry
        stored.seq = head.seq
        return stored
    }

    /// Records who acknowledged `id` and when, with an audit entry; an alert already
    /// acknowledged keeps its first acknowledgement. Each acknowledgement's `acked_at` is
    /// later than every one before it, whichever daemon took it (``alertBacklog()``).
    public func acknowledgeAlert(id: String, by peer: Peer, at requested: Timestamp) throws -> Alert? {
        let keys = keys
        let (alert, audited) = try writing { session -> (Alert?, Chain.Head?) in
            try session.execute("SELECT pg_advisory_xact_lock(\(Self.writerLock))")
            // A write, so that even a resent acknowledgement (which changes nothing) commits
            // only once the standbys have what it answers from.
            try Self.markCommit(session)
            let latest = try session.row("SELECT MAX(acked_at) AS latest FROM alerts").flatMap { try $0["latest"].decode(Int64?.self) }
            let now = Timestamp(microseconds: max(requested.microseconds, (latest ?? .min) + 1))
            let acked =
                try session.rows(
                    """
                    UPDATE alerts SET acked_at = \(now.microseconds), acked_by = \(Int64(peer.uid))
                    WHERE alert_id = \(id) AND acked_at IS NULL RETURNING alert_id
                    """
                ).count == 1
            guard let alert = try session.row("SELECT * FROM alerts WHERE alert_id = \(id)").map(Self.alert) else {
                return (nil, nil)
            }
            guard acked else { return (alert, nil) }
            let entry = AuditEntry(
                peer: peer, op: "alert.ack", at: now,
                detail: [
                    "alert_id": .string(alert.id), "call_ids": [.string(alert.callID)], "level": .int(Int64(alert.level)),
                    "result": "ok",
                ])
            return (alert, try PostgresAudit.append(entry, after: try auditEnd(session), keys: keys, session))
        }
        if let audited { publish(audit: audited) }
        return alert
    }

    /// The backlog: the alerts not acknowledged, counted in one snapshot with the last
    /// event and the latest acknowledgement.
    public func alertBacklog() throws -> AlertBacklog {
        try reading { session in
            guard
                let r = try session.row(
                    """
                    SELECT (SELECT count(*) FROM alerts WHERE acked_at IS NULL) AS count,
                        (SELECT COALESCE(MAX(seq), 0) FROM events) AS last_seq,
                        (SELECT MAX(acked_at) FROM alerts) AS horizon
                    """)
            else { return AlertBacklog(count: 0, lastSeq: 0, ackHorizon: .min) }
            return AlertBacklog(
                count: Int(try r["count"].decode(Int64.self)), lastSeq: try r["last_seq"].decode(Int64.self),
                ackHorizon: try r["horizon"].decode(Int64?.self) ?? .min)
        }
    }

    /// The next at most `limit` alerts of `backlog` after `last`, oldest first (by
    /// `raised_at`, then `seq`, then id): those raised by its last event and not
    /// acknowledged when it was counted.
    public func alertBacklogPage(_ backlog: AlertBacklog, after last: Alert?, limit: Int) throws -> [Alert] {
        guard limit > 0 else { return [] }
        let (raisedAt, seq, id) = last.map { ($0.raisedAt.microseconds, $0.seq, $0.id) } ?? (Int64.min, Int64.min, "")
        return try reading { session in
            try session.rows(
                """
                SELECT * FROM alerts WHERE (acked_at IS NULL OR acked_at > \(backlog.ackHorizon)) AND seq <= \(backlog.lastSeq)
                  AND (raised_at, seq, alert_id) > (\(raisedAt), \(seq), \(id))
                ORDER BY raised_at, seq, alert_id LIMIT \(Int64(limit))
                """
            ).map { try Self.alert($0.makeRandomAccess()) }
        }
    }

    /// Raises every unacknowledged alert whose acknowledgement time has run out one level,
    /// queueing its sinks for that level in the same transaction; the alerts that went up.
    /// Two daemons doing it at once raise each level once: the update is conditional on the
    /// level it read.
    public func escalateDue(now: Timestamp, settings: AlertSettings, ackSeconds: (String) -> Double) throws -> [Alert] {
        let below = try reading { session in
            try session.rows("SELECT * FROM alerts WHERE acked_at IS NULL AND level < \(settings.maxLevel)")
                .map { try Self.alert($0.makeRandomAccess()) }
        }.sorted { ($0.raisedAt.microseconds, $0.seq, $0.id) < ($1.raisedAt.microseconds, $1.seq, $1.id) }
        let due = below.filter { alert in
            Escalation.level(raisedAt: alert.raisedAt, now: now, ackSeconds: ackSeconds(alert.route), maxLevel: settings.maxLevel)
                > alert.level
        }
        guard !due.isEmpty else { return [] }
        return try writing { session in
            // Under the writers' lock: a purge deleting the call's alerts and deliveries must
            // not find one queued between its deletes.
            try session.execute("SELECT pg_advisory_xact_lock(\(Self.writerLock))")
            var raised: [Alert] = []
            for var alert in due {
                let changed = try session.rows(
                    """
                    UPDATE alerts SET level = level + 1
                    WHERE alert_id = \(alert.id) AND level = \(alert.level) AND acked_at IS NULL RETURNING alert_id
                    """
                ).count
                guard changed == 1 else { continue }
                alert.level += 1
                try PostgresEventRows.enqueue(alert, sinks: settings.sinks(forLevel: alert.level), now: now, session)
                raised.append(alert)
            }
            try notify(raised, session)
            return raised
        }
    }

    /// Deliveries due by `now`, oldest first, leaving out those to `excludingSinks` and
    /// `excludingIDs`.
    public func dueDeliveries(now: Timestamp, limit: Int, excludingSinks: [String], excludingIDs: Set<Int64>) throws
        -> [AlertDelivery]
    {
        try reading { session in
            try session.rows(
                """
                SELECT id, alert_id, level, sink, payload, attempts FROM alert_outbox
                WHERE delivered_at IS NULL AND next_attempt_at <= \(now.microseconds)
                  AND NOT (sink = ANY(\(excludingSinks))) AND NOT (id = ANY(\(Array(excludingIDs))))
                ORDER BY next_attempt_at, id LIMIT \(Int64(limit))
                """
            ).map { try Self.delivery($0.makeRandomAccess()) }
        }
    }

    /// The deliveries due, claimed for this daemon for `seconds` (their next attempt moved
    /// past the claim): another daemon that took the lead meanwhile (this one cut off, or
    /// killed mid-delivery) is given them only once the claim has run out. Rows another
    /// daemon is claiming at this moment are skipped, not waited for.
    public func claimDeliveries(now: Timestamp, limit: Int, excludingSinks: [String], excludingIDs: Set<Int64>, for seconds: Double)
        throws -> [AlertDelivery]
    {
        let until = now.adding(seconds: seconds).microseconds
        return try reading { session in
            try session.rows(
                """
                UPDATE alert_outbox SET next_attempt_at = \(until) WHERE id IN (
                    SELECT id FROM alert_outbox
                    WHERE delivered_at IS NULL AND next_attempt_at <= \(now.microseconds)
                      AND NOT (sink = ANY(\(excludingSinks))) AND NOT (id = ANY(\(Array(excludingIDs))))
                    ORDER BY next_attempt_at, id LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED)
                RETURNING id, alert_id, level, sink, payload, attempts
                """
            ).map { try Self.delivery($0.makeRandomAccess()) }.sorted { $0.id < $1.id }
        }
    }

    public func unclaimDeliveries(_ ids: [Int64], dueAt: Timestamp) throws {
        try reading { session in
            try session.execute(
                "UPDATE alert_outbox SET next_attempt_at = \(dueAt.microseconds) WHERE id = ANY(\(ids)) AND delivered_at IS NULL")
        }
    }

    static func delivery(_ r: PostgresRandomAccessRow) throws -> AlertDelivery {
        AlertDelivery(
            id: try r["id"].decode(Int64.self), alertID: try r["alert_id"].decode(String.self), level: try r["level"].decode(Int.self),
            sink: try r["sink"].decode(String.self),
            payload: (try? JSONParser.parse(Array(try r["payload"].decode(String.self).utf8))) ?? .null,
            attempts: try r["attempts"].decode(Int.self))
    }

    /// When the next queued delivery is due, if any.
    public func nextDeliveryDue() throws -> Timestamp? {
        try reading { session in
            try session.row("SELECT MIN(next_attempt_at) AS due FROM alert_outbox WHERE delivered_at IS NULL")
                .flatMap { try $0["due"].decode(Int64?.self) }.map(Timestamp.init(microseconds:))
        }
    }

    public func markDelivered(_ id: Int64, at now: Timestamp) throws {
        try reading { session in
            try session.execute(
                "UPDATE alert_outbox SET delivered_at = \(now.microseconds), attempts = attempts + 1, last_error = NULL WHERE id = \(id)")
        }
    }

    public func markFailed(_ id: Int64, error: String, retryAt: Timestamp) throws {
        try reading { session in
            try session.execute(
                """
                UPDATE alert_outbox SET attempts = attempts + 1, last_error = \(String(error.prefix(500))),
                    next_attempt_at = \(retryAt.microseconds)
                WHERE id = \(id)
                """)
        }
    }

    /// The outbox as it stands: deliveries pending and delivered.
    public func outboxCounts() throws -> (pending: Int, delivered: Int) {
        try reading { session in
            guard
                let r = try session.row(
                    """
                    SELECT count(*) FILTER (WHERE delivered_at IS NULL) AS pending,
                        count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered
                    FROM alert_outbox
                    """)
            else { return (0, 0) }
            return (Int(try r["pending"].decode(Int64.self)), Int(try r["delivered"].decode(Int64.self)))
        }
    }
}
