import Foundation
import GRDB
import HotlineCore

/// What `verify` found: both chains walked from their first row, with the first bad row of
/// each and a sentence for every problem (up to a few), so an auditor knows where to look.
public struct VerifyReport: Sendable, Equatable {
    public var events: Int64 = 0
    public var firstBadSeq: Int64?
    public var auditEntries: Int64 = 0
    public var firstBadAuditSeq: Int64?
    /// Where each chain ends in the database: note them to use as anchors later.
    public var eventHead: Chain.Head = .empty
    public var auditHead: Chain.Head = .empty
    public var problems: [String] = []
    /// Calls whose projection (what `call.get` and `calls.list` show) disagrees with their
    /// events: edited in the `calls` table, or deleted from it.
    public var badCalls: [String] = []
    /// Whether the keyed chain was checked: it needs the key, and a database from before
    /// `v7-keyed-chain` has none. Unchecked, a log rewritten with recomputed plain hashes
    /// is found only by anchors taken before the rewrite.
    public var keyed: Keyed = .notChecked

    public enum Keyed: String, Sendable, Equatable {
        case checked
        /// No key was given (`hotlinectl verify --database` without `--key-file`).
        case notChecked = "not_checked"
        /// The database predates the keyed chain.
        case absent
    }

    /// A problem with the log as a whole (its keyed chain gone, the journal saying it was
    /// rolled back), not at one row.
    public var wholeLogBad = false

    public var ok: Bool { firstBadSeq == nil && firstBadAuditSeq == nil && badCalls.isEmpty && !wholeLogBad }

    public mutating func badLog(_ problem: String) {
        wholeLogBad = true
        if problems.count < Self.maxProblems { problems.append(problem) }
    }

    public init() {}

    static let maxProblems = 20

    mutating func badEvent(_ seq: Int64, _ problem: String) {
        firstBadSeq = Swift.min(firstBadSeq ?? seq, seq)
        if problems.count < Self.maxProblems { problems.append(problem) }
    }

    mutating func badAudit(_ seq: Int64, _ problem: String) {
        firstBadAuditSeq = Swift.min(firstBadAuditSeq ?? seq, seq)
        if problems.count < Self.maxProblems { problems.append(problem) }
    }

    mutating func badCall(_ id: String, _ problem: String) {
        badCalls.append(id)
        if problems.count < Self.maxProblems { problems.append(problem) }
    }
}

extension VerifyAnswer {
    /// The report as the `verify` op answers it (PROTOCOL.md section 9, with optional extras):
    /// at most 100 of the calls whose state disagrees with their events.
    public init(_ r: VerifyReport) {
        self.init(
            intact: r.ok, events: r.events, auditEntries: r.auditEntries, head: r.eventHead.description,
            auditHead: r.auditHead.description, problems: r.problems, keyedChain: r.keyed.rawValue, firstBadSeq: r.firstBadSeq,
            firstBadAuditSeq: r.firstBadAuditSeq, badCalls: Array(r.badCalls.prefix(100)))
    }
}

/// Walks the tamper-evidence chains of a database (see ``Chain``). The plain chain needs no
/// key (it hashes ciphertexts, never opens them); the keyed chain, and the sealed locations,
/// need it. Used by the daemon's `verify` and by `hotlinectl verify --database FILE` offline.
public enum ChainVerifier {
    /// Checks every row of both chains; `eventAnchors` and `auditAnchors` are heads known
    /// from elsewhere (the running daemon, the journal, an earlier `verify`): a chain that
    /// disagrees with one was rewritten, and one that stops short of one lost its end.
    /// - Parameter keys: when given (the daemon's `verify`, or offline with `--key-file`),
    ///   every row's keyed link is checked and each call's sealed location is compared with
    ///   the one its events set; without them the plain chain and every other column are.
    public static func verify(
        _ db: Database, keys: KeyRing? = nil, eventAnchors: [Chain.Head] = [], auditAnchors: [Chain.Head] = []
    ) throws -> VerifyReport {
        try verify(SQLiteVerifySource(db: db), keys: keys, eventAnchors: eventAnchors, auditAnchors: auditAnchors)
    }

    /// As ``verify(_:keys:eventAnchors:auditAnchors:)``, on the log `db` reads, whatever its engine.
    package static func verify(
        _ db: some VerifySource, keys: KeyRing? = nil, eventAnchors: [Chain.Head] = [], auditAnchors: [Chain.Head] = []
    ) throws -> VerifyReport {
        var report = VerifyReport()
        // Values of types hotlined never writes would stop the walk: reported instead.
        let mistyped = try db.preflight()
        if !mistyped.isEmpty {
            for problem in mistyped { report.badLog(problem) }
            return report
        }
        let hasLinks = try db.hasKeyedLinks()
        let linkKeys = hasLinks ? keys : nil
        report.keyed = !hasLinks ? .absent : keys == nil ? .notChecked : .checked
        if keys != nil, !hasLinks {
            // hotlined lays the keyed chain over a database when it opens it: one without,
            // checked with the key, was never opened by this version, or had it removed to
            // hide a rewrite. Either way nothing vouches for it but the plain chain.
            report.badLog(
                "the database has no keyed chain (no mac column in events and audit), though the key was given: either it was never opened by a hotlined with one, or it was removed to hide a rewrite; check it against anchors"
            )
        }
        let (purges, holds) = try verifyAudit(db, anchors: auditAnchors, keys: linkKeys, into: &report)
        try verifyHolds(db, audited: holds, into: &report)
        try verifyEvents(db, anchors: eventAnchors, keys: linkKeys, purges: purges, into: &report)
        try verifyIdentities(db, into: &report)
        try verifyProjection(db, keys: keys, into: &report)
        return report
    }

    /// One chain walked row by row: missing positions, rows that do not follow the one
    /// before, and disagreement with anchors. What a row's content is, its caller decides.
    private struct Walk {
        let noun: String
        let anchors: [Int64: [Data]]
        /// The keys that check each row's keyed link; nil: not checked.
        let keys: KeyRing?
        var previous = Chain.genesis
        var previousMAC = Chain.macGenesis
        /// The key-file position of the key the last link was under: links never go back
        /// to an older key (new rows use the newest), so one that does was forged with it.
        var keyPosition = -1
        var expected: Int64 = 1
        var head = Chain.Head.empty
        var count: Int64 = 0

        init(_ noun: String, anchors: [Chain.Head], keys: KeyRing?) {
            self.noun = noun
            self.anchors = Dictionary(grouping: anchors, by: \.seq).mapValues { $0.map(\.hash) }
            self.keys = keys
        }

        /// The problems with the row at `seq`, whose content hashes to `digest` (nil when
        /// the content does not match its stored digest, already reported by the caller);
        /// `storedDigest` and `mac` are its columns.
        mutating func step(seq: Int64, digest: Data?, storedDigest: Data?, hash: Data, mac: Data?) -> [(Int64, String)] {
            var problems: [(Int64, String)] = []
            count += 1
            if seq != expected { problems.append((expected, "\(noun)s \(expected)…\(seq - 1) are missing: deleted")) }
            if let digest, Chain.link(previous, digest) != hash {
                problems.append(
                    (seq, "\(noun) \(seq) does not follow \(noun) \(seq - 1): one of them was changed and re-hashed, or a row was inserted")
                )
            }
            // The keyed link is over the stored digest: content changed without its digest is
            // the caller's finding; a digest (and hashes) recomputed without the key is this.
            switch keys?.checkChainMAC(mac, after: previousMAC, digest: storedDigest ?? Data()) {
            case nil: break
            case .holds(let position)?:
                if position < keyPosition {
                    problems.append(
                        (
                            seq,
                            "\(noun) \(seq) is linked under an older key than the \(noun) before it: it was rewritten with a retired key (or the key file's lines are not in the order the keys came)"
                        ))
                }
                keyPosition = max(keyPosition, position)
            case .broken?:
                problems.append(
                    (
                        seq,
                        "\(noun) \(seq) fails the keyed chain: it, or the one before it, was rewritten by someone without the key (its plain hashes may have been recomputed to hide it)"
                    ))
            case .unknownKey(let id)?:
                problems.append(
                    (
                        seq,
                        "\(noun) \(seq) is linked under key \(String(id, radix: 16)), which is not in the key file: put a retired key back in its place among the older lines to check it; otherwise the link was forged"
                    ))
            case .malformed?:
                problems.append((seq, "\(noun) \(seq) has no keyed link: it was inserted or rewritten by someone without the key"))
            }
            previousMAC = mac ?? Data()
            for anchor in anchors[seq] ?? [] where anchor != hash {
                problems.append((seq, "the \(noun)s up to \(seq) were rewritten: they differ from the anchor \(seq):\(anchor.hex)"))
            }
            head = Chain.Head(seq: seq, hash: hash)
            previous = hash
            expected = seq + 1
            return problems
        }

        /// Anchors past the last row: rows were deleted from the end.
        func end() -> [(Int64, String)] {
            anchors.filter { $0.key > head.seq }.sorted { $0.key < $1.key }.map { seq, hashes in
                (head.seq + 1, "\(noun)s after \(head.seq) are missing: the anchor \(seq):\(hashes[0].hex) is past the end")
            }
        }
    }

    /// The audit chain; returns which calls each retention purge covered.
    private static func verifyAudit(
        _ db: some VerifySource, anchors: [Chain.Head], keys: KeyRing?, into report: inout VerifyReport
    ) throws -> (purges: [Int64: Purge], holds: [String: AuditedHold]) {
        var purges: [Int64: Purge] = [:]
        // The legal holds the audit log says are in force: call → the entry that put it on.
        var holds: [String: AuditedHold] = [:]
        var walk = Walk("audit entry", anchors: anchors, keys: keys)
        try db.forEachAudit(withMACs: keys != nil) { row in
            let content = row.content
            let seq = content.seq
            let digest = content.digest
            let matches = digest == row.digest
            if !matches { report.badAudit(seq, "audit entry \(seq) was changed: its content does not match its digest") }
            for (at, problem) in walk.step(
                seq: seq, digest: matches ? digest : nil, storedDigest: row.digest, hash: row.hash, mac: row.mac)
            {
                report.badAudit(at, problem)
            }
            if content.op == AuditOp.retentionPurge,
                let detail = try? JSONParser.parse(Array(content.detail.utf8)),
                let ids = detail["call_ids"]?.arrayValue
            {
                let calls = Set(ids.compactMap(\.stringValue))
                purges[seq] = Purge(calls: calls, tombstones: detail["tombstones"]?.stringValue.flatMap { Data(hex: $0) })
                // Retention never purges a held call: one purged while the audit log says it
                // was held lost its hold under the daemon (deleted by hand, then perhaps put back).
                for id in calls.sorted() {
                    if let hold = holds[id] {
                        report.badCall(
                            id,
                            "call \(id) was purged by retention (audit entry \(seq)) while on legal hold (audit entry \(hold.seq)): its hold was removed outside hotlined"
                        )
                    }
                }
            }
            if content.op == AuditOp.hold || content.op == AuditOp.release,
                let detail = try? JSONParser.parse(Array(content.detail.utf8)), detail["result"]?.stringValue == "ok",
                let id = detail["call_ids"]?.arrayValue?.first?.stringValue
            {
                if content.op == AuditOp.hold {
                    holds[id] = AuditedHold(seq: seq, at: content.at, uid: content.uid)
                } else {
                    holds[id] = nil
                }
            }
        }
        for (at, problem) in walk.end() { report.badAudit(at, problem) }
        report.auditEntries = walk.count
        report.auditHead = walk.head
        return (purges, holds)
    }

    /// The holds table must be what the audited holds and releases leave: a hold deleted
    /// outside hotlined (so that retention would purge the call) or added without an entry
    /// is tampering.
    private static func verifyHolds(_ db: some VerifySource, audited: [String: AuditedHold], into report: inout VerifyReport) throws {
        var expected = audited
        try db.forEachHold { row in
            guard let callID = row.callID else {
                report.badLog("the holds table has a row without a call id: not one hotlined wrote")
                return
            }
            guard let hold = expected.removeValue(forKey: callID), hold.seq == row.auditSeq else {
                report.badCall(
                    callID,
                    "call \(callID) is on legal hold in the holds table, but no audited call.hold (entry \(row.auditSeq.map(String.init) ?? "none")) put it there"
                )
                return
            }
            if row.heldAt != hold.at || row.heldBy != hold.uid {
                report.badCall(
                    callID,
                    "call \(callID)'s legal hold was changed in the holds table: its time or uid differ from audit entry \(hold.seq)")
            }
        }
        for (callID, hold) in expected.sorted(by: { $0.value.seq < $1.value.seq }) {
            report.badCall(
                callID,
                "call \(callID)'s legal hold (audit entry \(hold.seq)) was removed from the holds table without an audited call.release")
        }
    }

    /// A hold as its audit entry records it.
    struct AuditedHold {
        var seq: Int64
        var at: Int64
        var uid: Int64
    }

    private static func verifyEvents(
        _ db: some VerifySource, anchors: [Chain.Head], keys: KeyRing?, purges: [Int64: Purge],
        into report: inout VerifyReport
    ) throws {
        var walk = Walk("event", anchors: anchors, keys: keys)
        let purgedCalls = purges.values.reduce(into: Set<String>()) { $0.formUnion($1.calls) }
        var tombstones: [Int64: (first: Int64, hash: Chain.Tombstones)] = [:]
        try db.forEachEvent(withMACs: keys != nil) { row in
            let content = row.content
            let seq = content.seq
            let stored = row.digest
            var digest: Data? = stored
            if let purgedBy = row.purgedBy {
                tombstones[purgedBy, default: (seq, Chain.Tombstones())].hash.add(row.tombstone ?? [])
                // Retention removed the content; the digest stands for it, and the purge must
                // be one the audit log records for this call. A tombstone holds no content:
                // content put back from a backup would otherwise pass on the old digest.
                if purges[purgedBy]?.calls.contains(content.callID) != true {
                    report.badEvent(
                        seq, "event \(seq) had its content removed, but no retention purge in the audit log covers it")
                } else if content.body != "" || content.ack != "" || content.secret != nil {
                    report.badEvent(seq, "event \(seq) was purged, yet has content again: restored from elsewhere")
                }
            } else if content.digest != stored {
                report.badEvent(seq, "event \(seq) was changed: its content does not match its digest")
                digest = nil
            } else if purgedCalls.contains(content.callID) {
                // Every event of a purged call was made a tombstone (the call ended first).
                report.badEvent(
                    seq, "event \(seq) is of a call retention purged, yet is whole: the call was put back from elsewhere")
            }
            for (at, problem) in walk.step(
                seq: seq, digest: digest ?? nil, storedDigest: stored, hash: row.hash ?? Data(), mac: row.mac)
            {
                report.badEvent(at, problem)
            }
        }
        for (at, problem) in walk.end() { report.badEvent(at, problem) }
        // Purges since issue 13 vouch for what their tombstones keep (Chain.Tombstones).
        for (purge, kept) in tombstones.sorted(by: { $0.key < $1.key }) {
            guard let vouched = purges[purge]?.tombstones, kept.hash.digest != vouched else { continue }
            report.badEvent(
                kept.first,
                "the events retention purged in audit entry \(purge) were changed after it (their ids, ops, times or uids), or some are missing"
            )
        }
        report.events = walk.count
        report.eventHead = walk.head
    }

    /// What a retention purge's audit entry says it purged.
    struct Purge {
        var calls: Set<String>
        /// The digest of what its tombstones keep; nil for purges from before issue 13.
        var tombstones: Data?
    }

    /// Each call's projection must say what its chained events say, column by column: the
    /// acknowledgement of its last event gives route, grade, marking, anonymity and
    /// escalation; its `call.start` the number, times, workstation, handler and owner (and,
    /// since issue 13, the route's anonymity rule and least grade, in its acknowledgement);
    /// its `call.end` the outcome and end time; its updates, folded in order, the category,
    /// flags, threat alert, anonymity request and (with the key) the location. A call whose
    /// events are in the log must have one.
    private static func verifyProjection(_ db: some VerifySource, keys: KeyRing?, into report: inout VerifyReport) throws {
        try db.forEachCall { row in
            let id = row.callID
            guard row.lastCall == id, row.maxSeq == row.lastSeq, row.startCall == id, row.startOp == "call.start",
                let ack = try? JSONParser.parse(Array((row.lastAck ?? "").utf8)),
                let start = try? JSONParser.parse(Array((row.startBody ?? "").utf8))
            else {
                report.badCall(id, "call \(id) in the calls table does not match the events of that call")
                return
            }
            var differs: [String] = []
            for (key, held) in [("route", row.route), ("grade", row.grade), ("marking", row.marking)] where ack[key]?.stringValue != held {
                differs.append(key)
            }
            for (key, held) in [("anonymous", row.anonymous), ("escalated", row.escalated)] where ack[key]?.boolValue != held {
                differs.append(key)
            }
            let end = row.endBody.flatMap { try? JSONParser.parse(Array($0.utf8)) }
            let endedAt = end?["ended_at"]?.stringValue.flatMap { try? Timestamp(rfc3339: $0) }?.microseconds
            if endedAt != row.endedAt { differs.append("ended_at") }
            // Who started it decides which handler may read it.
            if row.ownerUID != row.startUID { differs.append("owner_uid") }
            let received = start["received_at"]?.stringValue.flatMap { try? Timestamp(rfc3339: $0) }?.microseconds
            if received != row.receivedAt { differs.append("received_at") }
            // An anonymous call keeps no identity: one put back after erasure is tampering.
            if ack["anonymous"]?.boolValue == true, row.identity != nil { differs.append("identity") }
            // A call that is not anonymous holds an identity exactly when its events gave one.
            if ack["anonymous"]?.boolValue == false, (row.identity != nil) != row.hasIdentityRows {
                differs.append("identity")
            }
            for (key, held) in [("dialled", row.dialled), ("workstation", row.workstation), ("handler", row.handler)]
            where start[key]?.stringValue != held {
                differs.append(key)
            }
            // Issue 18: a start without a channel is a voice call's (every call before it).
            if (start["channel"]?.stringValue ?? CallChannel.voice.rawValue) != row.channel { differs.append("channel") }
            if start["form_reference"]?.stringValue != row.formReference { differs.append("form_reference") }
            // Written in call.start's acknowledgement since issue 13; older calls have not them.
            let startAck = row.startAck.flatMap { try? JSONParser.parse(Array($0.utf8)) }
            for (key, held) in [("route_anonymity", row.routeAnonymity), ("route_grade", row.routeGrade)] {
                if let stated = startAck?[key]?.stringValue, stated != held { differs.append(key) }
            }
            differs += try replayUpdates(db, row: row, keys: keys)
            if let keys, ack["anonymous"]?.boolValue == false, try identityDiffers(db, id: id, sealed: row.identity, keys: keys) {
                differs.append("identity")
            }
            if !differs.isEmpty {
                report.badCall(
                    id, "call \(id) was changed in the calls table: its \(differs.joined(separator: ", ")) differ from its events")
            }
        }
        for id in try db.callsMissingFromProjection() {
            report.badCall(id, "call \(id) was deleted from the calls table, though its events are in the log")
        }
        // An alert names its call's channel (issue 18), which the call's events fix: a console
        // shown another would answer a signing or texting caller by voice.
        for (alert, call) in try db.alertsOffTheirCallsChannel() {
            report.badCall(
                call,
                "alert \(alert) of call \(call) names another channel than the calls table: one of the two was changed (the call's is checked against its events above)"
            )
        }
    }

    /// The columns the updates of call `id` decide, folded from their chained bodies in
    /// order, as CallPolicy applied them; returns those `row` disagrees on.
    private static func replayUpdates(_ db: some VerifySource, row: VerifyRecords.Projection, keys: KeyRing?) throws -> [String] {
        let id = row.callID
        var category: String? = nil
        var flags: [String: Bool] = [:]
        var threat = false
        var requested = false
        var location: (seq: Int64, secret: Data?)? = nil
        // The end's outcome, or one an update gave after (issue 16: an end may have none).
        var outcome: String? = nil
        // The start's answered_at, else the first an update gave (issue 16).
        var answeredAt: String? = nil
        // Issue 18: the relay, as CallPolicy folds it (a relayed channel has one from the start).
        // As the start event says (the projection's own channel is checked against it apart).
        var channel = CallChannel.voice
        var relay: Relay? = nil
        var unreadable = false
        try db.forEachEvent(ofCall: id) { event in
            guard !unreadable else { return }
            guard let body = try? JSONParser.parse(Array(event.body.utf8)),
                let ack = try? JSONParser.parse(Array(event.ack.utf8))
            else {
                unreadable = true
                return
            }
            let op = event.op
            let asked = op == "call.start" ? body["anonymous_requested"] : body["set"]?["anonymous_requested"]
            // As CallPolicy records the wish: an update's counts as made once the call is
            // anonymous; a start's is the caller's word alone (a route that is always
            // anonymous makes the call so after the wish is recorded).
            if let asked = asked?.boolValue {
                requested = op == "call.start" ? asked : asked || ack["anonymous"]?.boolValue == true
            }
            if op == "call.end", let o = body["outcome"]?.stringValue { outcome = o }
            if op == "call.start" {
                channel = body["channel"]?.stringValue.flatMap(CallChannel.init(rawValue:)) ?? .voice
                answeredAt = body["answered_at"]?.stringValue
                relay = Relay.atStart(RelayChange(json: body["relay"]), channel: channel)
            }
            guard op == "call.update", let set = body["set"] else { return }
            if let o = set["outcome"]?.stringValue { outcome = o }
            if answeredAt == nil, let a = set["answered_at"]?.stringValue { answeredAt = a }
            if let c = set["category"]?.stringValue { category = c }
            if channel.acceptsRelay, let change = RelayChange(json: set["relay"]) { relay = change.applied(to: relay, channel: channel) }
            for (flag, value) in set["flags"]?.objectValue ?? [:] {
                if let on = value.boolValue { flags[flag] = on }
            }
            if set["flags"]?["threat_to_life"] == true { threat = true }
            if set["location"] != nil { location = (event.seq, event.secret) }
        }
        if unreadable { return ["events"] }
        var differs: [String] = []
        if category != row.category { differs.append("category") }
        if outcome != row.outcome { differs.append("outcome") }
        if answeredAt.flatMap({ try? Timestamp(rfc3339: $0) })?.microseconds != row.answeredAt { differs.append("answered_at") }
        let stored = row.flags.flatMap { try? JSONParser.parse(Array($0.utf8)).objectValue }
        if stored?.compactMapValues(\.boolValue) != flags || stored?.count != flags.count { differs.append("flags") }
        if threat != row.threatAlertRaised { differs.append("threat_alert_raised") }
        // The stored columns as they are: a reference planted beside no kind is a change too.
        if relay?.kind.rawValue != row.relayKind || relay?.reference != row.relayReference { differs.append("relay") }
        if requested != row.anonymousRequested { differs.append("anonymous_requested") }
        // The location is sealed in both places: compared only with the key.
        let sealed = row.location
        if (location == nil) != (sealed == nil) {
            differs.append("location")
        } else if let keys, let location, let sealed,
            // Sealed with a key no longer in the key file: not checkable, which is not the
            // same as changed, so skipped. (A ciphertext moved from another call names a key
            // the ring holds, and does not open under this call's context: reported.)
            keys.canOpen(sealed), location.secret.map(keys.canOpen) ?? true
        {
            let set = location.secret.flatMap { try? keys.openJSON($0, context: "\(id)/event/\(location.seq)") }
            let expected = Location(
                text: set?["location_text"]?.stringValue, lat: set?["location_lat"]?.doubleValue,
                lon: set?["location_lon"]?.doubleValue)
            let held = (try? keys.openJSON(sealed, context: "\(id)/location")).map(Location.init(json:))
            if held != expected { differs.append("location") }
        }
        return differs
    }

    /// Whether call `id`'s identity in the projection (`sealed`) differs from what its
    /// identity rows, merged in order as the policy merges them, say. Not checkable (so not
    /// reported) when a ciphertext is under a key the ring no longer holds.
    private static func identityDiffers(_ db: some VerifySource, id: String, sealed: Data?, keys: KeyRing) throws -> Bool {
        var merged = CallerIdentity()
        // Decided by the first row that cannot be opened: under a retired key (not
        // checkable), or not under this call's context (moved here: it differs).
        var decided: Bool? = nil
        try db.forEachIdentity(ofCall: id) { seq, secret in
            guard decided == nil else { return }
            guard keys.canOpen(secret) else {
                decided = false
                return
            }
            guard let json = try? keys.openJSON(secret, context: "\(id)/identity/\(seq)") else {
                decided = true
                return
            }
            merged = merged.merging(CallerIdentity(json: json))
        }
        if let decided { return decided }
        guard let sealed else { return !merged.isEmpty }
        guard keys.canOpen(sealed) else { return false }
        guard let held = try? keys.openJSON(sealed, context: "\(id)/identity") else { return true }
        return CallerIdentity(json: held) != merged
    }

    /// Identity rows must be the ones their events committed to; one may be missing only
    /// when the caller asked for anonymity (erasure) or retention purged the call.
    private static func verifyIdentities(_ db: some VerifySource, into report: inout VerifyReport) throws {
        var anonymousCalls: Set<String>? = nil
        try db.forEachIdentityCheck { row in
            if let secret = row.secret {
                let seq = row.identitySeq ?? 0
                if row.purgedBy != nil {
                    report.badEvent(seq, "a caller identity for event \(seq) is back, though retention purged its call")
                    return
                }
                if row.identityCommitment != Chain.commitment(to: secret) || row.identityCall != row.callID {
                    report.badEvent(seq, "the caller identity stored for event \(seq) is not the one the event committed to")
                }
                return
            }
            guard let seq = row.seq, let callID = row.callID, row.purgedBy == nil else { return }
            if anonymousCalls == nil {
                // The acknowledgements are chained, so an anonymity they record is genuine.
                anonymousCalls = try db.anonymousCalls()
            }
            if anonymousCalls?.contains(callID) != true {
                report.badEvent(
                    seq, "the caller identity of event \(seq) was deleted, but the caller never became anonymous")
            }
        }
    }
}

extension ChainVerifier {
    /// Why a database file could not be verified at all (as opposed to verified and found
    /// tampered with).
    public struct FileFailure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Verifies the database file at `path` offline, opened read-only (`hotlinectl verify
    /// --database`): as ``verify(_:keys:eventAnchors:auditAnchors:)``.
    public static func verify(
        file path: String, keys: KeyRing? = nil, eventAnchors: [Chain.Head] = [], auditAnchors: [Chain.Head] = []
    ) throws(FileFailure) -> VerifyReport {
        guard FileManager.default.fileExists(atPath: path) else {
            throw FileFailure(description: "\(path): no such database file")
        }
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            return try queue.read { db in
                guard try db.tableExists("audit") else {
                    throw FileFailure(
                        description: "\(path) has no tamper-evidence chain: it is not a hotlined database, or one too old")
                }
                return try verify(db, keys: keys, eventAnchors: eventAnchors, auditAnchors: auditAnchors)
            }
        } catch let failure as FileFailure {
            throw failure
        } catch {
            throw FileFailure(description: "cannot read \(path): \(error)")
        }
    }
}
