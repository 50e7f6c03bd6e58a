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
        let window: ExportQuery.Window
        if let shift {
            window = .shift(shift)
        } else if let from, let to {
            window = .range(from: try parseTime(from, flag: "--from"), to: try parseTime(to, flag: "--to"))
        } else {
            throw ValidationError("Give --shift (previous, current or NAME:YYYY-MM-DD), or --from and --to.")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError("\(out) is not a directory")
        }
        let reader = try parent.reader(reason: reasonOptions.reason, what: "this export")

        var files: ExportFiles? = nil
        defer { files?.abandon() }
        var summary: ShiftSummary? = nil
        let resolved = try reporting(json: false) {
            try reader.export(window, pageSize: pageSize) { page in
                if files == nil {
                    files = try ExportFiles(directory: out, stem: page.shift.fileStem, formats: formats)
                    summary = ShiftSummary(window: page.shift)
                    summary!.adopt(routes: page.routes, handover: page.handover)
                }
                var rows = ""
                for row in page.calls {
                    let call = ExportCall(row)
                    summary!.add(call)
                    rows += ExportCSV.row(call)
                }
                try files!.appendCSV(rows)
            }
        }
        guard files != nil, let summary else { throw CLIError("the daemon answered the export with no page") }
        try files!.write(.json, JSONWriter.string(summary.json) + "\n")
        if formats.contains(.html) {
            guard let zone = SystemTimeZone(resolved.timezone) else {
                throw CLIError("the timezone \(resolved.timezone) is not in this system's timezone database")
            }
            let page = ExportHTML(
                summary: summary, zone: zone, marking: summary.highestMarking.rawValue,
                generatedAt: Timestamp(secondsSince1970: Date().timeIntervalSince1970), generator: "hotlinectl export"
            ).page
            try files!.write(.html, page)
        }
        let written = try files!.commit()
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

    /// `csvHeader` is written first when a CSV is asked for (the period report writes
    /// its own CSV whole, header and all).
    init(directory: String, stem: String, formats: [Export.Format], csvHeader: String = ExportCSV.header) throws {
        self.directory = directory
        self.stem = stem
        self.formats = formats
        if formats.contains(.csv) {
            let path = try reserve(.csv)
            csv = FileHandle(forWritingAtPath: path)
            csv?.write(Data(csvHeader.utf8))
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
