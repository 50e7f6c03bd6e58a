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
        let reader = try parent.reader(reason: reasonOptions.reason, what: "reading call \(callID)")
        // Every page of notes, printed once as one answer (with --json, the answer's line
        // with the notes of every page and no notes_next).
        let answer = try reporting(json: output.json) { try reader.wholeCall(callID) }
        if output.json {
            print(JSONWriter.string(Response(req: nil, result: .success(answer.json)).json))
            return
        }
        Self.describe(answer.call)
    }

    static func describe(_ call: CallRecord) {
        let c = call.summary
        func yes(_ b: Bool) -> String { b ? "yes" : "no" }
        print("Call \(c.callID)")
        // How the call came in, and the relay and form reference when it has them.
        var channelRows: [(String, String?)] = [("channel", c.channel.rawValue)]
        if let relay = c.relay {
            channelRows.append(("relay", relay.kind.rawValue + (relay.reference.map { ", reference \($0)" } ?? ", no reference yet")))
        }
        if let form = c.formReference { channelRows.append(("form ref", form)) }
        for (label, value) in [("dialled", c.dialled.isEmpty ? nil : c.dialled)] + channelRows + [
            ("route", c.route), ("grade", c.grade), ("marking", c.marking),
            ("anonymous", yes(c.anonymous)), ("escalated", yes(c.escalated)), ("category", c.category),
            ("received", c.receivedAt.rfc3339), ("answered", c.answeredAt?.rfc3339), ("ended", c.endedAt?.rfc3339),
            ("outcome", c.outcome), ("workstation", c.workstation), ("handler", c.handler),
            ("started by", String(call.ownerUID)), ("logged", call.recordedAt?.rfc3339), ("cli", call.identity.cli),
        ] as [(String, String?)] {
            print("  " + label.padding(toLength: 12, withPad: " ", startingAt: 0) + (value ?? "-"))
        }
        for (key, value) in [("name", call.identity.name), ("contact", call.identity.contact), ("address", call.identity.address)] {
            // "caller contact" is longer than the column: it keeps a space before its value.
            if let value { print("  " + "caller \(key)".padding(toLength: 16, withPad: " ", startingAt: 0) + value) }
        }
        if !c.flags.isEmpty {
            let set = c.flagsSet
            print("  flags       \(set.isEmpty ? "-" : set.joined(separator: ", "))")
        }
        if let location = call.location {
            let coords = location.lat.map { lat in " (\(lat), \(location.lon ?? 0))" } ?? ""
            print("  location    \(location.text ?? "")\(coords)")
        }
        if let hold = call.hold {
            print("  legal hold  since \(hold.heldAt.rfc3339) by uid \(hold.heldBy)\(hold.reason.map { ": \($0)" } ?? "")")
        }
        if !call.history.isEmpty {
            print("Grade and marking")
            for h in call.history {
                let who = "uid \(h.uid)" + (h.handler.map { ", handler \($0)" } ?? "") + (h.workstation.map { ", \($0)" } ?? "")
                let what =
                    h.gradeFrom == nil
                    ? "started \(h.gradeTo), \(h.markingTo)"
                    : [
                        h.gradeFrom != h.gradeTo ? "grade \(h.gradeFrom ?? "-") → \(h.gradeTo)" : nil,
                        h.markingFrom != h.markingTo ? "marking \(h.markingFrom ?? "-") → \(h.markingTo)" : nil,
                    ].compactMap { $0 }.joined(separator: ", ")
                let why = h.reason.map { ": \($0)" } ?? (h.cause.map { " (\($0))" } ?? "")
                print("  \(h.at.rfc3339)  \(what) [\(who), logged \(h.recordedAt.rfc3339)]\(why)")
            }
        }
        if !call.alerts.isEmpty {
            print("Alerts")
            for a in call.alerts {
                let acked = a.ackedAt.map { "acknowledged \($0.rfc3339)" } ?? "NOT ACKNOWLEDGED"
                print("  \(a.raisedAt.rfc3339)  \(a.reason)  level \(a.level)  \(acked)")
            }
        }
        if !call.notes.isEmpty {
            print("Notes")
            for n in call.notes {
                // What the workstation declared, then what the daemon saw: the writer's uid and
                // when it was received.
                let seen = n.uid.map { uid in " [uid \(uid)" + (n.recordedAt.map { ", logged \($0.rfc3339)" } ?? "") + "]" } ?? ""
                print("  \(n.at.rfc3339)  \(n.by)\(seen): \(n.text)")
            }
        }
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List calls received in a time range.")

    @ParentCommand var parent: HotlineCtl
    @Option(help: "From (RFC 3339; default 24 hours ago).") var from: String?
    @Option(help: "To, exclusive (RFC 3339 or 'now'; default now).") var to = "now"
    @Option(help: "Only this route.") var route: String?
    @Option(help: "Only the calls that came in on this channel.") var channel: CallChannel?
    @Option(help: "At most this many calls per page (1-1000).") var limit = 100
    @Flag(help: "Follow next_after_seq until every call in the range is listed.") var all = false
    @OptionGroup var reasonOptions: ReasonOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let toTime = try parseTime(to, flag: "--to")
        let fromTime = try from.map { try parseTime($0, flag: "--from") } ?? toTime.adding(seconds: -86_400)
        let reader = try parent.reader(reason: reasonOptions.reason, what: "listing calls")
        var printedHeader = false
        let query = CallsQuery(from: fromTime, to: toTime, route: route, limit: limit, channel: channel)
        let more = try reporting(json: output.json) {
            try reader.listCalls(query, all: all) { page in
                if output.json {
                    print(JSONWriter.string(page.line))
                    return
                }
                if !printedHeader {
                    print(
                        "RECEIVED (UTC)        CALL                                  CHANNEL          ROUTE                   GRADE      MARKING             ANON ESC OUTCOME"
                    )
                    printedHeader = true
                }
                for c in page.answer.calls {
                    func col(_ text: String?, _ width: Int) -> String {
                        (text ?? "-").padding(toLength: width, withPad: " ", startingAt: 0)
                    }
                    let received = String(c.receivedAt.rfc3339.prefix(19)).replacingOccurrences(of: "T", with: " ")
                    print(
                        received.padding(toLength: 22, withPad: " ", startingAt: 0) + col(c.callID, 38) + col(c.channel.rawValue, 17)
                            + col(c.route, 24)
                            + col(c.grade, 11) + col(c.marking, 20) + (c.anonymous ? "yes " : "no  ") + " "
                            + (c.escalated ? "yes " : "no  ") + (c.outcome ?? "open"))
                }
            }
        }
        if !output.json, let more {
            print("(more: run again with --all, or use after_seq \(more))")
        }
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the daemon's counters.")

    @ParentCommand var parent: HotlineCtl
    @OptionGroup var output: OutputOptions

    func run() throws {
        let stats = try perform(.stats, on: try parent.reader(), json: output.json, as: StatsAnswer.self)
        guard !output.json else { return }
        for (name, value) in stats.counters {
            print(name.padding(toLength: 16, withPad: " ", startingAt: 0) + value)
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
