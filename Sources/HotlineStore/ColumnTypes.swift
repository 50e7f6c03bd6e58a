import GRDB

/// The types hotlined writes in each column `verify` reads. A value of another type (text in
/// `recorded_at`, say) was put there by hand, and decoding it would stop `verify` itself
/// (GRDB treats a value it cannot convert as a programming error): so every table is first
/// checked for such rows, which are reported, and the walk is not made over a log that
/// has them.
enum ColumnTypes {
    private static let integer = ["integer"]
    private static let text = ["text"]
    private static let blob = ["blob"]
    private static let maybeInteger = ["integer", "null"]
    private static let maybeText = ["text", "null"]
    private static let maybeBlob = ["blob", "null"]

    /// Table, the column naming a row, and each column with the types it may hold.
    static let tables: [(table: String, key: String, columns: [(String, [String])])] = [
        (
            "events", "seq",
            [
                ("seq", integer), ("event_id", text), ("call_id", text), ("op", text), ("body", text),
                ("secret", maybeBlob), ("ack", text), ("recorded_at", integer), ("peer_uid", integer),
                ("peer_pid", integer), ("identity_commitment", maybeBlob), ("digest", maybeBlob), ("hash", maybeBlob),
                ("purged_by", maybeInteger), ("mac", maybeBlob),
            ]
        ),
        (
            "audit", "seq",
            [
                ("seq", integer), ("at", integer), ("uid", integer), ("pid", integer), ("role", maybeText),
                ("op", text), ("detail", text), ("digest", blob), ("hash", blob), ("mac", maybeBlob),
            ]
        ),
        ("event_identity", "seq", [("seq", integer), ("call_id", text), ("secret", blob)]),
        (
            "calls", "call_id",
            [
                ("call_id", text), ("dialled", text), ("route", text), ("route_anonymity", text), ("route_grade", text),
                ("grade", text), ("marking", text), ("anonymous", integer), ("anonymous_requested", integer),
                ("escalated", integer), ("threat_alert_raised", integer), ("category", maybeText),
                ("location", maybeBlob), ("flags", text), ("outcome", maybeText), ("received_at", integer),
                ("answered_at", maybeInteger), ("ended_at", maybeInteger), ("workstation", maybeText),
                ("handler", maybeText), ("owner_uid", integer), ("identity", maybeBlob), ("first_seq", integer),
                ("last_seq", integer), ("channel", text), ("relay_kind", maybeText), ("relay_reference", maybeText),
                ("form_reference", maybeText),
            ]
        ),
    ]

    /// The `calls` columns issue 18 added (`v9-channels`).
    static let channelColumns = Set(
        [CallRow.Columns.channel, .relayKind, .relayReference, .formReference].map(\.rawValue))

    /// A sentence for each row (up to `limit`) holding a value of a type hotlined never
    /// writes there, naming its table, row and columns.
    static func problems(_ db: Database, limit: Int = 20) throws -> [String] {
        var found: [String] = []
        for (table, key, columns) in tables {
            let present = Set(try db.columns(in: table).map { $0.name.lowercased() })
            // Every column verify reads (the keyed chain's is looked for apart). A file from
            // before issue 18 has none of its columns, and verifies as it did then.
            let beforeChannels = table == "calls" && present.isDisjoint(with: Self.channelColumns)
            let missing = columns.map(\.0).filter {
                $0 != "mac" && !present.contains($0) && !(beforeChannels && Self.channelColumns.contains($0))
            }
            if !missing.isEmpty {
                found.append(
                    "table \(table) has no column \(missing.joined(separator: ", ")): its schema was changed by hand, not by hotlined")
                continue
            }
            let checks = columns.filter { present.contains($0.0) }.map { column, types in
                "(CASE WHEN typeof(\(column)) NOT IN (\(types.map { "'\($0)'" }.joined(separator: ","))) THEN '\(column) ' ELSE '' END)"
            }
            let sql = """
                SELECT * FROM (SELECT CAST(\(key) AS TEXT) AS row_key, \(checks.joined(separator: " || ")) AS bad FROM \(table))
                WHERE bad != '' LIMIT \(limit - found.count)
                """
            for row in try Row.fetchAll(db, sql: sql) {
                let bad = (row["bad"] as String? ?? "").split(separator: " ").joined(separator: ", ")
                found.append(
                    "\(table) row \(row["row_key"] as String? ?? "?") holds a value of the wrong type in \(bad): written by hand, not by hotlined"
                )
            }
            if found.count >= limit { break }
        }
        return found
    }
}
