import ArgumentParser
import Foundation
import HotlineCommandLine
import HotlineClient
import HotlineCore
import HotlineStore

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a call: its state, notes and alerts.")

    @ParentCommand var parent: HotlineCtl
    @Argument(help: "The call's UUID.") var callID: String
    @OptionGroup var reasonOptions: ReasonOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let response = try wholeCall(on: try parent.connect())
        if output.json { print(JSONWriter.string(response)) }
        guard !output.json, let call = response["call"] else { return }
        func text(_ key: String) -> String {
            switch call[key] {
            case .string(let s): s
            case .bool(let b): b ? "yes" : "no"
            case .int(let i): String(i)
            case .double(let d): String(d)
            default: "-"
            }
        }
        print("Call \(text("id"))")
        for (label, key) in [
            ("dialled", "dialled"), ("route", "route"), ("grade", "grade"), ("marking", "marking"),
            ("anonymous", "anonymous"), ("escalated", "escalated"), ("category", "category"),
            ("received", "received_at"), ("answered", "answered_at"), ("ended", "ended_at"), ("outcome", "outcome"),
            ("workstation", "workstation"), ("handler", "handler"), ("started by", "owner_uid"),
            ("logged", "recorded_at"), ("cli", "cli"),
        ] {
            print("  " + label.padding(toLength: 12, withPad: " ", startingAt: 0) + text(key))
        }
        if let caller = call["caller"]?.objectValue {
            for key in ["name", "contact", "address"] {
                if let v = caller[key]?.stringValue { print("  " + "caller \(key)".padding(toLength: 12, withPad: " ", startingAt: 0) + v) }
            }
        }
        if let flags = call["flags"]?.objectValue, !flags.isEmpty {
            let set = flags.filter { $0.value == .bool(true) }.keys.sorted()
            print("  flags       \(set.isEmpty ? "-" : set.joined(separator: ", "))")
        }
        if let location = call["location"], location != .null {
            let words = location["text"]?.stringValue ?? ""
            let coords = location["lat"]?.doubleValue.map { lat in " (\(lat), \(location["lon"]?.doubleValue ?? 0))" } ?? ""
            print("  location    \(words)\(coords)")
        }
        let alerts = call["alerts"]?.arrayValue ?? []
        if !alerts.isEmpty {
            print("Alerts")
            for a in alerts {
                let acked = a["acked_at"]?.stringValue.map { "acknowledged \($0)" } ?? "NOT ACKNOWLEDGED"
                print(
                    "  \(a["raised_at"]?.stringValue ?? "")  \(a["reason"]?.stringValue ?? "")  level \(a["level"]?.intValue ?? 1)  \(acked)"
                )
            }
        }
        let notes = call["notes"]?.arrayValue ?? []
        if !notes.isEmpty {
            print("Notes")
            for n in notes {
                // What the workstation declared, then what the daemon saw: the writer's uid and
                // when it was received.
                let seen =
                    n["uid"]?.intValue.map { uid in
                        " [uid \(uid)" + (n["recorded_at"]?.stringValue.map { ", logged \($0)" } ?? "") + "]"
                    } ?? ""
                print("  \(n["at"]?.stringValue ?? "")  \(n["by"]?.stringValue ?? "")\(seen): \(n["text"]?.stringValue ?? "")")
            }
        }
    }
}

extension Show {
    /// The call with every note: `call.get` answers at most `limits.max_notes_per_answer`
    /// notes at once, so this follows `notes_next` on one connection until no page follows,
    /// and answers the last page with the notes of every page (and no `notes_next`).
    /// A refusal is reported as ``perform(_:on:json:)`` reports it.
    func wholeCall(on connection: HotlineConnection) throws -> JSONValue {
        var notes: [JSONValue] = []
        var after: Int64? = nil
        var reason = reasonOptions.reason
        while true {
            var request: [String: JSONValue] = ["op": "call.get", "call_id": .string(callID)]
            if let after { request["notes_after"] = .int(after) }
            // With --json an error is printed as it came; the pages are printed whole, once.
            let response = try performRead(
                request, on: connection, json: output.json, echo: false, reason: &reason, what: "reading call \(callID)")
            guard case .object(var answer) = response, case .object(var call) = answer["call"] else {
                throw CLIError("hotlined answered call.get without a call")
            }
            notes += call["notes"]?.arrayValue ?? []
            guard let next = answer["notes_next"]?.intValue else {
                call["notes"] = .array(notes)
                answer["call"] = .object(call)
                return .object(answer)
            }
            // Each page starts after the last; a cursor that does not move would loop for ever.
            guard after.map({ next > $0 }) ?? true else {
                throw CLIError("hotlined answered notes_next \(next) after notes_after \(after!); giving up")
            }
            after = next
        }
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List calls received in a time range.")

    @ParentCommand var parent: HotlineCtl
    @Option(help: "From (RFC 3339; default 24 hours ago).") var from: String?
    @Option(help: "To, exclusive (RFC 3339 or 'now'; default now).") var to = "now"
    @Option(help: "Only this route.") var route: String?
    @Option(help: "At most this many calls per page (1-1000).") var limit = 100
    @Flag(help: "Follow next_after_seq until every call in the range is listed.") var all = false
    @OptionGroup var reasonOptions: ReasonOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let toTime = try parseTime(to, flag: "--to")
        let fromTime = try from.map { try parseTime($0, flag: "--from") } ?? toTime.adding(seconds: -86_400)
        let connection = try parent.connect()
        var after: Int64? = nil
        var printedHeader = false
        var reason = reasonOptions.reason
        repeat {
            var request: [String: JSONValue] = [
                "op": "calls.list", "from": .string(fromTime.rfc3339), "to": .string(toTime.rfc3339),
                "limit": .int(Int64(limit)),
            ]
            if let route { request["route"] = .string(route) }
            if let after { request["after_seq"] = .int(after) }
            let response = try performRead(request, on: connection, json: output.json, reason: &reason, what: "listing calls")
            after = response["next_after_seq"]?.intValue
            if output.json { continue }
            if !printedHeader {
                print(
                    "RECEIVED (UTC)        CALL                                  ROUTE                   GRADE      MARKING             ANON ESC OUTCOME"
                )
                printedHeader = true
            }
            for c in response["calls"]?.arrayValue ?? [] {
                func col(_ key: String, _ width: Int) -> String {
                    (c[key]?.stringValue ?? "-").padding(toLength: width, withPad: " ", startingAt: 0)
                }
                let anon = c["anonymous"] == .bool(true) ? "yes " : "no  "
                let esc = c["escalated"] == .bool(true) ? "yes " : "no  "
                let received = String((c["received_at"]?.stringValue ?? "-").prefix(19)).replacingOccurrences(of: "T", with: " ")
                print(
                    received.padding(toLength: 22, withPad: " ", startingAt: 0) + col("call_id", 38) + col("route", 24) + col("grade", 11)
                        + col("marking", 20) + anon + " " + esc + (c["outcome"]?.stringValue ?? "open"))
            }
        } while all && after != nil
        if !output.json, after != nil {
            print("(more: run again with --all, or use after_seq \(after!))")
        }
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the daemon's counters.")

    @ParentCommand var parent: HotlineCtl
    @OptionGroup var output: OutputOptions

    func run() throws {
        let response = try perform(["op": "stats"], on: try parent.connect(), json: output.json)
        guard !output.json, let members = response.objectValue else { return }
        for key in members.keys.sorted() where key != "ok" && key != "req" {
            let value = members[key]!
            let text = value.intValue.map(String.init) ?? value.stringValue ?? JSONWriter.string(value)
            print(key.padding(toLength: 16, withPad: " ", startingAt: 0) + text)
        }
    }
}

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a new 256-bit encryption key (64 hexadecimal characters).",
        discussion:
            "Store it as the systemd credential hotlined.key, readable by root only: (umask 077; hotlinectl keygen > /etc/hotlined/hotlined.key). hotlined refuses a key file group or others can read."
    )

    func run() throws {
        print(KeyRing.generateHex())
    }
}
