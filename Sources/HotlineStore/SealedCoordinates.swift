import Foundation
import GRDB
import HotlineCore

/// Coordinates sealed in rows an older hotlined wrote in the clear (issue 13).
///
/// Before `v6-sealed-coordinates`, a `call.update` that set a location kept its latitude and
/// longitude in the event's `body`, in plaintext, though its description was sealed. The
/// migration rewrites each such row as hotlined writes it now: the body says only that a
/// location was set (`"location": true`), and the coordinates join the sealed free text
/// (`location_lat`, `location_lon`).
///
/// The chain is recomputed from the first row rewritten: a digest kept over the old content
/// would let anyone with the file find the coordinates by trying every plausible pair
/// against it (every other field of the row is known), and so would the hash chained on it.
/// The rewrite is itself recorded, in the same transaction, as an audit entry
/// (`chain.reseal`: how many events, from which `seq`, the heads before and after) and in
/// the journal, so that anchors taken before the upgrade can be tied to the head it
/// replaced (docs/SECURITY.md).
enum SealedCoordinates {
    /// The body and free text that a row with `body` and (opened) `freeText` has once its
    /// location is sealed; nil when its body sets no location the old way.
    static func upgrade(body: String, freeText: JSONValue?) -> (body: String, freeText: JSONValue?)? {
        guard case .object(var event)? = try? JSONParser.parse(Array(body.utf8)), event["op"] == "call.update",
            case .object(var set)? = event["set"], case .object(let location)? = set["location"]
        else { return nil }
        set["location"] = true
        event["set"] = .object(set)
        var free = freeText?.objectValue ?? [:]
        for (old, new) in [("lat", "location_lat"), ("lon", "location_lon")] {
            switch location[old] {
            case .double(let d)?: free[new] = .double(d)
            case .int(let i)?: free[new] = .double(Double(i))
            default: break
            }
        }
        // As a new event without free text is written: no ciphertext at all.
        return (JSONWriter.string(.object(event)), free.isEmpty ? nil : .object(free))
    }

    /// What the migration did, for the journal.
    struct Outcome: Sendable {
        var events = 0
        var headBefore = Chain.Head.empty
        var headAfter = Chain.Head.empty
        /// The first row, from the first rewritten on, that did not hold to the chain as it
        /// stood: tampering from before the upgrade, which the new chain would otherwise hide.
        var firstBadSeq: Int64?
    }

    /// Seals the coordinates of every row written in the clear and chains the log again from
    /// the first of them; records it in the audit log.
    static func migrate(_ db: Database, keys: KeyRing, at now: Timestamp) throws -> Outcome {
        var outcome = Outcome()
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT * FROM events
                WHERE op = 'call.update' AND purged_by IS NULL AND body LIKE '%"location":{%' ORDER BY seq
                """)
        var rewritten: [Int64: (body: String, secret: Data?)] = [:]
        for row in rows {
            let seq: Int64 = row["seq"]
            let callID: String = row["call_id"]
            let context = "\(callID)/event/\(seq)"
            let freeText: JSONValue?
            do {
                freeText = try (row["secret"] as Data?).map { try keys.openJSON($0, context: context) }
            } catch {
                throw KeyRing.Failure(
                    description:
                        "cannot seal the coordinates of event \(seq): its ciphertext does not open with the configured keys (\(error)); if a key was removed from the key file, put it back (as an older line) and start again"
                )
            }
            guard let upgraded = upgrade(body: row["body"], freeText: freeText) else { continue }
            rewritten[seq] = (upgraded.body, try upgraded.freeText.map { try keys.sealJSON($0, context: context) })
        }
        guard let first = rewritten.keys.min() else { return outcome }
        outcome.events = rewritten.count
        outcome.headBefore = try CallStore.lastEvent(db, keyed: false)

        // Every row from the first rewritten one is chained again: the rewritten ones with
        // their new content, the others (purged ones included) with the digest they have.
        var previous =
            try Data.fetchOne(db, sql: "SELECT hash FROM events WHERE seq = ?", arguments: [first - 1])
            ?? Chain.genesis
        // Chaining again must not launder what was there: each row is first held to the
        // chain as it stands (its content to its digest, its hash to the one before), and
        // the first that does not hold is recorded with the rewrite.
        var previousStored = previous
        var expectedSeq = first
        let update = try db.makeStatement(sql: "UPDATE events SET body = ?, secret = ?, digest = ?, hash = ? WHERE seq = ?")
        let rechain = try db.makeStatement(sql: "UPDATE events SET hash = ? WHERE seq = ?")
        let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM events WHERE seq >= ? ORDER BY seq", arguments: [first])
        var pending: [(Int64, Data, (String, Data?, Data)?)] = []
        while let row = try cursor.next() {
            let seq: Int64 = row["seq"]
            let storedDigest = row["digest"] as Data? ?? Data()
            let contentHolds =
                row["purged_by"] as Int64? != nil
                || CallStore.eventContent(row, identityCommitment: row["identity_commitment"]).digest == storedDigest
            if outcome.firstBadSeq == nil,
                seq != expectedSeq || !contentHolds || Chain.link(previousStored, storedDigest) != row["hash"] as Data?
            {
                outcome.firstBadSeq = seq
            }
            previousStored = row["hash"] as Data? ?? Data()
            expectedSeq = seq + 1
            if let new = rewritten[seq] {
                var content = CallStore.eventContent(row, identityCommitment: row["identity_commitment"])
                content.body = new.body
                content.secret = new.secret
                let digest = content.digest
                previous = Chain.link(previous, digest)
                pending.append((seq, previous, (new.body, new.secret, digest)))
            } else {
                previous = Chain.link(previous, row["digest"] ?? Data())
                pending.append((seq, previous, nil))
            }
        }
        for (seq, hash, content) in pending {
            if let (body, secret, digest) = content {
                try update.execute(arguments: [body, secret, digest, hash, seq])
            } else {
                try rechain.execute(arguments: [hash, seq])
            }
        }
        outcome.headAfter = try CallStore.lastEvent(db, keyed: false)

        // The rewrite is on the audit chain, in this transaction.
        let tail = try CallStore.lastAudit(db, keyed: false)
        var detail: [String: JSONValue] = [
            "events": .int(Int64(outcome.events)), "from_seq": .int(first),
            "head_before": .string(outcome.headBefore.description), "head_after": .string(outcome.headAfter.description),
            "intact_before": .bool(outcome.firstBadSeq == nil), "result": "ok",
        ]
        if let bad = outcome.firstBadSeq { detail["first_bad_seq"] = .int(bad) }
        let content = Chain.AuditContent(
            seq: tail.seq + 1, at: now.microseconds, uid: Int64(getuid()), pid: Int64(getpid()), role: nil,
            op: AuditOp.chainReseal, detail: JSONWriter.string(.object(detail)))
        _ = try CallStore.insertAudit(content, after: tail, keys: nil, db)
        return outcome
    }
}
