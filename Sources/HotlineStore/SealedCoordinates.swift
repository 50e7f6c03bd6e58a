import Foundation
import GRDB
import HotlineCore

/// Coordinates sealed in rows an older hotlined wrote in the clear (issue 13).
///
/// Before `v6-sealed-coordinates`, a `call.update` that set a location kept its latitude and
/// longitude in the event's `body`, in plaintext, though its description was sealed. The
/// migration rewrites each such row as hotlined writes it now: the body says only that a
/// location was set (`"location": true`), and the coordinates join the sealed free text
/// (`location_lat`, `location_lon`). The row's `digest` and `hash` are not touched, so the
/// chain, and every anchor published before, still hold: the row's original body and
/// ciphertext are kept, sealed, in `sealed_original`, and `verify` (with the key) opens them,
/// checks the digest against them, and checks that the row now says what they said.
enum SealedCoordinates {
    /// The body and free text that a row with `body` and (opened) `freeText` has once its
    /// location is sealed; nil when its body sets no location the old way.
    static func upgrade(body: String, freeText: JSONValue?) -> (body: String, freeText: JSONValue)? {
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
        return (JSONWriter.string(.object(event)), .object(free))
    }

    static func eventContext(callID: String, seq: Int64) -> String { "\(callID)/event/\(seq)" }
    static func originalContext(callID: String, seq: Int64) -> String { "\(callID)/event/\(seq)/original" }

    /// Seals the coordinates of every row written in the clear; returns how many rows.
    static func migrate(_ db: Database, keys: KeyRing) throws -> Int {
        try db.execute(sql: "ALTER TABLE events ADD COLUMN sealed_original BLOB")
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT seq, call_id, body, secret FROM events
                WHERE op = 'call.update' AND purged_by IS NULL AND body LIKE '%"location":{%'
                """)
        let update = try db.makeStatement(sql: "UPDATE events SET body = ?, secret = ?, sealed_original = ? WHERE seq = ?")
        var count = 0
        for row in rows {
            let seq: Int64 = row["seq"]
            let callID: String = row["call_id"]
            let body: String = row["body"]
            let secret: Data? = row["secret"]
            let context = eventContext(callID: callID, seq: seq)
            let freeText = try secret.map { try keys.openJSON($0, context: context) }
            guard let upgraded = upgrade(body: body, freeText: freeText) else { continue }
            let original: JSONValue = ["body": .string(body), "secret": .optional(secret?.base64EncodedString())]
            try update.execute(arguments: [
                upgraded.body, try keys.sealJSON(upgraded.freeText, context: context),
                try keys.sealJSON(original, context: originalContext(callID: callID, seq: seq)), seq,
            ])
            count += 1
        }
        return count
    }

    /// What `verify` finds of a row the migration rewrote: the content its digest stands for
    /// (the original body and ciphertext), or a problem. Needs the key.
    static func original(of row: Row, keys: KeyRing) -> (body: String, secret: Data?)? {
        let seq: Int64 = row["seq"]
        let callID: String = row["call_id"]
        guard let sealed: Data = row["sealed_original"],
            let original = try? keys.openJSON(sealed, context: originalContext(callID: callID, seq: seq)),
            let body = original["body"]?.stringValue
        else { return nil }
        var secret: Data? = nil
        if let text = original["secret"]?.stringValue {
            guard let data = Data(base64Encoded: text) else { return nil }
            secret = data
        }
        // The row must say now what its original said.
        let context = eventContext(callID: callID, seq: seq)
        var then: JSONValue? = nil
        if let secret {
            guard let opened = try? keys.openJSON(secret, context: context) else { return nil }
            then = opened
        }
        guard let current: Data = row["secret"], let now = try? keys.openJSON(current, context: context),
            let upgraded = upgrade(body: body, freeText: then),
            upgraded.body == row["body"] as String, upgraded.freeText == now
        else { return nil }
        return (body, secret)
    }
}
