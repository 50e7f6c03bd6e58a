import Foundation
import GRDB
import HotlineCore

/// A row of `calls`: one call's projection as it is stored, its columns named here and
/// nowhere else in the store's reads and writes of the table. The location and the
/// caller's identity stay sealed in it: ``CallStore`` opens them only for the reads that
/// show them.
struct CallRow: FetchableRecord, PersistableRecord {
    static let databaseTableName = "calls"

    enum Columns: String, ColumnExpression, CaseIterable {
        case callID = "call_id", dialled, route, routeAnonymity = "route_anonymity", routeGrade = "route_grade", grade
        case marking, anonymous, anonymousRequested = "anonymous_requested", escalated
        case threatAlertRaised = "threat_alert_raised", category, location, flags, outcome, receivedAt = "received_at"
        case answeredAt = "answered_at", endedAt = "ended_at", workstation, handler, ownerUID = "owner_uid", identity
        case firstSeq = "first_seq", lastSeq = "last_seq"
    }

    /// The columns a call's later events may change. An update writes only these, leaving
    /// the others (and their indexes) untouched: fewer pages for each commit to write.
    static let changing: [Columns] = [
        .grade, .marking, .anonymous, .anonymousRequested, .escalated, .threatAlertRaised, .category, .location, .flags,
        .outcome, .endedAt, .identity, .lastSeq,
    ]

    /// The call without its location and identity (those are the sealed columns below).
    var state: CallState
    var sealedLocation: Data?
    var sealedIdentity: Data?

    init(state: CallState, sealedLocation: Data?, sealedIdentity: Data?) {
        self.state = state
        self.sealedLocation = sealedLocation
        self.sealedIdentity = sealedIdentity
    }

    init(row: Row) throws {
        state = CallState(
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
        if let flags = try? JSONParser.parse(Array((row[Columns.flags] as String).utf8)).objectValue {
            state.flags = flags.compactMapValues(\.boolValue)
        }
        sealedLocation = row[Columns.location]
        sealedIdentity = row[Columns.identity]
    }

    func encode(to container: inout PersistenceContainer) throws {
        let s = state
        container[Columns.callID] = s.id
        container[Columns.dialled] = s.dialled
        container[Columns.route] = s.route
        container[Columns.routeAnonymity] = s.routeAnonymity.rawValue
        container[Columns.routeGrade] = s.routeGrade.rawValue
        container[Columns.grade] = s.grade.rawValue
        container[Columns.marking] = s.marking.rawValue
        container[Columns.anonymous] = s.anonymous
        container[Columns.anonymousRequested] = s.anonymousRequested
        container[Columns.escalated] = s.escalated
        container[Columns.threatAlertRaised] = s.threatAlertRaised
        container[Columns.category] = s.category
        container[Columns.location] = sealedLocation
        container[Columns.flags] = JSONWriter.string(.object(s.flags.mapValues(JSONValue.bool)))
        container[Columns.outcome] = s.outcome
        container[Columns.receivedAt] = s.receivedAt.microseconds
        container[Columns.answeredAt] = s.answeredAt?.microseconds
        container[Columns.endedAt] = s.endedAt?.microseconds
        container[Columns.workstation] = s.workstation
        container[Columns.handler] = s.handler
        container[Columns.ownerUID] = Int64(s.ownerUID)
        container[Columns.identity] = sealedIdentity
        container[Columns.firstSeq] = s.firstSeq
        container[Columns.lastSeq] = s.lastSeq
    }
}
