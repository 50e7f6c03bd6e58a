import Foundation
import HotlineCore
import SwiftCSV
import Testing

/// The shift-end export's figures, CSV and HTML (PROTOCOL.md section 11), on calls whose
/// every figure is worked out by hand below.
@Suite struct ExportTests {
    static let night = ShiftWindow(
        name: "night", date: "2026-11-23", from: ts("2026-11-23T23:00:00Z"), to: ts("2026-11-24T07:00:00Z"),
        timezone: "Europe/London")

    static func alert(_ raised: String, acked: String? = nil, level: Int = 1) -> AlertView {
        AlertView(
            id: "a0000000-0000-4000-8000-\(String(raised.filter(\.isNumber).suffix(12)))", callID: "c", route: "emergency",
            grade: "emergency", reason: "emergency-line", level: level, raisedAt: ts(raised), ackedAt: acked.map(ts))
    }

    /// Five calls of the night of 23 November 2026 (GMT, so local = UTC):
    ///
    /// | call | route | received | answer s | handling s | notes |
    /// |---|---|---|---|---|---|
    /// | A | emergency | 23:10:00 | 4 | 296 | alert acked after 12 s |
    /// | B | hotline | 00:30:00 | 10 | 600 | anonymous, suspicious-activity, report-taken |
    /// | C | non-emergency | 03:00:00 | – | 120 (never answered: from received) | abandoned |
    /// | D | emergency | 06:59:59.5 | 2 | open | alert never acked, level 3 |
    /// | E | unrouted | 05:00:00 | 6 | 30 | hoax |
    static let calls: [ExportCall] = [
        ExportCall(
            id: "0000000a-0000-4000-8000-000000000000", receivedAt: ts("2026-11-23T23:10:00Z"), dialled: "999",
            route: "emergency", grade: "emergency", marking: "OFFICIAL", escalated: true, outcome: "dispatched",
            answeredAt: ts("2026-11-23T23:10:04Z"), endedAt: ts("2026-11-23T23:15:00Z"), workstation: "WS-07",
            handler: "4471", alerts: [alert("2026-11-23T23:10:00Z", acked: "2026-11-23T23:10:12Z")]),
        ExportCall(
            id: "0000000b-0000-4000-8000-000000000000", receivedAt: ts("2026-11-24T00:30:00Z"), dialled: "0800789321",
            route: "anti-terrorist-hotline", grade: "priority", marking: "OFFICIAL-SENSITIVE", anonymous: true,
            category: "suspicious-activity", outcome: "report-taken", answeredAt: ts("2026-11-24T00:30:10Z"),
            endedAt: ts("2026-11-24T00:40:10Z"), workstation: "WS-02", handler: "4472"),
        ExportCall(
            id: "0000000c-0000-4000-8000-000000000000", receivedAt: ts("2026-11-24T03:00:00Z"), dialled: "101",
            route: "non-emergency", grade: "scheduled", marking: "OFFICIAL", outcome: "abandoned",
            endedAt: ts("2026-11-24T03:02:00Z")),
        ExportCall(
            id: "0000000d-0000-4000-8000-000000000000", receivedAt: ts("2026-11-24T06:59:59.5Z"), dialled: "999",
            route: "emergency", grade: "emergency", marking: "OFFICIAL", escalated: true,
            answeredAt: ts("2026-11-24T07:00:01.5Z"), workstation: "=HYPERLINK(\"http://x\")", handler: "44\"71, B",
            alerts: [alert("2026-11-24T06:59:59.5Z", level: 3)]),
        ExportCall(
            id: "0000000e-0000-4000-8000-000000000000", receivedAt: ts("2026-11-24T05:00:00Z"), dialled: "01234567890",
            route: "unrouted", grade: "scheduled", marking: "OFFICIAL", outcome: "hoax",
            answeredAt: ts("2026-11-24T05:00:06Z"), endedAt: ts("2026-11-24T05:00:36Z"), workstation: "<b>WS</b>"),
    ]

    static var summary: ShiftSummary {
        var s = ShiftSummary(window: night)
        for c in calls { s.add(c) }
        return s
    }

    @Test func theSummaryHasTheFiguresWorkedOutByHand() {
        let json = Self.summary.json
        #expect(json["calls"] == 5)
        #expect(json["by_route"] == ["emergency": 2, "anti-terrorist-hotline": 1, "non-emergency": 1, "unrouted": 1])
        #expect(json["by_grade"] == ["emergency": 2, "priority": 1, "scheduled": 2])
        #expect(json["by_outcome"] == ["dispatched": 1, "report-taken": 1, "abandoned": 1, "hoax": 1])
        #expect(json["by_category"] == ["suspicious-activity": 1])
        #expect(json["anonymous"] == 1)
        #expect(json["escalated"] == 2)
        #expect(json["open"] == 1)
        #expect(json["alerts"] == ["raised": 2, "acked": 1, "median_ack_seconds": 12.0])
        // Answer times 4, 10, 2, 6 (C never answered): median of [2, 4, 6, 10] is 5.
        #expect(json["median_answer_seconds"] == 5.0)
        // Handling 296, 600, 120 (from received), 30 (D open): median of [30, 120, 296, 600] is 208.
        #expect(json["median_handling_seconds"] == 208.0)
        #expect(
            json["shift"] == [
                "name": "night", "date": "2026-11-23", "from": "2026-11-23T23:00:00Z", "to": "2026-11-24T07:00:00Z",
                "timezone": "Europe/London",
            ])
        let perHour = json["per_hour"]?.arrayValue ?? []
        #expect(
            perHour.map { $0["hour"]?.stringValue ?? "" } == [
                "2026-11-23T23:00:00Z", "2026-11-24T00:00:00Z", "2026-11-24T01:00:00Z", "2026-11-24T02:00:00Z",
                "2026-11-24T03:00:00Z", "2026-11-24T04:00:00Z", "2026-11-24T05:00:00Z", "2026-11-24T06:00:00Z",
            ])
        #expect(perHour.map { $0["calls"]?.intValue ?? -1 } == [1, 1, 0, 0, 1, 0, 1, 1])
        #expect(perHour[7]["by_route"] == ["emergency": 1])
    }

    @Test func anEmptyShiftHasZerosAndNoMedians() {
        let json = ShiftSummary(window: Self.night).json
        #expect(json["calls"] == 0)
        #expect(json["alerts"] == ["raised": 0, "acked": 0, "median_ack_seconds": nil])
        #expect(json["median_answer_seconds"] == .null)
        #expect(json["per_hour"]?.arrayValue?.count == 8)
        #expect(json["per_hour"]?.arrayValue?.allSatisfy { $0["calls"] == 0 } == true)
    }

    @Test func medianOfOddAndEvenCounts() {
        #expect(ShiftSummary.median([]) == nil)
        #expect(ShiftSummary.median([3]) == 3)
        #expect(ShiftSummary.median([9, 1, 5]) == 5)
        #expect(ShiftSummary.median([9, 1, 5, 3]) == 4)
    }

    @Test func theCSVReadsBackWithACSVLibraryExactlyAsWritten() throws {
        let text = ExportCSV.header + Self.calls.map(ExportCSV.row).joined()
        #expect(
            text.hasPrefix(
                "call_id,received_at,dialled,route,grade,marking,anonymous,escalated,category,outcome,answered_at,ended_at,handling_seconds,workstation,handler,initial_grade,grade_changes,held,channel\r\n"
            ))
        let csv = try EnumeratedCSV(string: text, delimiter: .comma, loadColumns: false)
        #expect(csv.header == ExportCSV.columns)
        #expect(csv.rows.count == 5)
        #expect(
            csv.rows[0] == [
                "0000000a-0000-4000-8000-000000000000", "2026-11-23T23:10:00Z", "999", "emergency", "emergency", "OFFICIAL",
                "false", "true", "", "dispatched", "2026-11-23T23:10:04Z", "2026-11-23T23:15:00Z", "296", "WS-07", "4471", "", "0",
                "false", "voice",
            ])
        #expect(csv.rows[2][10] == "")  // never answered
        #expect(csv.rows[2][12] == "120")  // handling from received
        #expect(csv.rows[3][11] == "" && csv.rows[3][12] == "")  // open: no end, no handling
        // A spreadsheet formula is defused; quotes and commas survive the round trip.
        #expect(csv.rows[3][13] == "'=HYPERLINK(\"http://x\")")
        #expect(csv.rows[3][14] == "44\"71, B")
        #expect(csv.rows[3][1] == "2026-11-24T06:59:59.500Z")
        #expect(csv.rows[3][10] == "2026-11-24T07:00:01.500Z")
    }

    @Test(arguments: [
        ("=1+1", "'=1+1"), ("+44", "'+44"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
        ("plain", "plain"), ("a,b", "\"a,b\""), ("say \"hi\"", "\"say \"\"hi\"\"\""), ("two\nlines", "\"two\nlines\""),
    ])
    func textCellsAreQuotedAndDefused(value: String, cell: String) {
        #expect(ExportCSV.text(value) == cell)
    }

    @Test func theHTMLReportIsOneSelfContainedPageWithTheChartAndTheLists() {
        let page = ExportHTML(
            summary: Self.summary, zone: HandWrittenLondon(), marking: "OFFICIAL-SENSITIVE",
            generatedAt: ts("2026-11-24T07:00:30Z"), generator: "test"
        ).page
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        // Nothing is fetched: no script, no external stylesheet, image or font.
        for external in ["<script", "src=", "href=", "@import", "url("] {
            #expect(!page.contains(external), "\(external)")
        }
        #expect(page.contains("@page { size: A4"))
        #expect(page.contains("<title>Shift summary: night shift, 2026-11-23</title>"))
        #expect(page.components(separatedBy: "OFFICIAL-SENSITIVE</p>").count == 3)  // marked top and bottom
        // One bar segment for each hour and route with calls: 5 calls in 5 different hours.
        #expect(page.components(separatedBy: "<rect class=\"bar\"").count - 1 == 5)
        #expect(page.contains("<svg"))
        // The escalations, acknowledged or not, and the open call.
        #expect(page.contains("Escalations (2 alerts, 1 acknowledged)"))
        #expect(page.contains("NOT ACKNOWLEDGED"))
        #expect(page.contains("12 s"))
        #expect(page.contains("Calls still open (1)"))
        // Text from workstations is escaped, never markup.
        #expect(!page.contains("<b>WS</b>"))
        #expect(page.contains("=HYPERLINK(&quot;http://x&quot;)"))
        // Local times: the night is 23:00 to 07:00 in London.
        #expect(page.contains("2026-11-23 23:00 to 2026-11-24 07:00 Europe/London (8 hours"))
    }

    @Test func axisStepsAreRound() {
        #expect([1, 6, 7, 12, 13, 30, 31, 61, 600, 601].map(ExportHTML.niceStep) == [1, 1, 2, 2, 5, 5, 10, 20, 100, 200])
    }
}
