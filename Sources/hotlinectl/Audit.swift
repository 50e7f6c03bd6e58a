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
        let fromTime = try from.map { try parseTime($0, flag: "--from") } ?? toTime.adding(seconds: -86_400)
        let reader = try parent.reader(reason: reasonOptions.reason, what: "reading the audit log")
        var printedHeader = false
        try reporting(json: output.json) {
            try reader.auditEntries(from: fromTime, to: toTime) { page in
                if output.json {
                    print(JSONWriter.string(page.line))
                    return
                }
                if !printedHeader {
                    print("SEQ     AT (UTC)                     UID     ROLE        OP                RESULT     WHAT")
                    printedHeader = true
                }
                for entry in page.answer.entries { print(Self.line(entry)) }
            }
        }
    }

    static func line(_ e: AuditEntry) -> String {
        func col(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        var what: [String] = []
        if let ids = e.callIDs {
            what.append("calls " + ids.prefix(3).joined(separator: " ") + (ids.count > 3 ? " (+\(ids.count - 3) more)" : ""))
        }
        // A page of a call's notes (call.get with notes_after, or answered with notes_next).
        if e.notesAfter != nil || e.notesNext != nil {
            what.append(
                "notes " + (e.notesAfter.map { "after seq \($0)" } ?? "from the first")
                    + (e.notesNext.map { " to seq \($0)" } ?? " to the last"))
        }
        if let filter = e.filter { what.append("filter " + JSONWriter.string(filter)) }
        if let alert = e.alertID { what.append("alert \(alert)") }
        if let change = e.markingChange { what.append("\(change.from) -> \(change.to)") }
        if let ok = e.verifiedIntact { what.append(ok ? "log intact" : "TAMPERING FOUND") }
        if let reason = e.reason {
            // One line per entry: a reason's line breaks are shown as spaces.
            let flat = reason.split(whereSeparator: \.isNewline).joined(separator: " ")
            what.append("reason \"\(flat)\"")
        }
        switch e.reasonUnreadable {
        case .keyRetired?: what.append("reason sealed under a key no longer in the key file")
        case .altered?: what.append("REASON ALTERED: it does not open for this entry")
        case nil: break
        }
        return col(String(e.seq), 8) + col(e.at.rfc3339, 29) + col(String(e.uid), 8) + col(e.role?.rawValue ?? "(daemon)", 12)
            + col(e.op, 18) + col(e.result ?? "-", 11) + what.joined(separator: "; ")
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
        let report: VerifyAnswer
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
            report = VerifyAnswer(verified)
            if output.json { print(JSONWriter.string(report.json)) }
        } else {
            let reader = try parent.reader(reason: reasonOptions.reason, what: "verifying the log")
            report = try perform(.verify(), on: reader, json: output.json, as: VerifyAnswer.self)
        }
        if !output.json { Self.describe(report) }
        if !report.intact { throw ExitCode(1) }
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

    static func describe(_ r: VerifyAnswer) {
        if r.intact {
            print("The log is intact: \(r.events) events and \(r.auditEntries) audit entries verified.")
        } else {
            print("TAMPERING FOUND in a log of \(r.events) events and \(r.auditEntries) audit entries.")
            if let seq = r.firstBadSeq { print("  first bad event:       seq \(seq)") }
            if let seq = r.firstBadAuditSeq { print("  first bad audit entry: seq \(seq)") }
            if !r.badCalls.isEmpty { print("  calls whose state disagrees with their events: \(r.badCalls.count)") }
            for p in r.problems { print("  - \(p)") }
        }
        switch r.keyedChain {
        case "not_checked":
            print("The keyed chain was NOT checked (no --key-file): a rewrite with recomputed hashes is caught only by anchors.")
        case "absent":
            print("This database predates the keyed chain: only the plain chain was checked.")
        default: break
        }
        print("Event chain head: \(r.head)")
        print("Audit chain head: \(r.auditHead)")
    }
}
