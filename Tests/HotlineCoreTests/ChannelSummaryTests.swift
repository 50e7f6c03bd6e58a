import Foundation
import HotlineCore
import Testing

/// Issue 18's summaries by channel, checked against figures worked out by hand: the shift
/// export's CSV, JSON and HTML, and the period report's CSV, JSON and HTML, on one shift.
@Suite struct ChannelSummaryTests {
    /// A call of the night of 23 November 2026 (GMT, so local = UTC): received `minute`
    /// minutes after 23:00, answered `answer` seconds later (never, if nil, and ended).
    static func call(_ route: String, _ channel: CallChannel, minute: Double, answer: Double?) -> ExportCall {
        let received = ts("2026-11-23T23:00:00Z").adding(seconds: minute * 60)
        let answered = answer.map { received.adding(seconds: $0) }
        let dialled = ["emergency": "999", "non-emergency": "101"][route] ?? ""  // an online report names no number
        return ExportCall(
            id: UUIDText.random(), receivedAt: received, dialled: dialled, route: route, grade: "emergency", marking: "OFFICIAL",
            answeredAt: answered, endedAt: (answered ?? received).adding(seconds: 120), channel: channel)
    }

    /// The night's thirteen calls. The figures, by hand (the standard on emergency: 90% in
    /// under 10 s; anti-terrorist-hotline and non-emergency have none):
    ///
    /// | channel | route | answer times (s) |
    /// |---|---|---|
    /// | voice | emergency | 2, 3, 4, 5, 9.5, and one abandoned |
    /// | text-relay | emergency | 10 |
    /// | sms | emergency | 75 |
    /// | video-relay-bsl | emergency | 8, 40 |
    /// | online | anti-terrorist-hotline | 30, 90 |
    /// | voice | non-emergency | 45 |
    ///
    /// - emergency · voice: 6 calls, 5 answered, 1 abandoned; all 5 under 10 s; mean
    ///   23.5 / 5 = 4.7; p90 the ⌈0.9 × 5⌉ = 5th of 2, 3, 4, 5, 9.5 = 9.5; within 5 of 5 =
    ///   100% ≥ 90%: met.
    /// - emergency · text-relay: 1 call, 10 s: not *under* 10 s, so in the 10 to 60 band and
    ///   not within; mean and p90 10; 0 of 1 = 0%: NOT MET.
    /// - emergency · sms: 1 call, 75 s: 60 s or more; mean and p90 75; 0%: NOT MET.
    /// - emergency · video-relay-bsl: 2 calls, 8 (under 10) and 40 (10 to 60); mean 48 / 2 =
    ///   24; p90 the ⌈1.8⌉ = 2nd = 40; within 1 of 2 = 50% < 90%: NOT MET.
    /// - anti-terrorist-hotline · online: 2 calls, 30 (10 to 60) and 90 (60 or more); mean
    ///   60; p90 the 2nd = 90; no standard (average wait).
    /// - non-emergency · voice: 1 call, 45 s; mean and p90 45; no standard.
    /// - voice over every route (no standard): 7 calls, 6 answered (2, 3, 4, 5, 9.5, 45), 1
    ///   abandoned; under 10 s 5 (5/6 = 0.8333), 10 to 60 s 1 (0.1666); mean 68.5 / 6 =
    ///   11.41666… = 11.417 to the millisecond; p90 the ⌈5.4⌉ = 6th = 45.
    /// - emergency over every channel: 10 calls, 9 answered, 1 abandoned; sorted 2, 3, 4, 5,
    ///   8, 9.5, 10, 40, 75: under 10 s 6 (66.6%), 10 to 60 s 2 (22.2%), 60 s or more 1
    ///   (11.1%); mean 156.5 / 9 = 17.388… (17.4 to one place); p90 the ⌈8.1⌉ = 9th = 75;
    ///   within 6 of 9 = 66.6%: NOT MET.
    /// - Channels' calls: 7 + 1 + 1 + 2 + 2 = 13, every call once.
    static let calls: [ExportCall] = [
        call("emergency", .voice, minute: 10, answer: 2),
        call("emergency", .voice, minute: 20, answer: 3),
        call("emergency", .voice, minute: 30, answer: 4),
        call("emergency", .voice, minute: 40, answer: 5),
        call("emergency", .voice, minute: 50, answer: 9.5),
        call("emergency", .voice, minute: 60, answer: nil),
        call("emergency", .textRelay, minute: 70, answer: 10),
        call("emergency", .sms, minute: 80, answer: 75),
        call("emergency", .videoRelayBSL, minute: 90, answer: 8),
        call("emergency", .videoRelayBSL, minute: 100, answer: 40),
        call("anti-terrorist-hotline", .online, minute: 110, answer: 30),
        call("anti-terrorist-hotline", .online, minute: 120, answer: 90),
        call("non-emergency", .voice, minute: 130, answer: 45),
    ]

    static var summary: ShiftSummary {
        var s = ShiftSummary(window: ExportTests.night)
        s.adopt(routes: ReportTests.routes, handover: nil)
        for c in calls { s.add(c) }
        return s
    }

    static var period: PeriodReport {
        let window = try! ReportTests.calendar.window(month: "2026-11")
        var r = PeriodReport(window: window, days: ReportTests.calendar.days(of: window))
        r.adopt(routes: ReportTests.routes)
        for c in calls { r.add(c) }
        return r
    }

    /// `AnswerStats.json` as worked out by hand.
    static func stats(
        _ presented: Int64, answered: Int64, abandoned: Int64 = 0, bands: (JSONValue, JSONValue, JSONValue), mean: Double,
        p90: Double, standard: JSONValue = nil
    ) -> JSONValue {
        [
            "presented": .int(presented), "answered": .int(answered), "abandoned": .int(abandoned), "waiting": 0,
            "under_10s": bands.0, "10_to_60s": bands.1, "60s_or_more": bands.2, "mean_seconds": .double(mean),
            "p90_seconds": .double(p90), "standard": standard,
        ]
    }

    /// The national standard's member, `within` of the answered calls within it.
    static func national(_ within: Int64, share: Double, met: Bool) -> JSONValue {
        ["within_seconds": .double(10), "share": 0.9, "calls_within": .int(within), "share_within": .double(share), "met": .bool(met)]
    }

    @Test func theSummaryHasEachChannelsFiguresWorkedOutByHand() throws {
        let json = Self.summary.json
        let byChannel = try #require(json["by_channel"]?.objectValue)
        #expect(byChannel.keys.sorted() == ["online", "sms", "text-relay", "video-relay-bsl", "voice"])
        #expect(byChannel.values.compactMap { $0["calls"]?.intValue }.reduce(0, +) == 13)

        let voice = try #require(byChannel["voice"])
        #expect(voice["calls"] == 7)
        #expect(
            voice["answer_times"]
                == Self.stats(
                    7, answered: 6, abandoned: 1,
                    bands: (["calls": 5, "share": 0.8333], ["calls": 1, "share": 0.1666], ["calls": 0, "share": 0.0]),
                    mean: 11.417, p90: 45))
        #expect(voice["by_route"]?.objectValue?.keys.sorted() == ["emergency", "non-emergency"])
        #expect(
            voice["by_route"]?["emergency"]
                == Self.stats(
                    6, answered: 5, abandoned: 1,
                    bands: (["calls": 5, "share": 1.0], ["calls": 0, "share": 0.0], ["calls": 0, "share": 0.0]),
                    mean: 4.7, p90: 9.5, standard: Self.national(5, share: 1.0, met: true)))
        #expect(
            voice["by_route"]?["non-emergency"]
                == Self.stats(
                    1, answered: 1, bands: (["calls": 0, "share": 0.0], ["calls": 1, "share": 1.0], ["calls": 0, "share": 0.0]), mean: 45,
                    p90: 45))

        let bsl = try #require(byChannel["video-relay-bsl"])
        let bslFigures = Self.stats(
            2, answered: 2, bands: (["calls": 1, "share": 0.5], ["calls": 1, "share": 0.5], ["calls": 0, "share": 0.0]), mean: 24, p90: 40)
        #expect(bsl["calls"] == 2)
        #expect(bsl["answer_times"] == bslFigures)
        var bslEmergency = bslFigures.objectValue!
        bslEmergency["standard"] = Self.national(1, share: 0.5, met: false)
        #expect(bsl["by_route"] == ["emergency": .object(bslEmergency)])

        let textRelay = try #require(byChannel["text-relay"])
        #expect(textRelay["calls"] == 1)
        #expect(textRelay["by_route"]?["emergency"]?["10_to_60s"] == ["calls": 1, "share": 1.0], "10.0 s is not under 10 s")
        #expect(textRelay["by_route"]?["emergency"]?["standard"] == Self.national(0, share: 0, met: false))
        #expect(textRelay["by_route"]?["emergency"]?["mean_seconds"] == .double(10))

        let sms = try #require(byChannel["sms"])
        #expect(sms["calls"] == 1)
        #expect(sms["by_route"]?["emergency"]?["60s_or_more"] == ["calls": 1, "share": 1.0])
        #expect(sms["by_route"]?["emergency"]?["standard"] == Self.national(0, share: 0, met: false))
        #expect(sms["by_route"]?["emergency"]?["p90_seconds"] == .double(75))

        let online = try #require(byChannel["online"])
        #expect(online["calls"] == 2)
        let onlineFigures = Self.stats(
            2, answered: 2, bands: (["calls": 0, "share": 0.0], ["calls": 1, "share": 0.5], ["calls": 1, "share": 0.5]), mean: 60, p90: 90)
        #expect(online["answer_times"] == onlineFigures)
        #expect(online["by_route"] == ["anti-terrorist-hotline": onlineFigures], "the hotline has no standard: its average wait")

        // The route's figures are still every channel's together: 6 of 9 within, 66.66%.
        let emergency = try #require(json["answer_times"]?["emergency"])
        #expect(emergency["presented"] == 10)
        #expect(emergency["mean_seconds"] == .double(17.389))
        #expect(emergency["p90_seconds"] == .double(75))
        #expect(emergency["standard"] == Self.national(6, share: 0.6666, met: false))
    }

    @Test func eachCSVRowEndsWithItsCallsChannel() {
        #expect(ExportCSV.columns.last == "channel")
        let rows = Self.calls.map { ExportCSV.row($0).split(separator: "\r\n")[0].split(separator: ",", omittingEmptySubsequences: false) }
        #expect(
            rows.map { String($0.last!) } == [
                "voice", "voice", "voice", "voice", "voice", "voice", "text-relay", "sms", "video-relay-bsl", "video-relay-bsl",
                "online", "online", "voice",
            ])
        #expect(rows.allSatisfy { $0.count == ExportCSV.columns.count })
    }

    /// The shift report's table: a route's channels side by side, voice first, with each
    /// row's verdict against the route's standard.
    @Test func theShiftReportShowsEachRouteByChannel() throws {
        let page = ExportHTML(
            summary: Self.summary, zone: HandWrittenLondon(), marking: "OFFICIAL", generatedAt: ts("2026-11-24T07:00:30Z"),
            generator: "test"
        ).page
        let rows = try Self.byChannelRows(page)
        #expect(rows == Self.expectedRows)
        let byRoute = try #require(page.range(of: "<h2>Answer times by route</h2>"))
        let byChannel = try #require(page.range(of: "<h2>Answer times by channel</h2>"))
        #expect(byRoute.upperBound < byChannel.lowerBound, "the channels follow the routes")
    }

    /// Rows of the by-channel table: route, channel, calls, answered, abandoned, mean, p90,
    /// standard. Routes busiest first (emergency 10, the hotline 2, 101 1); channels voice
    /// first, then text relay, SMS, BSL, online.
    static let expectedRows = [
        "<td>emergency</td><td>voice</td><td class=\"num\">6</td><td class=\"num\">5</td><td class=\"num\">1</td><td class=\"num\">4.7 s</td><td class=\"num\">9.5 s</td><td><span class=\"met\">met</span>: 100% (90% in 10 s)</td>",
        "<td>emergency</td><td>text-relay</td><td class=\"num\">1</td><td class=\"num\">1</td><td class=\"num\">0</td><td class=\"num\">10 s</td><td class=\"num\">10 s</td><td><span class=\"none\">NOT MET</span>: 0% (90% in 10 s)</td>",
        "<td>emergency</td><td>sms</td><td class=\"num\">1</td><td class=\"num\">1</td><td class=\"num\">0</td><td class=\"num\">75 s</td><td class=\"num\">75 s</td><td><span class=\"none\">NOT MET</span>: 0% (90% in 10 s)</td>",
        "<td>emergency</td><td>video-relay-bsl</td><td class=\"num\">2</td><td class=\"num\">2</td><td class=\"num\">0</td><td class=\"num\">24 s</td><td class=\"num\">40 s</td><td><span class=\"none\">NOT MET</span>: 50% (90% in 10 s)</td>",
        "<td>anti-terrorist-hotline</td><td>online</td><td class=\"num\">2</td><td class=\"num\">2</td><td class=\"num\">0</td><td class=\"num\">60 s</td><td class=\"num\">90 s</td><td><span class=\"muted\">average wait</span></td>",
        "<td>non-emergency</td><td>voice</td><td class=\"num\">1</td><td class=\"num\">1</td><td class=\"num\">0</td><td class=\"num\">45 s</td><td class=\"num\">45 s</td><td><span class=\"muted\">average wait</span></td>",
    ]

    /// The body rows of the page's "Answer times by channel" table, without their `<tr>`.
    static func byChannelRows(_ page: String) throws -> [String] {
        let start = try #require(page.range(of: "<h2>Answer times by channel</h2>"))
        let end = try #require(page.range(of: "</section>", range: start.upperBound..<page.endIndex))
        let section = page[start.upperBound..<end.lowerBound]
        #expect(section.contains("<th>route</th><th>channel</th><th class=\"num\">calls</th>"))
        return section.components(separatedBy: "<tr>").dropFirst(2).map { $0.components(separatedBy: "</tr>")[0] }
    }

    /// The period report: the route rows as before, with `all`; then a route's rows by
    /// channel, each against the route's standard; the JSON's `by_channel` is the shift
    /// summary's, and the page has the same table.
    @Test func thePeriodReportGivesEachRoutesChannelsAsByHand() throws {
        let report = Self.period
        let head = "2026-11,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,Europe/London,"
        #expect(
            report.csv.split(separator: "\r\n").map(String.init) == [
                PeriodReport.csvColumns.joined(separator: ","),
                head + "emergency,10,9,1,0,6,66.6,2,22.2,1,11.1,17.4,75,10,90,6,66.6,false,all",
                head + "anti-terrorist-hotline,2,2,0,0,0,0,1,50,1,50,60,90,,,,,,all",
                head + "non-emergency,1,1,0,0,0,0,1,100,0,0,45,45,,,,,,all",
                head + "emergency,6,5,1,0,5,100,0,0,0,0,4.7,9.5,10,90,5,100,true,voice",
                head + "emergency,1,1,0,0,0,0,1,100,0,0,10,10,10,90,0,0,false,text-relay",
                head + "emergency,1,1,0,0,0,0,0,0,1,100,75,75,10,90,0,0,false,sms",
                head + "emergency,2,2,0,0,1,50,1,50,0,0,24,40,10,90,1,50,false,video-relay-bsl",
                head + "anti-terrorist-hotline,2,2,0,0,0,0,1,50,1,50,60,90,,,,,,online",
                head + "non-emergency,1,1,0,0,0,0,1,100,0,0,45,45,,,,,,voice",
            ])
        #expect(PeriodReport.csvColumns.last == "channel")
        let json = report.json
        #expect(json["by_channel"] == Self.summary.json["by_channel"], "the same calls, the same figures")
        #expect(json["by_channel"]?["video-relay-bsl"]?["by_route"]?["emergency"]?["standard"]?["met"] == false)
        let page = PeriodReportHTML(report: report, generatedAt: ts("2026-12-01T08:00:00Z"), generator: "test").page
        #expect(try Self.byChannelRows(page) == Self.expectedRows)
    }

    /// An empty shift has no channel; an all-voice one has voice only.
    @Test func channelsWithoutACallAreLeftOut() throws {
        var s = ShiftSummary(window: ExportTests.night)
        s.adopt(routes: ReportTests.routes, handover: nil)
        #expect(s.json["by_channel"] == [:])
        let empty = ExportHTML(
            summary: s, zone: HandWrittenLondon(), marking: "OFFICIAL", generatedAt: ts("2026-11-24T07:00:30Z"), generator: "t"
        )
        .page
        #expect(empty.contains("<h2>Answer times by channel</h2>\n<p class=\"muted\">No calls.</p>"))
        s.add(Self.call("emergency", .voice, minute: 5, answer: 3))
        #expect(s.json["by_channel"]?.objectValue?.keys.sorted() == ["voice"])
        #expect(s.json["by_channel"]?["voice"]?["by_route"]?.objectValue?.keys.sorted() == ["emergency"])
    }
}
