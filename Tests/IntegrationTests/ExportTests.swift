import Foundation
import HotlineClient
import HotlineCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `hotlinectl export` against the built daemon (PROTOCOL.md section 11): the files of a
/// shift, with nothing identifying in them, audited, refused to handlers; and the HTML
/// report rendered by headless Chromium when it is installed.
@Suite(.serialized)
struct ExportTests {
    static let caller = ["Agatha Witness", "07700900555", "12 Secret Lane"]
    static let note = "saw two men loading drums into a white van"
    static let place = "behind the cold store on Dock Road"

    /// A night shift (23 November 2026, GMT) of five calls with identities, notes and
    /// locations, one anonymous, one still open (a 999 BSL video relay call), one escalation
    /// acknowledged; plus a call just before and one exactly at the end, which belong to the
    /// shifts either side.
    static func daemonWithANight() throws -> (Daemon, HotlineConnection, [String]) {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        let identity: [String: JSONValue] = [
            "cli": .string(caller[1]), "caller": ["name": .string(caller[0]), "address": .string(caller[2])],
        ]
        let ids = (0..<7).map { _ in UUIDText.random() }
        let starts: [(String, String, String)] = [
            (ids[0], "999", "2026-11-23T23:10:00Z"), (ids[1], "0800 789 321", "2026-11-24T00:30:00Z"),
            (ids[2], "101", "2026-11-24T03:00:00Z"), (ids[3], "999", "2026-11-24T06:59:59Z"),
            (ids[4], "01632 960000", "2026-11-24T05:00:00Z"),
            (ids[5], "101", "2026-11-23T22:59:59Z"),  // the late shift's
            (ids[6], "101", "2026-11-24T07:00:00Z"),  // the next early shift's
        ]
        var alert: JSONValue = .null
        for (id, dialled, at) in starts {
            let received = try Timestamp(rfc3339: at)
            var extra = identity.merging(["answered_at": .string(received.adding(seconds: 5).rfc3339)]) { a, _ in a }
            if id == ids[3] { extra["channel"] = "video-relay-bsl" }
            let ack = try c.call(Req.start(call: id, dialled: dialled, at: at, extra: extra))
            #expect(ack.isOK, "\(ack)")
            if id == ids[0] { alert = ack["alert_id"] ?? .null }
            let later = received.adding(seconds: 60).rfc3339
            #expect(try c.call(Req.update(call: id, set: ["location": ["text": .string(place)]], note: note, at: later)).isOK)
        }
        #expect(try c.call(Req.update(call: ids[1], set: ["anonymous_requested": true, "category": "suspicious-activity"])).isOK)
        for (id, end) in [
            (ids[0], "2026-11-23T23:20:00Z"), (ids[1], "2026-11-24T00:45:00Z"), (ids[2], "2026-11-24T03:05:00Z"),
            (ids[4], "2026-11-24T05:01:00Z"),
        ] {
            #expect(try c.call(Req.end(call: id, outcome: "report-taken", at: end)).isOK)
        }
        #expect(try c.call(["op": "alert.ack", "alert_id": alert]).isOK)
        return (daemon, c, ids)
    }

    @Test func aShiftIsExportedWithoutAnythingIdentifyingAndAudited() throws {
        let (daemon, connection, ids) = try Self.daemonWithANight()
        let out = daemon.directory + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let r = try run(
            Daemon.hotlinectl,
            [
                "--socket", daemon.socket, "export", "--reason", "Shift summary for the duty inspector", "--shift", "night:2026-11-23",
                "--out", out,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("5 calls, night 2026-11-23"), "\(r.stdout)")
        let names = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(names == ["night-2026-11-23.csv", "night-2026-11-23.html", "night-2026-11-23.json"])

        let csv = try String(contentsOfFile: out + "/night-2026-11-23.csv", encoding: .utf8)
        let lines = csv.split(separator: "\r\n")
        #expect(lines.count == 6)
        #expect(Set(lines.dropFirst().map { String($0.prefix(36)) }) == Set(ids[0..<5]))
        // Each call's channel is the CSV's last column: the BSL relay call's, and voice.
        #expect(lines[0].hasSuffix(",held,channel"))
        for line in lines.dropFirst() {
            #expect(line.hasSuffix(line.hasPrefix(ids[3]) ? ",video-relay-bsl" : ",voice"), "\(line)")
        }
        let summary = try JSONParser.parse(String(contentsOfFile: out + "/night-2026-11-23.json", encoding: .utf8))
        #expect(summary["calls"] == 5)
        #expect(summary["escalated"] == 2)
        #expect(summary["anonymous"] == 1)
        #expect(summary["open"] == 1)
        #expect(summary["alerts"]?["raised"] == 2)
        #expect(summary["alerts"]?["acked"] == 1)
        #expect(summary["median_answer_seconds"] == 5.0)
        #expect(summary["by_route"] == ["emergency": 2, "anti-terrorist-hotline": 1, "non-emergency": 1, "unrouted": 1])
        // By channel: four voice calls on four routes; the BSL call, answered in 5 s (when
        // the handler answered the interpreter's video call), meets 999's standard.
        #expect(summary["by_channel"]?.objectValue?.keys.sorted() == ["video-relay-bsl", "voice"])
        #expect(summary["by_channel"]?["voice"]?["calls"] == 4)
        #expect(
            summary["by_channel"]?["voice"]?["by_route"]?.objectValue?.keys.sorted() == [
                "anti-terrorist-hotline", "emergency", "non-emergency", "unrouted",
            ])
        let bsl = try #require(summary["by_channel"]?["video-relay-bsl"])
        #expect(bsl["calls"] == 1)
        #expect(bsl["answer_times"]?["standard"] == .null, "over every route: no one route's standard")
        #expect(bsl["by_route"]?.objectValue?.keys.sorted() == ["emergency"])
        #expect(bsl["by_route"]?["emergency"]?["under_10s"] == ["calls": 1, "share": 1.0])
        #expect(bsl["by_route"]?["emergency"]?["standard"]?["met"] == true)

        // No identifying field, no note and no location in any file.
        for name in names {
            let text = try String(contentsOfFile: out + "/" + name, encoding: .utf8)
            for secret in Self.caller + [Self.note, Self.place, "7700900555"] {
                #expect(!text.contains(secret), "\(secret) in \(name)")
            }
        }
        // The export is audited: who, what window, how many calls.
        let audit = try connection.call(["op": "audit.list", "from": "2020-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"])
        let exports = audit["entries"]?.arrayValue?.filter { $0["op"] == "export" } ?? []
        #expect(exports.count == 1)
        #expect(exports.first?["filter"]?["shift"] == "night:2026-11-23")
        #expect(exports.first?["calls"] == 5)
        #expect(exports.first?["from"] == "2026-11-23T23:00:00Z")
        #expect(exports.first?["result"] == "ok")

        // The calls either side belong to the shifts either side.
        let late = try run(
            Daemon.hotlinectl,
            [
                "--socket", daemon.socket, "export", "--reason", "Shift summary for the duty inspector", "--shift", "late:2026-11-23",
                "--format", "csv", "--out", out,
            ])
        #expect(late.stdout.hasPrefix("1 calls"), "\(late.stdout)")
        let early = try run(
            Daemon.hotlinectl,
            [
                "--socket", daemon.socket, "export", "--reason", "Shift summary for the duty inspector", "--shift", "early:2026-11-24",
                "--format", "json", "--out", out,
            ])
        #expect(early.stdout.hasPrefix("1 calls"), "\(early.stdout)")
        #expect(!FileManager.default.fileExists(atPath: out + "/early-2026-11-24.csv"))  // only what was asked
    }

    @Test func pagesSmallerThanTheShiftGiveTheSameFiles() throws {
        let (daemon, _, _) = try Self.daemonWithANight()
        var csvs: [String] = []
        for size in ["1000", "2"] {
            let out = daemon.directory + "/pages-\(size)"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let r = try run(
                Daemon.hotlinectl,
                [
                    "--socket", daemon.socket, "export", "--reason", "Shift summary for the duty inspector", "--from",
                    "2026-11-23T23:00:00Z", "--to", "2026-11-24T07:00:00Z", "--page-size", size, "--format", "csv", "--out", out,
                ])
            #expect(r.status == 0, "\(r.stderr)")
            csvs.append(try String(contentsOfFile: out + "/calls-20261123T230000Z-20261124T070000Z.csv", encoding: .utf8))
        }
        #expect(csvs[0] == csvs[1])
        #expect(csvs[0].split(separator: "\r\n").count == 6)
    }

    @Test func anEmptyShiftStillGivesEveryFile() throws {
        let daemon = try Daemon()
        try daemon.start()
        let out = daemon.directory + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let r = try run(
            Daemon.hotlinectl,
            [
                "--socket", daemon.socket, "export", "--reason", "Shift summary for the duty inspector", "--shift", "early:2026-06-01",
                "--out", out,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try String(contentsOfFile: out + "/early-2026-06-01.csv", encoding: .utf8) == ExportCSV.header)
        let summary = try JSONParser.parse(String(contentsOfFile: out + "/early-2026-06-01.json", encoding: .utf8))
        #expect(summary["calls"] == 0)
        #expect(summary["shift"]?["from"] == "2026-06-01T06:00:00Z")  // 07:00 BST
        #expect(summary["per_hour"]?.arrayValue?.count == 8)
        #expect(try String(contentsOfFile: out + "/early-2026-06-01.html", encoding: .utf8).contains("No calls in this shift."))
    }

    @Test func badShiftsSayWhy() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        let bad = try c.call(["op": "export", "shift": "dawn:2026-11-23", "reason": "Shift summary"])
        #expect(bad.errorCode == "invalid")
        #expect(bad.errorField == "shift")
        #expect(bad["error"]?["message"]?.stringValue?.contains("no shift named \"dawn\"") == true)
        #expect(try c.call(["op": "export", "shift": "previous", "from": "2026-11-23T23:00:00Z"]).errorField == "shift")
        #expect(try c.call(["op": "export", "from": "2026-11-23T23:00:00Z"]).errorField == "to")
        let cli = try run(
            Daemon.hotlinectl,
            [
                "--socket", daemon.socket, "export", "--reason", "Shift summary for the duty inspector", "--shift", "previous", "--out",
                "/nonexistent",
            ])
        #expect(cli.status != 0)
        #expect(cli.stderr.contains("/nonexistent is not a directory"), "\(cli.stderr)")

    }

    /// A handler (a uid of the handler role, run with setpriv) is refused an export by
    /// hotlinectl, and nothing is left behind in the output directory.
    @Test(.enabled(if: Requires.rootAndSetpriv, "needs root and setpriv to run hotlinectl as a handler"))
    func aHandlersExportIsRefusedAndLeavesNothing() throws {
        let daemon = try Daemon()
        var config = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        config = config.replacingOccurrences(
            of: "  handler:\n    groups: [hotline]", with: "  handler:\n    users: [\"61002\"]\n    groups: [hotline]")
        try config.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        try daemon.start()
        daemon.openSocketToEveryone()
        let out = daemon.directory + "/handler-out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        chmod(out, 0o777)
        let handler = try run(
            "/usr/bin/setpriv",
            [
                "--reuid=61002", "--regid=61002", "--clear-groups", Daemon.hotlinectl, "--socket", daemon.socket, "export", "--reason",
                "Shift summary for the duty inspector", "--shift", "previous", "--out", out,
            ])
        #expect(handler.status == 1)
        #expect(handler.stderr.contains("forbidden"), "\(handler.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty, "nothing is left behind")
    }

    /// The report as a duty inspector sees it: rendered by headless Chromium (Debian's
    /// package) and the screenshot's pixels checked for the chart's bars in the route colours.
    @Test(.enabled(if: Requires.chromium != nil, "Chromium is not installed (make test installs it)"))
    func theReportRendersInChromiumWithItsChart() throws {
        let chromium = try #require(Requires.chromium)
        try #require(Requires.executable("/usr/bin/python3"), "the PNG is read with python3")
        let (daemon, _, _) = try Self.daemonWithANight()
        let out = daemon.directory + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        #expect(
            try run(
                Daemon.hotlinectl,
                [
                    "--socket", daemon.socket, "export", "--reason", "Shift summary for the duty inspector", "--shift", "night:2026-11-23",
                    "--format", "html", "--out", out,
                ]
            ).status == 0)
        // Count the pixels of each route colour (Okabe-Ito) in the screenshot, tall enough to
        // reach the chart below the answer times by route and by channel.
        let counts = try Self.colourCounts(
            of: "\(out)/night-2026-11-23.html", chromium: chromium, directory: daemon.directory, height: 1800,
            colours: ExportHTML.palette.prefix(4).map { String($0.dropFirst()) })
        // Four routes had calls: each colour paints a bar (tens of pixels wide) and a swatch.
        for (route, count) in zip(["first", "second", "third", "fourth"], counts) {
            #expect(count > 150, "the \(route) route's colour covers only \(count) pixels")
        }
    }

    /// Renders `page` in headless Chromium (900 px wide, `height` tall) and counts the
    /// pixels of each of `colours` (hex, without #) in the screenshot.
    static func colourCounts(of page: String, chromium: String, directory: String, height: Int, colours: [String]) throws -> [Int] {
        let png = directory + "/report.png"
        let shot = try run(
            chromium,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(directory)/chromium",
                "--window-size=900,\(height)", "--screenshot=\(png)", "file://\(page)",
            ])
        try #require(FileManager.default.fileExists(atPath: png), "chromium made no screenshot: \(shot.stderr)")
        return try pixelCounts(png: png, colours: colours)
    }

    /// How many pixels of the screenshot `png` have each of `colours` (hex, without #).
    static func pixelCounts(png: String, colours: [String]) throws -> [Int] {
        let counted = try run("/usr/bin/python3", ["-c", pngColourCounter, png] + colours)
        #expect(counted.status == 0, "\(counted.stderr)")
        let counts = counted.stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        try #require(counts.count == colours.count, "\(counted.stdout)")
        return counts
    }

    /// Decodes an 8-bit RGB/RGBA, non-interlaced PNG and prints how many pixels have each
    /// colour given (hex), within a small tolerance for anti-aliasing.
    static let pngColourCounter = #"""
        import sys, zlib, struct
        data = open(sys.argv[1], 'rb').read()
        assert data[:8] == b'\x89PNG\r\n\x1a\n'
        pos, idat, w = 8, b'', 0
        while pos < len(data):
            n, kind = struct.unpack('>I4s', data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]; pos += 12 + n
            if kind == b'IHDR': w, h, depth, ctype = struct.unpack('>IIBB', body[:10]); assert depth == 8 and ctype in (2, 6)
            if kind == b'IDAT': idat += body
        bpp = 4 if ctype == 6 else 3
        raw, stride, prev, rows, i = zlib.decompress(idat), w * bpp, bytearray(w * bpp), [], 0
        for _ in range(h):
            f = raw[i]; line = bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0; b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
                if f == 1: line[x] = (line[x] + a) & 255
                elif f == 2: line[x] = (line[x] + b) & 255
                elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
                elif f == 4:
                    p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            rows.append(line); prev = line
        wanted = [tuple(int(c[k:k + 2], 16) for k in (0, 2, 4)) for c in sys.argv[2:]]
        counts = [0] * len(wanted)
        for line in rows:
            for x in range(0, stride, bpp):
                r, g, b = line[x], line[x + 1], line[x + 2]
                for k, (R, G, B) in enumerate(wanted):
                    if abs(r - R) < 12 and abs(g - G) < 12 and abs(b - B) < 12: counts[k] += 1
        print(' '.join(map(str, counts)))
        """#
}
