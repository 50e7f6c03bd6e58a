import Foundation
import GRDB
import HotlineCore

/// A row of `calls`: one call's projection as it is stored, its columns named here and
/// nowhere else in the store's reads and writes of the table. The location and the
/// caller's identity stay sealed in it: ``CallStore`` opens them only for the reads that
/// show them.
package struct CallRow: FetchableRecord, PersistableRecord {
    package static let databaseTableName = "calls"

    package enum Columns: String, ColumnExpression, CaseIterable {
        case callID = "call_id", dialled, route, routeAnonymity = "route_anonymity", routeGrade = "route_grade", grade
        case marking, anonymous, anonymousRequested = "anonymous_requested", escalated
        case threatAlertRaised = "threat_alert_raised", category, location, flags, outcome, receivedAt = "received_at"
        case answeredAt = "answered_at", endedAt = "ended_at", workstation, handler, ownerUID = "owner_uid", identity
        case firstSeq = "first_seq", lastSeq = "last_seq"
        // Issue 18 (v9-channels).
        case channel, relayKind = "relay_kind", relayReference = "relay_reference", formReference = "form_reference"
    }

    /// The columns a call's later events may change. An update writes only these, leaving
    /// the others (and their indexes) untouched: fewer pages for each commit to write.
    package static let changing: [Columns] = [
        .grade, .marking, .anonymous, .anonymousRequested, .escalated, .threatAlertRaised, .category, .location, .flags,
        .outcome, .endedAt, .answeredAt, .identity, .lastSeq, .relayKind, .relayReference,
    ]

    /// The call without its location and identity (those are the sealed columns below).
    package var state: CallState
    package var sealedLocation: Data?
    package var sealedIdentity: Data?

    package init(state: CallState, sealedLocation: Data?, sealedIdentity: Data?) {
        self.state = state
        self.sealedLocation = sealedLocation
        self.sealedIdentity = sealedIdentity
    }

    package init(row: Row) throws {
        state = Self.state(of: row)
        sealedLocation = row[Columns.location]
        sealedIdentity = row[Columns.identity]
    }

    /// The call a row holds, without its sealed columns (not even copied: the writer reads a
    /// call's row back for every event, and most events need neither).
    static func state(of row: Row) -> CallState {
        var state = CallState(
            id: row[Columns.callID], dialled: row[Columns.dialled], route: row[Columns.route],
            routeAnonymity: Anonymity(rawValue: row[Columns.routeAnonymity]) ?? .allowed,
            routeGrade: Grade(rawValue: row[Columns.routeGrade]) ?? .scheduled,
            grade: Grade(rawValue: row[Columns.grade]) ?? .scheduled,
            marking: Marking(rawValue: row[Columns.marking]) ?? .secret,
            anonymous: row[Columns.anonymous], anonymousRequested: row[Columns.anonymousRequested],
            escalated: row[Columns.escalated], threatAlertRaised: row[Columns.threatAlertRaised],
            category: row[Columns.category], flags: [:], outcome: row[Columns.outcome],
            receivedAt: Timestamp(microseconds: row[Columns.receivedAt]),
            answeredAt: (row[Columns.answeredAt] as Int64?).map(Timestamp.init(microseconds:)),
            endedAt: (row[Columns.endedAt] as Int64?).map(Timestamp.init(microseconds:)),
            workstation: row[Columns.workstation], handler: row[Columns.handler],
            ownerUID: UInt32(truncatingIfNeeded: row[Columns.ownerUID] as Int64),
            firstSeq: row[Columns.firstSeq], lastSeq: row[Columns.lastSeq])
        state.flags = flags(fromColumn: row[Columns.flags])
        state.channel = CallChannel(rawValue: row[Columns.channel]) ?? .voice
        state.relay = relay(kind: row[Columns.relayKind], reference: row[Columns.relayReference])
        state.formReference = row[Columns.formReference]
        return state
    }

    /// The relay the `relay_kind` and `relay_reference` columns hold (none without a kind).
    package static func relay(kind: String?, reference: String?) -> Relay? {
        kind.flatMap(RelayKind.init(rawValue:)).map { Relay(kind: $0, reference: reference) }
    }

    /// The `flags` column of a call: its flags as a JSON object, as every engine stores it.
    package static func flagsColumn(_ s: CallState) -> String { JSONWriter.string(.object(s.flags.mapValues(JSONValue.bool))) }

    /// The flags a `flags` column holds (none when it is not a JSON object).
    package static func flags(fromColumn text: String) -> [String: Bool] {
        (try? JSONParser.parse(Array(text.utf8)).objectValue)?.compactMapValues(\.boolValue) ?? [:]
    }

    /// The value stored in `column`.
    func value(of column: Columns) -> (any DatabaseValueConvertible)? {
        let s = state
        switch column {
        case .callID: return s.id
        case .dialled: return s.dialled
        case .route: return s.route
        case .routeAnonymity: return s.routeAnonymity.rawValue
        case .routeGrade: return s.routeGrade.rawValue
        case .grade: return s.grade.rawValue
        case .marking: return s.marking.rawValue
        case .anonymous: return s.anonymous
        case .anonymousRequested: return s.anonymousRequested
        case .escalated: return s.escalated
        case .threatAlertRaised: return s.threatAlertRaised
        case .category: return s.category
        case .location: return sealedLocation
        case .flags: return Self.flagsColumn(s)
        case .outcome: return s.outcome
        case .receivedAt: return s.receivedAt.microseconds
        case .answeredAt: return s.answeredAt?.microseconds
        case .endedAt: return s.endedAt?.microseconds
        case .workstation: return s.workstation
        case .handler: return s.handler
        case .ownerUID: return Int64(s.ownerUID)
        case .identity: return sealedIdentity
        case .firstSeq: return s.firstSeq
        case .lastSeq: return s.lastSeq
        case .channel: return s.channel.rawValue
        case .relayKind: return s.relay?.kind.rawValue
        case .relayReference: return s.relay?.reference
        case .formReference: return s.formReference
        }
    }

    package func encode(to container: inout PersistenceContainer) throws {
        for column in Columns.allCases { container[column] = value(of: column) }
    }

    // The writer's statements, made from the columns above once. It writes a projection with
    // every event, so through cached statements and positional arguments: GRDB's record
    // insert and update (a container of named values per row) cost the 64-connection
    // benchmark 12% of its throughput (docs/PERFORMANCE.md, issue 14).

    static let insertSQL =
        "INSERT INTO calls (\(Columns.allCases.map(\.rawValue).joined(separator: ", ")))"
        + " VALUES (\(databaseQuestionMarks(count: Columns.allCases.count)))"

    static let updateSQL =
        "UPDATE calls SET \(changing.map { "\($0.rawValue) = ?" }.joined(separator: ", ")) WHERE \(Columns.callID.rawValue) = ?"

    /// Inserts this row (a call's first event).
    func insertRow(_ db: Database) throws {
        try db.cachedStatement(sql: Self.insertSQL).execute(arguments: StatementArguments(Columns.allCases.map(value(of:))))
    }

    /// Writes the columns a later event may change (``changing``).
    func updateChanging(_ db: Database) throws {
        try db.cachedStatement(sql: Self.updateSQL).execute(
            arguments: StatementArguments((Self.changing + [.callID]).map(value(of:))))
    }
}
