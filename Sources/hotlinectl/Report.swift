import ArgumentParser
import Foundation
import HotlineClient
import HotlineCommandLine
import HotlineCore
import HotlineTime

/// `hotlinectl report`: the answer-time figures of a month (or a range) per route, in the
/// shape of the Home Office's monthly 999 release, and per route and channel (issue 18), as
/// CSV, with an HTML page charting each day and the JSON behind both.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a month's answer-time report per route and channel: CSV as the Home Office publishes, HTML, JSON.",
        discussion: """
            Months are calendar months on the shifts' timezone (a month with a clock change is \
            743 or 745 hours). Files are named answer-times-2026-11.csv, .html and .json and \
            written whole or not at all. Reads every call of the period through the daemon's \
            export, audited as one (supervisors, auditors).
            """)

    @ParentCommand var parent: HotlineCtl
    @Option(help: "The month, as YYYY-MM.") var month: String?
    @Option(help: "From (RFC 3339), instead of --month.") var from: String?
    @Option(help: "To, exclusive (RFC 3339 or 'now'), with --from.") var to: String?
    @Option(help: "csv, json or html; repeat for several (default: all three).") var format: [Export.Format] = []
    @Option(help: "The directory to write to (default: the current one).") var out = "."
    @Option(help: .hidden) var pageSize = 1000
    @OptionGroup var reasonOptions: ReasonOptions

    func validate() throws {
        switch (month, from, to) {
        case (let m?, nil, nil):
            guard ShiftCalendar.month(m) != nil else { throw ValidationError("--month must be YYYY-MM, such as 2026-11.") }
        case (nil, _?, _?): break
        case (_?, _, _): throw ValidationError("Give --month, or --from and --to, not both.")
        default: throw ValidationError("Give --month YYYY-MM, or --from and --to.")
        }
    }

    func run() throws {
        let formats = format.isEmpty ? Export.Format.allCases : Array(Set(format)).sorted { $0.rawValue < $1.rawValue }
        let window: ExportQuery.Window =
            if let month { .month(month) } else { .range(from: try parseTime(from!, flag: "--from"), to: try parseTime(to!, flag: "--to")) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError("\(out) is not a directory")
        }
        let reader = try parent.reader(reason: reasonOptions.reason, what: "this report")
        var report: PeriodReport? = nil
        try reporting(json: false) {
            // A period has no handover: none is asked for, read or disclosed.
            try reader.export(window, pageSize: pageSize, handover: false) { page in
                if report == nil {
                    guard let zone = SystemTimeZone(page.shift.timezone) else {
                        throw CLIError("the timezone \(page.shift.timezone) is not in this system's timezone database")
                    }
                    let calendar = ShiftCalendar(settings: ShiftSettings(timezone: page.shift.timezone, schedule: []), zone: zone)
                    report = PeriodReport(window: page.shift, days: calendar.days(of: page.shift))
                    report!.adopt(routes: page.routes)
                }
                for row in page.calls { report!.add(ExportCall(row)) }
            }
        }
        guard let report else { throw CLIError("the daemon answered the export with no page") }
        let stem = report.window.name == "month" ? "answer-times-\(report.window.date ?? "")" : "answer-times-" + report.window.fileStem
        var files = try ExportFiles(directory: out, stem: stem, formats: formats, csvHeader: "")
        defer { files.abandon() }
        try files.appendCSV(report.csv)
        try files.write(.json, JSONWriter.string(report.json) + "\n")
        if formats.contains(.html) {
            let page = PeriodReportHTML(
                report: report, generatedAt: Timestamp(secondsSince1970: Date().timeIntervalSince1970), generator: "hotlinectl report")
            try files.write(.html, page.page)
        }
        let written = try files.commit()
        print("\(report.calls) calls, \(report.window.description); wrote \(written.joined(separator: ", "))")
    }
}

/// What `hold` and `release` take: the call, why, and `--json`.
struct HoldOptions: ParsableArguments {
    @Argument(help: "The call's UUID.") var callID: String
    @Option(help: "Why (required; kept encrypted in the audit log).") var reason: String
    @OptionGroup var output: OutputOptions

    /// Sends `call.hold` (or `call.release`) and says what it did.
    func send(release: Bool, on parent: HotlineCtl, _ command: some ParsableCommand) throws {
        let reader = LogReader(connection: try parent.connect())
        let request: Request = release ? .callRelease(callID: callID, reason: reason) : .callHold(callID: callID, reason: reason)
        let answer = try command.perform(request, on: reader, json: output.json, as: HoldAnswer.self)
        guard !output.json else { return }
        print(
            release
                ? "Call \(callID) was released from the legal hold put on it at \(answer.hold.heldAt.rfc3339)."
                : "Call \(callID) is on legal hold since \(answer.hold.heldAt.rfc3339).")
    }
}

/// `hotlinectl hold CALL_ID --reason …`: puts a call on legal hold.
struct Hold: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a call on legal hold: retention never purges it (supervisors, auditors; audited).")

    @ParentCommand var parent: HotlineCtl
    @OptionGroup var options: HoldOptions

    func run() throws { try options.send(release: false, on: parent, self) }
}

/// `hotlinectl release CALL_ID --reason …`.
struct Release: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Release a call from legal hold (supervisors, auditors; audited).")

    @ParentCommand var parent: HotlineCtl
    @OptionGroup var options: HoldOptions

    func run() throws { try options.send(release: true, on: parent, self) }
}

/// `hotlinectl holds`: every call on legal hold.
struct Holds: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the calls on legal hold (supervisors, auditors; audited).")

    @ParentCommand var parent: HotlineCtl
    @OptionGroup var reasonOptions: ReasonOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let reader = try parent.reader(reason: reasonOptions.reason, what: "listing the legal holds")
        let answer = try perform(.holdsList(), on: reader, json: output.json, as: HoldsListAnswer.self)
        guard !output.json else { return }
        if answer.holds.isEmpty { print("No call is on legal hold.") }
        for h in answer.holds {
            print(
                "\(h.callID)  held \(h.heldAt.rfc3339) by uid \(h.heldBy)  \(h.route ?? "-")  received \(h.receivedAt?.rfc3339 ?? "-")  \(h.reason ?? "(reason unreadable)")"
            )
        }
    }
}

/// `call.hold`'s and `call.release`'s answer.
struct HoldAnswer: WireValue {
    var hold: LegalHold
    var releasedAt: Timestamp?

    var json: JSONValue {
        var m: [String: JSONValue] = ["hold": hold.json]
        if let releasedAt { m["released_at"] = .string(releasedAt.rfc3339) }
        return .object(m)
    }

    init(json: JSONValue) throws(AnswerError) {
        let r = try AnswerReader(json)
        hold = try r.value("hold")
        releasedAt = try r.optionalTime("released_at")
    }
}
