import ArgumentParser
import Foundation
import HotlineCommandLine
import HotlineClient
import HotlineCore
import HotlineStore

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the audit log: who read which calls, and when (auditors).")

    @ParentCommand var parent: HotlineCtl
    @Option(help: "From (RFC 3339; default 24 hours ago).") var from: String?
    @Option(help: "To, exclusive (RFC 3339 or 'now'; default now).") var to = "now"
    @OptionGroup var reasonOptions: ReasonOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let toTime = try parseTime(to, flag: "--to")
        var fromTime = try from.map { try parseTime($0, flag: "--from") } ?? toTime.adding(seconds: -86_400)
        let connection = try parent.connect()
        var printedHeader = false
        var reason = reasonOptions.reason
        while true {
            let request: [String: JSONValue] = ["op": "audit.list", "from": .string(fromTime.rfc3339), "to": .string(toTime.rfc3339)]
            let response = try performRead(
                request, on: connection, json: output.json, reason: &reason, what: "reading the audit log")
            if !output.json {
                if !printedHeader {
                    print("SEQ     AT (UTC)                     UID     ROLE        OP                RESULT     WHAT")
                    printedHeader = true
                }
                for entry in response["entries"]?.arrayValue ?? [] { print(Self.line(entry)) }
            }
            guard let next = response["next_from"]?.stringValue, let nextTime = try? Timestamp(rfc3339: next) else {
                break
            }
            fromTime = nextTime
        }
    }

    static func line(_ e: JSONValue) -> String {
        func col(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        var what: [String] = []
        if let ids = e["call_ids"]?.arrayValue {
            let shown = ids.prefix(3).compactMap(\.stringValue)
            what.append("calls " + shown.joined(separator: " ") + (ids.count > 3 ? " (+\(ids.count - 3) more)" : ""))
        }
        // A page of a call's notes (call.get with notes_after, or answered with notes_next).
        let notesAfter = e["notes_after"]?.intValue, notesNext = e["notes_next"]?.intValue
        if notesAfter != nil || notesNext != nil {
            what.append(
                "notes " + (notesAfter.map { "after seq \($0)" } ?? "from the first")
                    + (notesNext.map { " to seq \($0)" } ?? " to the last"))
        }
        if let filter = e["filter"], filter != .null { what.append("filter " + JSONWriter.string(filter)) }
        if let alert = e["alert_id"]?.stringValue { what.append("alert \(alert)") }
        if e["op"]?.stringValue == AuditOp.markingLowered {
            what.append("\(e["from"]?.stringValue ?? "?") -> \(e["to"]?.stringValue ?? "?")")
        }
        if let ok = e["ok"]?.boolValue { what.append(ok ? "log intact" : "TAMPERING FOUND") }
        if let reason = e["reason"]?.stringValue {
            // One line per entry: a reason's line breaks are shown as spaces.
            let flat = reason.split(whereSeparator: \.isNewline).joined(separator: " ")
            what.append("reason \"\(flat)\"")
        }
        switch e["reason_unreadable"]?.stringValue {
        case "key_retired"?: what.append("reason sealed under a key no longer in the key file")
        case "altered"?: what.append("REASON ALTERED: it does not open for this entry")
        default: break
        }
        return col(String(e["seq"]?.intValue ?? 0), 8) + col(e["at"]?.stringValue ?? "-", 29)
            + col(String(e["uid"]?.intValue ?? -1), 8) + col(e["role"]?.stringValue ?? "(daemon)", 12)
            + col(e["op"]?.stringValue ?? "-", 18) + col(e["result"]?.stringValue ?? "-", 11)
            + what.joined(separator: "; ")
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that no event or audit entry was changed, deleted, inserted or reordered.",
        discussion: """
            Through the daemon (auditors), or offline on a database file with --database. Exits 0 \
            when the log is intact, 1 when it was tampered with, 2 when a file cannot be read.

            Each row is chained twice: by plain SHA-256, which anyone can check and anyone who can \
            write the file can recompute, and by a keyed chain (HMAC-SHA256 under a key derived \
            from hotlined.key), which only the key can recompute. Offline, the keyed chain needs \
            the key: give --key-file (the daemon's key file, or your copy of it, mode 0600); \
            without it only the plain chain is checked, and a log rewritten with recomputed \
            hashes is caught only against anchors.

            Anchors are heads published before any rewrite: the daemon journals them at start, \
            at stop and every chain_anchors.every_seconds or every_rows. \
            journalctl -o json -u hotlined | hotlinectl verify --database FILE --key-file KEY \
            --anchors - checks the file against every head hotlined.service journalled (entries \
            of other units are skipped: anyone may journal a MESSAGE_ID), and fails if the \
            journal shows the keyed chain laid more than once (a rollback); --anchor and \
            --audit-anchor take one head at a time.
            """)

    @ParentCommand var parent: HotlineCtl
    @Option(help: "Verify this database file offline instead of asking the daemon.") var database: String?
    @Option(help: "An event-chain head known from before, SEQ:HASH (offline; repeatable).")
    var anchor: [String] = []
    @Option(help: "An audit-chain head known from before, SEQ:HASH (offline; repeatable).")
    var auditAnchor: [String] = []
    @Option(help: "journalctl -o json output holding the daemon's journalled chain heads (offline; - for standard input).")
    var anchors: String?
    @Option(help: "Take --anchors entries only from this unit (journald's _SYSTEMD_UNIT); '' for any.")
    var anchorsUnit = "hotlined.service"
    @Option(help: "The key file, to check the keyed chain and the sealed locations (offline).")
    var keyFile: String?
    @OptionGroup var reasonOptions: ReasonOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        for a in anchor + auditAnchor where Chain.Head(a) == nil {
            throw ValidationError("'\(a)' is not an anchor: give SEQ:HASH, a number, a colon and 64 hexadecimal characters.")
        }
        if database == nil, !(anchor.isEmpty && auditAnchor.isEmpty) || anchors != nil || keyFile != nil {
            throw ValidationError("--anchor, --audit-anchor, --anchors and --key-file go with --database; the daemon holds its own.")
        }
        if database != nil, reasonOptions.reason != nil {
            throw ValidationError("--reason is kept in the daemon's audit log; a verify of a file with --database writes none.")
        }
    }

    func run() throws {
        let report: JSONValue
        if let database {
            var events = anchor.compactMap(Chain.Head.init)
            var audit = auditAnchor.compactMap(Chain.Head.init)
            var journal = Chain.JournalAnchors()
            if let anchors {
                journal = try Self.journalAnchors(anchors, unit: anchorsUnit.isEmpty ? nil : anchorsUnit)
                events += journal.events
                audit += journal.audit
                if !output.json {
                    print(
                        "Anchors from the journal: \(journal.events.count) event heads, \(journal.audit.count) audit heads"
                            + (journal.skipped > 0 ? "; \(journal.skipped) entries skipped (not JSON, another unit's, or malformed)" : "")
                            + ".")
                }
            }
            let keys = try keyFile.map { path in
                do {
                    return try KeyRing.load(path: path)
                } catch {
                    throw CLIError("cannot use the key file \(path): \(error)", exitCode: 2)
                }
            }
            var verified = try Self.offline(database, anchors: events, auditAnchors: audit, keys: keys)
            if journal.keyedChainLaid > 1 {
                verified.badLog(
                    "the journal says hotlined laid the keyed chain over the log \(journal.keyedChainLaid) times: once is the upgrade; again means the database was rolled back to before it, as someone hiding a rewrite would"
                )
            }
            report = verified.json
            if output.json { print(JSONWriter.string(report)) }
        } else {
            var reason = reasonOptions.reason
            report = try performRead(
                ["op": "verify"], on: try parent.connect(), json: output.json, reason: &reason, what: "verifying the log")
        }
        if !output.json { Self.describe(report) }
        if report["intact"] != .bool(true) { throw ExitCode(1) }
    }

    /// What the journal in `path` says (journalctl -o json; `-` is standard input).
    static func journalAnchors(_ path: String, unit: String?) throws -> Chain.JournalAnchors {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let read = FileManager.default.contents(atPath: path) else {
                throw CLIError("\(path): cannot read the anchors", exitCode: 2)
            }
            data = read
        }
        return Chain.anchors(fromJournal: String(decoding: data, as: UTF8.self), unit: unit)
    }

    static func offline(
        _ path: String, anchors: [Chain.Head], auditAnchors: [Chain.Head], keys: KeyRing? = nil
    ) throws -> VerifyReport {
        do {
            return try ChainVerifier.verify(file: path, keys: keys, eventAnchors: anchors, auditAnchors: auditAnchors)
        } catch {
            throw CLIError(error.description, exitCode: 2)
        }
    }

    static func describe(_ r: JSONValue) {
        let events = r["events"]?.intValue ?? 0
        let audit = r["audit_entries"]?.intValue ?? 0
        if r["intact"] == .bool(true) {
            print("The log is intact: \(events) events and \(audit) audit entries verified.")
        } else {
            print("TAMPERING FOUND in a log of \(events) events and \(audit) audit entries.")
            if let seq = r["first_bad_seq"]?.intValue { print("  first bad event:       seq \(seq)") }
            if let seq = r["first_bad_audit_seq"]?.intValue { print("  first bad audit entry: seq \(seq)") }
            if let calls = r["bad_calls"]?.arrayValue, !calls.isEmpty {
                print("  calls whose state disagrees with their events: \(calls.count)")
            }
            for p in r["problems"]?.arrayValue ?? [] { print("  - \(p.stringValue ?? "")") }
        }
        switch r["keyed_chain"]?.stringValue {
        case "not_checked"?:
            print("The keyed chain was NOT checked (no --key-file): a rewrite with recomputed hashes is caught only by anchors.")
        case "absent"?:
            print("This database predates the keyed chain: only the plain chain was checked.")
        default: break
        }
        print("Event chain head: \(r["head"]?.stringValue ?? "-")")
        print("Audit chain head: \(r["audit_head"]?.stringValue ?? "-")")
    }
}
