import Foundation
import HotlineCore
import Testing

/// Issue 16's figures, each checked against values worked out by hand: the answer-time
/// standard, the period report (including a month and a shift with a clock change), the
/// handover and the silent-call counts.
@Suite struct ReportTests {
    static let calendar = ShiftCalendar(settings: ShiftSettings(), zone: HandWrittenLondon())
    static let routes = [
        RouteReporting(name: "emergency", answerStandard: .national999),
        RouteReporting(
            name: "anti-terrorist-hotline", categories: [CategoryLabel(slug: "hostile-reconnaissance", label: "Hostile reconnaissance")]),
        RouteReporting(name: "non-emergency"),
    ]

    /// A call received at `at`, answered `answer` seconds later (never, if nil), ended or not.
    static func call(
        _ route: String, _ at: String, answer: Double?, ended: Bool = true, flags: [String: Bool] = [:], held: Bool = false,
        grade: String = "emergency"
    ) -> ExportCall {
        let received = ts(at)
        let answered = answer.map { received.adding(seconds: $0) }
        return ExportCall(
            id: UUIDText.random(), receivedAt: received, dialled: route == "emergency" ? "999" : "101", route: route, grade: grade,
            marking: "OFFICIAL", answeredAt: answered,
            endedAt: ended ? (answered ?? received).adding(seconds: 120) : nil, flags: flags, held: held)
    }

    // Ten answered 999 calls, by hand: under 10 s: 2, 5, 8, 9.9 (4); 10 to under 60 s: 10,
    // 12, 30, 59.9 (4); 60 s or more: 60, 75 (2). Sum 271.8, mean 27.18. Sorted, the 9th of
    // 10 (nearest rank ⌈0.9 × 10⌉ = 9) is 60. Within the standard (under 10 s): 4 of 10 =
    // 40%, below 90%: not met. One more call abandoned unanswered, one still ringing.
    static let answerTimes: [Double] = [2, 5, 9.9, 10, 12, 30, 59.9, 60, 75, 8]

    @Test func theAnswerStandardIsWorkedOutAsByHand() {
        var s = AnswerStats(standard: .national999)
        for (i, seconds) in Self.answerTimes.enumerated() {
            let received = ts("2026-11-24T10:00:00Z").adding(seconds: Double(i) * 600)
            s.add(receivedAt: received, answeredAt: received.adding(seconds: seconds), endedAt: received.adding(seconds: 300))
        }
        s.add(receivedAt: ts("2026-11-24T12:00:00Z"), answeredAt: nil, endedAt: ts("2026-11-24T12:00:20Z"))
        s.add(receivedAt: ts("2026-11-24T12:30:00Z"), answeredAt: nil, endedAt: nil)
        #expect((s.presented, s.answered, s.abandoned, s.waiting) == (12, 10, 1, 1))
        #expect((s.under10, s.from10To60, s.sixtyOrMore) == (4, 4, 2))
        #expect(abs(s.meanSeconds! - 27.18) < 1e-9)
        #expect(s.p90Seconds == 60)
        #expect(s.withinStandard == 4)
        #expect(s.share(s.withinStandard) == 0.4)
        #expect(s.met == false)
        let json = s.json
        #expect(json["under_10s"] == ["calls": 4, "share": 0.4])
        #expect(json["60s_or_more"] == ["calls": 2, "share": 0.2])
        #expect(json["mean_seconds"] == .double(27.18))
        #expect(json["standard"]?["met"] == false)
        #expect(json["standard"]?["share_within"] == .double(0.4))
    }

    /// 9 of 10 in under 10 s is exactly 90%: met. 10.0 s is not under 10 s.
    @Test func exactlyTheStandardMeetsItAndTenSecondsIsNotUnderTen() {
        var s = AnswerStats(standard: .national999)
        let t0 = ts("2026-11-24T10:00:00Z")
        for i in 0..<9 { s.add(receivedAt: t0, answeredAt: t0.adding(seconds: Double(i)), endedAt: nil) }
        s.add(receivedAt: t0, answeredAt: t0.adding(seconds: 10), endedAt: nil)
        #expect(s.withinStandard == 9)
        #expect(s.met == true)
        s.add(receivedAt: t0, answeredAt: t0.adding(seconds: 10), endedAt: nil)
        #expect(s.met == false, "9 of 11 is 81.8%")
        #expect(AnswerStats(standard: .national999).met == nil, "no answered call: neither met nor missed")
        var avg = AnswerStats(standard: nil)
        avg.add(receivedAt: t0, answeredAt: t0.adding(seconds: 40), endedAt: nil)
        avg.add(receivedAt: t0, answeredAt: t0.adding(seconds: 200), endedAt: nil)
        #expect(avg.meanSeconds == 120, "101 reports its average wait")
        #expect(avg.met == nil)
        #expect(avg.json["standard"] == .null)
    }

    /// The night of 24 to 25 October 2026 runs 23:00 BST to 07:00 GMT: nine hours. Calls at
    /// 01:30 BST (00:30Z) and at 01:30 GMT (01:30Z) are an hour apart and both in it.
    @Test func aShiftAcrossTheClockChangeCountsAsByHand() throws {
        let window = try Self.calendar.resolve("night:2026-10-24", now: ts("2030-01-01T00:00:00Z"))
        #expect(window.from == ts("2026-10-24T22:00:00Z"))
        #expect(window.to == ts("2026-10-25T07:00:00Z"))
        var summary = ShiftSummary(window: window)
        summary.adopt(
            routes: Self.routes,
            handover: Handover(asOf: window.to, openCount: 1, open: [], withoutOutcomeCount: 0, withoutOutcome: []))
        summary.add(Self.call("emergency", "2026-10-25T00:30:00Z", answer: 4, flags: ["silent": true, "pressed_55": true]))
        summary.add(Self.call("emergency", "2026-10-25T01:30:00Z", answer: 14, flags: ["silent": true]))
        summary.add(Self.call("emergency", "2026-10-25T06:59:59Z", answer: 61, held: true))
        summary.add(Self.call("non-emergency", "2026-10-24T22:00:00Z", answer: 300, grade: "scheduled"))
        let json = summary.json
        #expect(json["per_hour"]?.arrayValue?.count == 9)
        let perHour = json["per_hour"]!.arrayValue!.map { $0["calls"]!.intValue! }
        #expect(perHour == [1, 0, 1, 1, 0, 0, 0, 0, 1])
        #expect(json["silent"] == 2)
        #expect(json["pressed_55"] == 1)
        #expect(json["held"] == 1)
        // 999: 4, 14 and 61 s: one in each band; mean 79/3; p90 = the 3rd of 3 = 61.
        let e = json["answer_times"]!["emergency"]!
        #expect(e["presented"] == 3)
        #expect(e["under_10s"] == ["calls": 1, "share": 0.3333])
        #expect(e["10_to_60s"] == ["calls": 1, "share": 0.3333])
        #expect(e["60s_or_more"] == ["calls": 1, "share": 0.3333])
        #expect(e["mean_seconds"] == .double(26.333))
        #expect(e["p90_seconds"] == .double(61))
        #expect(e["standard"]?["met"] == false)
        #expect(json["answer_times"]?["non-emergency"]?["mean_seconds"] == .double(300))
        // A configured route with no call is still reported, with nothing presented.
        #expect(json["answer_times"]?["anti-terrorist-hotline"]?["presented"] == 0)
        #expect(json["handover"]?["open"] == 1)
    }

    /// October 2026 in London: 31 days and 745 hours; the 25th is 25 hours long, from
    /// 23:00Z on the 24th to 00:00Z on the 26th. A call at 23:30Z on the 24th is on the 25th.
    @Test func aMonthWithTheClockChangeHasItsLongDay() throws {
        let window = try Self.calendar.window(month: "2026-10")
        #expect(window.from == ts("2026-09-30T23:00:00Z"))
        #expect(window.to == ts("2026-11-01T00:00:00Z"))
        #expect(window.to.seconds(since: window.from) == 745 * 3600)
        let days = Self.calendar.days(of: window)
        #expect(days.count == 31)
        let long = try #require(days.first { $0.date == "2026-10-25" })
        #expect(long.from == ts("2026-10-24T23:00:00Z"))
        #expect(long.to == ts("2026-10-26T00:00:00Z"))
        let march = try Self.calendar.window(month: "2026-03")
        #expect(march.to.seconds(since: march.from) == 743 * 3600)
        let short = try #require(Self.calendar.days(of: march).first { $0.date == "2026-03-29" })
        #expect(short.from == ts("2026-03-29T00:00:00Z"))
        #expect(short.to == ts("2026-03-29T23:00:00Z"), "23 hours")

        var report = PeriodReport(window: window, days: days)
        report.adopt(routes: Self.routes)
        report.add(Self.call("emergency", "2026-10-24T22:59:00Z", answer: 3))  // 23:59 BST on the 24th
        report.add(Self.call("emergency", "2026-10-24T23:30:00Z", answer: 12))  // 00:30 BST on the 25th
        report.add(Self.call("emergency", "2026-10-25T01:30:00Z", answer: 7))  // 01:30 GMT on the 25th
        report.add(Self.call("emergency", "2026-10-25T23:59:00Z", answer: nil))  // abandoned, on the 25th
        report.add(Self.call("emergency", "2026-09-30T23:00:00Z", answer: 9.5))  // 00:00 BST on the 1st
        report.add(Self.call("non-emergency", "2026-10-31T23:59:59Z", answer: 95, grade: "scheduled"))  // the last second
        let json = report.json
        let day25 = try #require(json["days"]?.arrayValue?.first { $0["date"] == "2026-10-25" })
        #expect(day25["routes"]?["emergency"]?["presented"] == 3)
        #expect(day25["routes"]?["emergency"]?["abandoned"] == 1)
        #expect(json["days"]?.arrayValue?.first { $0["date"] == "2026-10-24" }?["routes"]?["emergency"]?["presented"] == 1)
        #expect(json["days"]?.arrayValue?.first { $0["date"] == "2026-10-01" }?["routes"]?["emergency"]?["presented"] == 1)
        // The month's 999: 5 presented, 4 answered (3, 12, 7, 9.5), 1 abandoned; under 10 s:
        // 3 of 4 = 75.0%; 10-60: 1 = 25.0%; mean 31.5/4 = 7.875 → 7.9; p90 = ⌈3.6⌉ = 4th = 12.
        let lines = report.csv.split(separator: "\r\n").map(String.init)
        #expect(lines[0] == PeriodReport.csvColumns.joined(separator: ","))
        #expect(
            lines[1]
                == "2026-10,2026-09-30T23:00:00Z,2026-11-01T00:00:00Z,Europe/London,emergency,5,4,1,0,3,75,1,25,0,0,7.9,12,10,90,3,75,false,all"
        )
        #expect(
            lines[2]
                == "2026-10,2026-09-30T23:00:00Z,2026-11-01T00:00:00Z,Europe/London,non-emergency,1,1,0,0,0,0,0,0,1,100,95,95,,,,,,all")
        #expect(lines[3].contains(",anti-terrorist-hotline,0,0,0,0,0,,0,,0,,,,,,,,,all"))
        // Then each route's channels: every call here is a voice call, so the same figures.
        #expect(lines[4] == String(lines[1].dropLast(3)) + "voice")
        #expect(lines[5] == String(lines[2].dropLast(3)) + "voice")
        #expect(lines.count == 6)
        let html = PeriodReportHTML(report: report, generatedAt: ts("2026-11-01T08:00:00Z"), generator: "test").page
        #expect(html.contains("Answer times: 2026-10"))
        #expect(html.contains("NOT MET"))
        #expect(html.contains("target 90%"))
        // One bar for each day a route had an answered call: 999 on the 1st, 24th and 25th; 101 on the 31st.
        #expect(html.components(separatedBy: "<rect class=\"bar\"").count - 1 == 4)
    }

    @Test func aMonthThatIsNotOneIsRefused() {
        #expect(ShiftCalendar.month("2026-13") == nil)
        #expect(ShiftCalendar.month("2026-1") == nil)
        #expect(ShiftCalendar.month("26-11") == nil)
        #expect(ShiftCalendar.month("2026-11")! == (2026, 11))
        #expect(throws: ShiftCalendar.Failure.self) { try Self.calendar.window(month: "November") }
    }

    /// The shift report shows the handover first, with how long each call has been open,
    /// and the categories by their labels.
    @Test func theShiftReportPutsTheHandoverFirst() throws {
        let window = try Self.calendar.resolve("night:2026-11-23", now: ts("2030-01-01T00:00:00Z"))
        var summary = ShiftSummary(window: window)
        let open = HandoverCall(
            callID: "b1e0c3a4-0000-4000-8000-000000000001", route: "emergency", grade: "emergency", marking: "OFFICIAL",
            receivedAt: ts("2026-11-23T18:00:00Z"), openSeconds: 13 * 3600)
        let noOutcome = HandoverCall(
            callID: "b1e0c3a4-0000-4000-8000-000000000002", route: "anti-terrorist-hotline", grade: "priority",
            marking: "OFFICIAL-SENSITIVE", category: "hostile-reconnaissance", receivedAt: ts("2026-11-24T02:00:00Z"),
            endedAt: ts("2026-11-24T02:05:00Z"), openSeconds: 300)
        summary.adopt(
            routes: Self.routes,
            handover: Handover(asOf: window.to, openCount: 1, open: [open], withoutOutcomeCount: 1, withoutOutcome: [noOutcome]))
        var hotline = Self.call("anti-terrorist-hotline", "2026-11-24T02:00:00Z", answer: 2, grade: "priority")
        hotline.category = "hostile-reconnaissance"
        summary.add(hotline)
        let html = ExportHTML(summary: summary, zone: HandWrittenLondon(), marking: "OFFICIAL", generatedAt: window.to, generator: "test")
            .page
        let handover = try #require(html.range(of: "Handover at 2026-11-24 07:00: 1 open, 1 ended without an outcome"))
        let figures = try #require(html.range(of: "aria-label=\"Figures\""))
        #expect(handover.lowerBound < figures.lowerBound, "the handover comes first")
        #expect(html.contains("13 h 00 min"))
        #expect(html.contains("5 min"))
        #expect(html.contains("Hostile reconnaissance"))
        #expect(html.contains("Answer times by route"))
        #expect(!html.contains("Calls still open (0)"), "the handover replaces the list of this shift's open calls")
        #expect(summary.json["handover"]?["ended_without_outcome"] == 1)
        #expect(summary.json["handover"]?["open_calls"]?.arrayValue?.first?["open_seconds"] == .double(46800))
    }

    /// The CSV keeps the protocol's header and adds initial_grade, grade_changes and held
    /// (issue 16), then channel (issue 18), at its end.
    @Test func theCSVAddsItsNewColumnsAtTheEnd() {
        #expect(
            ExportCSV.header
                == "call_id,received_at,dialled,route,grade,marking,anonymous,escalated,category,outcome,answered_at,ended_at,handling_seconds,workstation,handler,initial_grade,grade_changes,held,channel\r\n"
        )
        var c = Self.call("emergency", "2026-11-24T01:00:00Z", answer: 3, held: true)
        c.initialGrade = "priority"
        c.gradeChanges = 2
        #expect(ExportCSV.row(c).hasSuffix(",priority,2,true,voice\r\n"))
        c.channel = .videoRelayBSL
        #expect(ExportCSV.row(c).hasSuffix(",priority,2,true,video-relay-bsl\r\n"))
    }

    @Test func theHistoryFoldsGradeAndMarkingChangesFromTheEvents() {
        var h = ClassificationHistory()
        func event(_ seq: Int64, _ op: String, _ body: JSONValue, grade: String, marking: String) -> ClassificationHistory.Event {
            .init(
                seq: seq, op: op, body: body, ack: ["grade": .string(grade), "marking": .string(marking)],
                recordedAt: ts("2026-11-24T01:00:00Z").adding(seconds: Double(seq)), uid: 1000)
        }
        h.add(
            event(
                1, "call.start", ["received_at": "2026-11-24T00:59:00Z", "handler": "4471"], grade: "priority",
                marking: "OFFICIAL-SENSITIVE")
        ) { nil }
        h.add(
            event(
                2, "call.update", ["at": "2026-11-24T01:00:01Z", "set": ["category": "other"]], grade: "priority",
                marking: "OFFICIAL-SENSITIVE")
        ) {
            Issue.record("no change, no reason asked")
            return nil
        }
        h.add(
            event(
                3, "call.update", ["at": "2026-11-24T01:00:02Z", "set": ["flags": ["threat_to_life": true]]], grade: "emergency",
                marking: "OFFICIAL-SENSITIVE")
        ) { nil }
        h.add(event(4, "call.update", ["at": "2026-11-24T01:00:03Z", "set": ["marking": "SECRET"]], grade: "emergency", marking: "SECRET"))
        { "names a source" }
        #expect(h.changes.count == 3)
        #expect(h.initialGrade == "priority")
        #expect(h.gradeChanges == 1)
        #expect(h.changes[0].gradeFrom == nil && h.changes[0].handler == "4471" && h.changes[0].at == ts("2026-11-24T00:59:00Z"))
        #expect(h.changes[1].cause == "threat-to-life")
        #expect(h.changes[2].reason == "names a source" && h.changes[2].markingFrom == "OFFICIAL-SENSITIVE")
        #expect(ClassificationHistory.grades(["priority", "priority", "emergency", "priority"]) == ("priority", 2))
        #expect(ClassificationHistory.grades([]) == (nil, 0))
    }
}

extension ReportTests {
    /// A share is printed rounded down, in whole numbers: 22,499 of 25,000 (89.996%) reads
    /// 89.9% NOT MET, never 90.0% beside NOT MET; 17 of 19 (89.47%) reads 89.4%.
    @Test func sharesArePrintedRoundedDownSoTheyNeverContradictTheVerdict() {
        var s = AnswerStats(standard: .national999)
        let t0 = ts("2026-11-24T10:00:00Z")
        for i in 0..<25_000 { s.add(receivedAt: t0, answeredAt: t0.adding(seconds: i < 22_499 ? 3 : 30), endedAt: nil) }
        #expect(s.met == false)
        #expect(AnswerTimesHTML.percent(s, s.withinStandard) == "89.9%")
        #expect(PeriodReport.pct(s, s.withinStandard) == "89.9")
        #expect(s.json["standard"]?["share_within"] == .double(0.8999))
        var t = AnswerStats(standard: nil)
        for i in 0..<19 { t.add(receivedAt: t0, answeredAt: t0.adding(seconds: i < 17 ? 3 : 30), endedAt: nil) }
        #expect(PeriodReport.pct(t, t.under10) == "89.4")
    }

    /// The period report is marked as its most sensitive call; the shift report as the most
    /// sensitive call it lists, handed-over ones included.
    @Test func reportsAreMarkedAsTheirMostSensitiveCall() throws {
        let window = try Self.calendar.window(month: "2026-11")
        var report = PeriodReport(window: window, days: Self.calendar.days(of: window))
        report.add(Self.call("emergency", "2026-11-02T10:00:00Z", answer: 3))
        #expect(PeriodReportHTML(report: report, generatedAt: window.to, generator: "t").page.contains("<p class=\"marking\">OFFICIAL</p>"))
        var hotline = Self.call("anti-terrorist-hotline", "2026-11-02T11:00:00Z", answer: 3)
        hotline.marking = "OFFICIAL-SENSITIVE"
        report.add(hotline)
        #expect(
            PeriodReportHTML(report: report, generatedAt: window.to, generator: "t").page.contains(
                "<p class=\"marking\">OFFICIAL-SENSITIVE</p>"))
        let night = try Self.calendar.resolve("night:2026-11-23", now: ts("2030-01-01T00:00:00Z"))
        var summary = ShiftSummary(window: night)
        summary.adopt(routes: Self.routes, handover: Handover(asOf: night.to, openCount: 600, highestMarking: .secret))
        #expect(summary.highestMarking == .secret, "a SECRET call past the list's cap still marks the report")
    }
}
