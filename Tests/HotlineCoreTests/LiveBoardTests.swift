import HotlineCore
import Testing

/// The wallboard's board (issue 17), folded from the log's live rows by hand-worked figures,
/// and the listen addresses the HTTP endpoints accept.
struct LiveBoardTests {
    static let emergency = RouteRule(
        name: "emergency", numbers: ["999"], grade: .emergency, marking: .official, anonymity: .forbidden,
        answerStandard: AnswerStandard(withinSeconds: 10, share: 0.9))
    static let hotline = RouteRule(
        name: "anti-terrorist-hotline", numbers: ["0800 789 321"], grade: .priority, marking: .officialSensitive,
        anonymity: .allowed)
    static let calendar = ShiftCalendar(settings: ShiftSettings(timezone: "Europe/London", schedule: []), zone: HandWrittenLondon())

    @Test func aDayIsItsLocalHoursWithTheirCallsAndAnswerTimes() {
        let day = Self.calendar.day(containing: ts("2026-11-30T10:37:00Z"))
        #expect(day.from == ts("2026-11-30T00:00:00Z") && day.to == ts("2026-12-01T00:00:00Z"))
        let rows = LiveRows(
            alerts: [
                Alert(
                    id: "a1", callID: "c1", seq: 3, route: "emergency", grade: .emergency, reason: .emergencyLine,
                    raisedAt: ts("2026-11-30T10:30:00Z"))
            ],
            unackedByLevel: [1: 1, 2: 1], openByRoute: ["emergency": 1, "elsewhere": 2],
            calls: [
                // 999: answered in 4 s and 30 s, one abandoned, one still waiting; 10:xx, 10:xx, 09:xx, 10:xx.
                LiveCall(route: "emergency", receivedAt: ts("2026-11-30T10:00:00Z"), answeredAt: ts("2026-11-30T10:00:04Z")),
                LiveCall(
                    route: "emergency", receivedAt: ts("2026-11-30T10:59:59Z"), answeredAt: ts("2026-11-30T11:00:29Z"),
                    endedAt: ts("2026-11-30T11:05:00Z")),
                LiveCall(route: "emergency", receivedAt: ts("2026-11-30T09:10:00Z"), endedAt: ts("2026-11-30T09:10:30Z")),
                LiveCall(route: "emergency", receivedAt: ts("2026-11-30T10:36:50Z")),
                LiveCall(route: "anti-terrorist-hotline", receivedAt: ts("2026-11-30T23:59:59Z"), answeredAt: ts("2026-12-01T00:00:10Z")),
            ])
        let board = LiveBoard(
            rows: rows, day: day, at: ts("2026-11-30T10:37:00Z"), routes: [Self.emergency, Self.hotline], calendar: Self.calendar)
        #expect(board.routes == ["emergency", "anti-terrorist-hotline", "elsewhere"])
        #expect(board.hours.count == 24 && board.hourLabels.first == "00:00" && board.hourLabels.last == "23:00")
        #expect(board.perHour["emergency"]?[9] == 1 && board.perHour["emergency"]?[10] == 3)
        #expect(board.perHour["emergency"]?.reduce(0, +) == 4)
        #expect(board.perHour["anti-terrorist-hotline"]?[23] == 1)
        let e = board.answerTimes["emergency"]
        #expect(e?.presented == 4 && e?.answered == 2 && e?.abandoned == 1 && e?.waiting == 1)
        // Within 10 s: 1 of 2 answered, 50% < 90%.
        #expect(e?.withinStandard == 1 && e?.met == false)
        let json = board.json
        #expect(json["unacknowledged_total"] == .int(2))
        guard case .array(let alerts)? = json["alerts"], let alert = alerts.first else {
            Issue.record("no alerts: \(json)")
            return
        }
        #expect(alert["age_seconds"] == .int(420))
        #expect(alert["call_id"] == nil, "no call id on a wallboard")
        #expect(json["open_by_route"]?["elsewhere"] == .int(2))
    }

    @Test func theDaysTheClocksChangeHave23And25Hours() {
        let spring = Self.calendar.day(containing: ts("2026-03-29T12:00:00Z"))
        let springBoard = LiveBoard(rows: LiveRows(), day: spring, at: spring.from, routes: [Self.emergency], calendar: Self.calendar)
        #expect(springBoard.hours.count == 23)
        #expect(Array(springBoard.hourLabels.prefix(3)) == ["00:00", "02:00", "03:00"])
        let autumn = Self.calendar.day(containing: ts("2026-10-25T12:00:00Z"))
        let autumnBoard = LiveBoard(rows: LiveRows(), day: autumn, at: autumn.from, routes: [Self.emergency], calendar: Self.calendar)
        #expect(autumnBoard.hours.count == 25)
        #expect(Array(autumnBoard.hourLabels.prefix(4)) == ["00:00", "01:00", "01:00", "02:00"])
        // A call in the second 01:00 (01:30 GMT) counts in that hour.
        let rows = LiveRows(calls: [LiveCall(route: "emergency", receivedAt: ts("2026-10-25T01:30:00Z"))])
        let board = LiveBoard(rows: rows, day: autumn, at: autumn.to, routes: [Self.emergency], calendar: Self.calendar)
        #expect(board.perHour["emergency"]?[2] == 1)
    }

    @Test func listenAddressesAreLoopbackOrUnixSockets() throws {
        #expect(try ListenAddress(parsing: "127.0.0.1:9469") == .tcp(host: "127.0.0.1", port: 9469))
        #expect(try ListenAddress(parsing: "127.8.9.10:1") == .tcp(host: "127.8.9.10", port: 1))
        #expect(try ListenAddress(parsing: "localhost:8469") == .tcp(host: "localhost", port: 8469))
        #expect(try ListenAddress(parsing: "[::1]:8469") == .tcp(host: "::1", port: 8469))
        #expect(try ListenAddress(parsing: "unix:/run/hotlined/metrics.sock") == .unix(path: "/run/hotlined/metrics.sock"))
        #expect(ListenAddress.tcp(host: "::1", port: 8469).description == "[::1]:8469")
        for bad in [
            "0.0.0.0:9469", "10.1.2.3:9469", "[::]:9469", "example.org:80", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536",
            "127.0.0.01:80", "127.0.0.1.5:80", "unix:", "unix:relative/path", ":9469", "[::1]9469",
        ] {
            #expect(throws: ListenAddress.Invalid.self, "\(bad)") { try ListenAddress(parsing: bad) }
        }
    }
}
