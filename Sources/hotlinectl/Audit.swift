import ArgumentParser
import Foundation
import GRDB
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
        let reason = reasonOptions.resolve(what: "reading the audit log")
        while true {
            var request: [String: JSONValue] = ["op": "audit.list", "from": .string(fromTime.rfc3339), "to": .string(toTime.rfc3339)]
            request.add(reason: reason)
            let response = try perform(.object(request), on: connection, json: output.json)
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
        if e["reason_unreadable"] == .bool(true) { what.append("reason sealed under a key no longer in the key file") }
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
            Through the daemon (auditors), or offline on a database file with --database, which needs \
            no key. Exits 0 when the log is intact, 1 when it was tampered with. Keep the heads it \
            prints (or the journal's "chain heads" lines) and pass them back with --anchor and \
            --audit-anchor: a log rewritten with recomputed hashes is caught only against an anchor.
            """)

    @ParentCommand var parent: HotlineCtl
    @Option(help: "Verify this database file offline instead of asking the daemon.") var database: String?
    @Option(help: "An event-chain head known from before, SEQ:HASH (offline; repeatable).")
    var anchor: [String] = []
    @Option(help: "An audit-chain head known from before, SEQ:HASH (offline; repeatable).")
    var auditAnchor: [String] = []
    @OptionGroup var reasonOptions: ReasonOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        for a in anchor + auditAnchor where Chain.Head(a) == nil {
            throw ValidationError("'\(a)' is not an anchor: give SEQ:HASH, a number, a colon and 64 hexadecimal characters.")
        }
        if database == nil, !(anchor.isEmpty && auditAnchor.isEmpty) {
            throw ValidationError("--anchor and --audit-anchor go with --database; the daemon holds its own.")
        }
        if database != nil, reasonOptions.reason != nil {
            throw ValidationError("--reason is kept in the daemon's audit log; a verify of a file with --database writes none.")
        }
    }

    func run() throws {
        let report: JSONValue
        if let database {
            report = try Self.offline(
                database, anchors: anchor.compactMap(Chain.Head.init), auditAnchors: auditAnchor.compactMap(Chain.Head.init)
            ).json
            if output.json { print(JSONWriter.string(report)) }
        } else {
            var request: [String: JSONValue] = ["op": "verify"]
            request.add(reason: reasonOptions.resolve(what: "verifying the log"))
            report = try perform(.object(request), on: try parent.connect(), json: output.json)
        }
        if !output.json { Self.describe(report) }
        if report["intact"] != .bool(true) { throw ExitCode(1) }
    }

    static func offline(_ path: String, anchors: [Chain.Head], auditAnchors: [Chain.Head]) throws -> VerifyReport {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIError("\(path): no such database file", exitCode: 2)
        }
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            return try queue.read { db in
                guard try db.tableExists("audit") else {
                    throw CLIError("\(path) has no tamper-evidence chain: it is not a hotlined database, or one too old", exitCode: 2)
                }
                return try ChainVerifier.verify(db, eventAnchors: anchors, auditAnchors: auditAnchors)
            }
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError("cannot read \(path): \(error)", exitCode: 2)
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
        print("Event chain head: \(r["head"]?.stringValue ?? "-")")
        print("Audit chain head: \(r["audit_head"]?.stringValue ?? "-")")
    }
}
