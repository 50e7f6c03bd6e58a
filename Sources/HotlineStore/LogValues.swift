import Foundation
import HotlineCore

// The values the storage seam (CallLog) speaks in, beside HotlineCore's domain types:
// whatever engine stores the log answers with these.

/// What a new subscriber is owed (PROTOCOL.md section 7): every alert unacknowledged
/// at the moment this counts them. They are read later, a page at a time
/// (``alertBacklogPage(_:after:limit:)``), and each page finds exactly those members
/// of the backlog that it covers, whatever happened since: an alert raised since has a
/// later `seq` than `lastSeq`; one acknowledged since, a later `acked_at` than
/// `ackHorizon` (it is still sent, acknowledged: it was owed).
public struct AlertBacklog: Sendable, Equatable {
    /// How many alerts the backlog holds.
    public var count: Int
    /// The last event committed when it was counted: later alerts are not in it.
    public var lastSeq: Int64
    /// The latest `acked_at` when it was counted: alerts acknowledged later are in it.
    public var ackHorizon: Int64

    package init(count: Int, lastSeq: Int64, ackHorizon: Int64) {
        (self.count, self.lastSeq, self.ackHorizon) = (count, lastSeq, ackHorizon)
    }
}

/// A queued delivery of one alert level to one sink.
public struct AlertDelivery: Sendable, Equatable {
    public var id: Int64
    public var alertID: String
    public var level: Int
    public var sink: String
    public var payload: JSONValue
    public var attempts: Int

    package init(id: Int64, alertID: String, level: Int, sink: String, payload: JSONValue, attempts: Int) {
        (self.id, self.alertID, self.level, self.sink, self.payload, self.attempts) = (id, alertID, level, sink, payload, attempts)
    }
}

/// Where each chain ends, as far as this process has committed: the anchors `verify`
/// holds the database to, so rows deleted from the end are noticed too.
public struct ChainHeads: Sendable, Equatable {
    public var events: Chain.Head
    public var audit: Chain.Head

    public init(events: Chain.Head, audit: Chain.Head) {
        self.events = events
        self.audit = audit
    }
}

/// A page of `audit.list`.
public struct AuditPage: Sendable {
    public var entries: [AuditEntry]
    /// Set when there are more entries in the range: ask again from this time.
    public var nextFrom: Timestamp?
}

/// A page of the shift-end export: summaries (no identity, no note) of calls received
/// in `[from, to)` in the order they started, each with its alerts.
public struct ExportPage: Sendable {
    public var calls: [ExportRow]
    public var nextAfterSeq: Int64?

    package init(calls: [ExportRow], nextAfterSeq: Int64?) {
        (self.calls, self.nextAfterSeq) = (calls, nextAfterSeq)
    }
}

public struct PurgeReport: Sendable, Equatable {
    public var calls = 0
    public var events = 0
    /// The audit entries that record it, one for each transaction.
    public var auditSeqs: [Int64] = []

    public init() {}
}

/// What one committed batch produced, beyond the answers: alerts to deliver.
public struct BatchOutcome: Sendable {
    /// One result for each of the first `results.count` writes of the batch: those it
    /// applied (all of them, unless it was told to stop early).
    public var results: [Result<WriteAck, HotlineError>]
    public var alerts: [Alert]

    public init(results: [Result<WriteAck, HotlineError>], alerts: [Alert]) {
        self.results = results
        self.alerts = alerts
    }
}

/// A call with everything `call.get` answers: its state, its alerts and one page of its
/// notes.
public struct CallDetail: Sendable {
    public var state: CallState
    /// The notes of this page, oldest first.
    public var notes: [Note]
    public var alerts: [Alert]
    /// Where the next page of notes starts (pass it back as `notesAfter`); nil when no
    /// note follows this page's.
    public var notesNext: Int64?
    /// When the daemon received the call's `call.start` (its `received_at` is the
    /// workstation's word).
    public var recordedAt: Timestamp?
    /// Every change of grade and marking, the start first; on the first page of notes
    /// only (empty when `notesAfter` was given).
    public var history: [ClassificationChange]
    public var hold: LegalHold?

    package init(
        state: CallState, notes: [Note], alerts: [Alert], notesNext: Int64?, recordedAt: Timestamp?,
        history: [ClassificationChange] = [], hold: LegalHold? = nil
    ) {
        (self.state, self.notes, self.alerts, self.notesNext, self.recordedAt) = (state, notes, alerts, notesNext, recordedAt)
        (self.history, self.hold) = (history, hold)
    }
}

/// A page of `calls.list`: calls received in `[from, to)`, in the order they started.
public struct CallPage: Sendable {
    public var calls: [CallState]
    /// Where the next page starts, when there may be one.
    public var nextAfterSeq: Int64?

    package init(calls: [CallState], nextAfterSeq: Int64?) {
        (self.calls, self.nextAfterSeq) = (calls, nextAfterSeq)
    }
}

public struct LogCounts: Sendable {
    public var events: Int64
    public var calls: Int64
    public var callsOpen: Int64
    public var alertsUnacked: Int64

    public init(events: Int64, calls: Int64, callsOpen: Int64, alertsUnacked: Int64) {
        self.events = events
        self.calls = calls
        self.callsOpen = callsOpen
        self.alertsUnacked = alertsUnacked
    }
}

extension AlertBacklog {
    /// The backlog's order: oldest first (`raised_at`, then `seq`, then id).
    public static func order(_ a: Alert, _ b: Alert) -> Bool {
        (a.raisedAt.microseconds, a.seq, a.id) < (b.raisedAt.microseconds, b.seq, b.id)
    }
}

/// An event that carries a note, as a page of a call's notes reads it from any engine.
package struct NoteRow: Sendable {
    package var seq: Int64
    package var body: String
    package var secret: Data
    package var peerUID: Int64
    package var recordedAt: Int64

    package init(seq: Int64, body: String, secret: Data, peerUID: Int64, recordedAt: Int64) {
        (self.seq, self.body, self.secret, self.peerUID, self.recordedAt) = (seq, body, secret, peerUID, recordedAt)
    }

    /// One page of `state`'s notes from `rows` (at most `maxNotes` + 1 of them, oldest
    /// first: one more than the page tells whether another follows). The page ends at
    /// `maxNotes` notes, or once its notes' text reaches `maxNoteBytes` (a page always carries
    /// at least one note); `next` is where the next page starts. Only the page's notes are
    /// decrypted.
    package static func page(
        _ rows: [NoteRow], of state: CallState, keys: KeyRing, maxNotes: Int, maxNoteBytes: Int
    ) throws -> (notes: [Note], next: Int64?) {
        var notes: [Note] = []
        notes.reserveCapacity(min(rows.count, maxNotes))
        var bytes = 0
        for (i, r) in rows.enumerated() {
            if i == maxNotes || (i > 0 && bytes >= maxNoteBytes) { return (notes, rows[i - 1].seq) }
            let secret = try keys.openJSON(r.secret, context: "\(state.id)/event/\(r.seq)")
            guard let text = secret["note"]?.stringValue else { continue }
            let body = try JSONParser.parse(Array(r.body.utf8))
            let at = (try? Timestamp(rfc3339: body["at"]?.stringValue ?? "")) ?? state.receivedAt
            let uid = UInt32(truncatingIfNeeded: r.peerUID)
            let by = Note.author(handler: body["handler"]?.stringValue, workstation: body["workstation"]?.stringValue, uid: uid)
            notes.append(Note(at: at, by: by, text: text, uid: uid, recordedAt: Timestamp(microseconds: r.recordedAt)))
            bytes += text.utf8.count
        }
        return (notes, nil)
    }
}

/// An audit row as any engine reads it: its chained content.
extension Chain.AuditContent {
    /// The entry, its reason opened (and its ciphertext left out of the detail). A reason no
    /// key at hand opens (its key was retired from the key file, or the row was altered) is
    /// marked unreadable rather than hiding the rest of the log.
    package func entry(keys: KeyRing) throws -> AuditEntry {
        var detail = try JSONParser.parse(Array(self.detail.utf8)).objectValue ?? [:]
        var reason: String? = nil
        var unreadable: AuditEntry.ReasonUnreadable? = nil
        if let sealed = detail.removeValue(forKey: AuditEntry.sealedReasonKey) {
            let data = sealed.stringValue.flatMap { Data(base64Encoded: $0) }
            if let data, let opened = try? keys.open(data, context: AuditEntry.reasonContext(seq: seq)) {
                reason = String(decoding: opened, as: UTF8.self)
            } else if let data, KeyRing.keyID(of: data) != nil, !keys.canOpen(data) {
                unreadable = .keyRetired
            } else {
                unreadable = .altered
            }
        }
        return AuditEntry(
            seq: seq, at: Timestamp(microseconds: at), uid: UInt32(truncatingIfNeeded: uid), pid: Int32(truncatingIfNeeded: pid),
            role: role.flatMap(Role.init(rawValue:)), op: op, detail: detail, reason: reason, reasonUnreadable: unreadable)
    }

    /// One page of the audit log in `[from, to)`: the rows `next` gives (oldest first, by
    /// `at` then `seq`) until `limit` entries or until their details reach `maxBytes` (one
    /// caller's `calls.list` of 1,000 calls is ~40 KB of detail); one row more is read, and
    /// where it starts is where the next page does. A page never splits the entries of one
    /// microsecond: when one microsecond holds more than a page, it is given whole (`at`),
    /// and the next page starts at the next entry's time (`firstAfter`).
    package static func page(
        next: () throws -> Chain.AuditContent?, to: Timestamp, limit: Int, maxBytes: Int, keys: KeyRing,
        at: (Int64) throws -> [Chain.AuditContent], firstAfter: (Int64) throws -> Int64?
    ) throws -> AuditPage {
        var rows: [Chain.AuditContent] = []
        var bytes = 0
        var full = false
        while let row = try next() {
            rows.append(row)
            if rows.count > limit || (rows.count > 1 && bytes >= maxBytes) {
                full = true
                break
            }
            bytes += row.detail.utf8.count
        }
        var nextFrom: Timestamp? = nil
        if full, let cut = rows.last?.at {
            let kept = rows.filter { $0.at < cut }
            if !kept.isEmpty {
                rows = kept
                nextFrom = Timestamp(microseconds: cut)
            } else {
                rows = try at(cut)
                nextFrom = try firstAfter(cut).map(Timestamp.init(microseconds:))
            }
        }
        return AuditPage(entries: try rows.map { try $0.entry(keys: keys) }, nextFrom: nextFrom)
    }
}

extension ExportPage {
    /// The export's page of `page`'s calls: each call's summary (no identity, no note) with
    /// its alerts, from `alerts` (those of the page's calls, and perhaps others).
    package init(page: CallPage, alerts: [Alert], extras: [String: (initial: String?, changes: Int, held: Bool)]) {
        let byCall = Dictionary(grouping: alerts, by: \.callID)
        self.init(
            calls: page.calls.map {
                let x = extras[$0.id]
                return ExportRow(
                    summary: CallSummary($0), alerts: (byCall[$0.id] ?? []).map(AlertView.init), initialGrade: x?.initial,
                    gradeChanges: x?.changes ?? 0, held: x?.held ?? false)
            },
            nextAfterSeq: page.nextAfterSeq)
    }
}

/// The handover's statements, the same on both engines (their one parameter, `?1` on
/// SQLite and `$1` on PostgreSQL, is the instant judged at; the lists' second, the cap).
/// Each set is written as a union of two index ranges, so that neither engine walks every
/// call: open now (`calls_open`) or ended after the instant (`calls_by_ended`); and ended
/// without an outcome (`calls_without_outcome`, a partial index of few rows).
package enum HandoverSQL {
    /// The rows of each set, as `SELECT * FROM (…)` takes them.
    package static let open = """
        SELECT * FROM calls WHERE ended_at IS NULL AND received_at < ?1
        UNION ALL SELECT * FROM calls WHERE ended_at > ?1 AND received_at < ?1
        """
    package static let withoutOutcome = """
        SELECT * FROM calls WHERE outcome IS NULL AND ended_at IS NOT NULL AND ended_at <= ?1
        """

    /// The count of a set and the highest rank of its markings (``marking(rank:)``).
    package static func tally(_ set: String) -> String {
        """
        SELECT COUNT(*), COALESCE(MAX(CASE marking WHEN 'SECRET' THEN 3 WHEN 'OFFICIAL-SENSITIVE' THEN 2 ELSE 1 END), 1)
        FROM (\(set)) AS s
        """
    }

    /// The first rows of a set, oldest first by `column`.
    package static func list(_ set: String, by column: String) -> String {
        "SELECT * FROM (\(set)) AS s ORDER BY \(column), first_seq LIMIT ?2"
    }

    package static func marking(rank: Int) -> Marking { rank >= 3 ? .secret : rank == 2 ? .officialSensitive : .official }

    /// The handover at `asOf`, from an engine's two ways of running these statements:
    /// `tally` (a count and a marking rank) and `calls` (a list), each given one of them.
    package static func handover(
        asOf: Timestamp, tally: (String) throws -> (count: Int, rank: Int), calls: (String) throws -> [HandoverCall]
    ) throws -> Handover {
        let (openCount, openRank) = try tally(Self.tally(open))
        let (endedCount, endedRank) = try tally(Self.tally(withoutOutcome))
        return Handover(
            asOf: asOf, openCount: openCount, open: try calls(list(open, by: "received_at")), withoutOutcomeCount: endedCount,
            withoutOutcome: try calls(list(withoutOutcome, by: "ended_at")), highestMarking: marking(rank: max(openRank, endedRank)))
    }

    /// A statement for PostgreSQL: `?N` as `$N`.
    package static func postgres(_ sql: String) -> String { sql.replacing("?1", with: "$1").replacing("?2", with: "$2") }
}
