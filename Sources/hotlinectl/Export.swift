import ArgumentParser
import Foundation
import HotlineCommandLine
import HotlineClient
import HotlineCore
import HotlineTime

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a shift's calls as CSV, its summary as JSON and a report as HTML (supervisors, auditors).",
        discussion: """
            Files are named after the shift (night-2026-11-23.csv, …) and written whole or not at \
            all. No identifying field and no note is in any of them; every export is audited.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case csv, json, html
    }

    @ParentCommand var parent: HotlineCtl
    @Option(help: "previous (the last shift that has ended), current, or NAME:YYYY-MM-DD.") var shift: String?
    @Option(help: "From (RFC 3339), instead of --shift.") var from: String?
    @Option(help: "To, exclusive (RFC 3339 or 'now'), with --from.") var to: String?
    @Option(help: "csv, json or html; repeat for several (default: all three).") var format: [Format] = []
    @Option(help: "The directory to write to (default: the current one).") var out = "."
    @Option(help: .hidden) var pageSize = 1000
    @OptionGroup var reasonOptions: ReasonOptions

    func validate() throws {
        switch (shift, from, to) {
        case (_?, nil, nil), (nil, _?, _?): break
        case (_?, _, _): throw ValidationError("Give --shift, or --from and --to, not both.")
        default: throw ValidationError("Give --shift (previous, current or NAME:YYYY-MM-DD), or --from and --to.")
        }
    }

    func run() throws {
        let formats = format.isEmpty ? Format.allCases : Array(Set(format)).sorted { $0.rawValue < $1.rawValue }
        var window: [String: JSONValue] = [:]
        if let shift {
            window["shift"] = .string(shift)
        } else if let from, let to {
            window["from"] = .string(try parseTime(from, flag: "--from").rfc3339)
            window["to"] = .string(try parseTime(to, flag: "--to").rfc3339)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError("\(out) is not a directory")
        }
        let connection = try parent.connect()

        // The first page says which instants the shift covers; later pages ask for exactly
        // those, so a shift boundary passing mid-export changes nothing.
        var reason = reasonOptions.reason
        var request = window.merging(["op": "export", "limit": .int(Int64(pageSize))]) { a, _ in a }
        var first = try performRead(request, on: connection, json: false, reason: &reason, what: "this export")
        guard let resolved = first["shift"].flatMap(ShiftWindow.init(json:)) else {
            throw CLIError("the daemon's answer has no shift window")
        }
        request = [
            "op": "export", "from": .string(resolved.from.rfc3339), "to": .string(resolved.to.rfc3339), "limit": .int(Int64(pageSize)),
        ]

        var files = try ExportFiles(directory: out, stem: resolved.fileStem, formats: formats)
        defer { files.abandon() }
        var summary = ShiftSummary(window: resolved)
        while true {
            var rows = ""
            for call in first["calls"]?.arrayValue ?? [] {
                guard let c = ExportCall(json: call) else { throw CLIError("the daemon sent a call this export cannot read") }
                summary.add(c)
                rows += ExportCSV.row(c)
            }
            try files.appendCSV(rows)
            guard let next = first["next_after_seq"] else { break }
            request["after_seq"] = next
            first = try performRead(request, on: connection, json: false, reason: &reason, what: "this export")
        }
        try files.write(.json, JSONWriter.string(summary.json) + "\n")
        if formats.contains(.html) {
            guard let zone = SystemTimeZone(resolved.timezone) else {
                throw CLIError("the timezone \(resolved.timezone) is not in this system's timezone database")
            }
            let page = ExportHTML(
                summary: summary, zone: zone, marking: summary.highestMarking.rawValue,
                generatedAt: Timestamp(secondsSince1970: Date().timeIntervalSince1970), generator: "hotlinectl export"
            ).page
            try files.write(.html, page)
        }
        let written = try files.commit()
        print("\(summary.calls) calls, \(resolved.description); wrote \(written.joined(separator: ", "))")
    }
}

/// The export's files, written under temporary names and renamed into place together at
/// the end, so a reader (or a failed export) never sees half a file.
struct ExportFiles {
    let directory: String
    let stem: String
    let formats: [Export.Format]
    private var csv: FileHandle?
    private var pending: [(temporary: String, final: String)] = []

    init(directory: String, stem: String, formats: [Export.Format]) throws {
        self.directory = directory
        self.stem = stem
        self.formats = formats
        if formats.contains(.csv) {
            let path = try reserve(.csv)
            csv = FileHandle(forWritingAtPath: path)
            csv?.write(Data(ExportCSV.header.utf8))
        }
    }

    private mutating func reserve(_ format: Export.Format) throws -> String {
        let final = (directory as NSString).appendingPathComponent("\(stem).\(format.rawValue)")
        let temporary = final + ".part-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o640]) else {
            throw CLIError("cannot write \(temporary)")
        }
        pending.append((temporary, final))
        return temporary
    }

    func appendCSV(_ rows: String) throws {
        guard let csv, !rows.isEmpty else { return }
        try csv.write(contentsOf: Data(rows.utf8))
    }

    mutating func write(_ format: Export.Format, _ text: String) throws {
        guard formats.contains(format) else { return }
        let path = try reserve(format)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// Flushes and renames every file into place; returns their names.
    mutating func commit() throws -> [String] {
        if let csv {
            try csv.synchronize()
            try csv.close()
        }
        csv = nil
        for (temporary, final) in pending {
            guard rename(temporary, final) == 0 else {
                throw CLIError("cannot rename \(temporary) to \(final): \(String(cString: strerror(errno)))")
            }
        }
        defer { pending = [] }
        return pending.map { ($0.final as NSString).lastPathComponent }
    }

    /// Removes whatever was not committed.
    mutating func abandon() {
        try? csv?.close()
        for (temporary, _) in pending { unlink(temporary) }
        pending = []
    }
}
