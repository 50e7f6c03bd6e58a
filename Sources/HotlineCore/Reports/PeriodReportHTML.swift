/// The period report as a page (`hotlinectl report --format html`): the answer-time tables
/// (by route, and by route and channel) and, for each route, a chart with a bar a local
/// day: the share answered within the route's standard (with the target drawn across), or,
/// for a route without one, the average wait. Self-contained, no identifying field, prints
/// on A4.
public struct PeriodReportHTML: Sendable {
    public var report: PeriodReport
    public var generatedAt: Timestamp
    public var generator: String

    public init(report: PeriodReport, generatedAt: Timestamp, generator: String) {
        self.report = report
        self.generatedAt = generatedAt
        self.generator = generator
    }

    public var page: String {
        let e = ExportHTML.escape
        let r = report
        let title =
            r.window.name == "month"
            ? "Answer times: \(r.window.date ?? "")" : "Answer times: \(r.window.from.rfc3339) to \(r.window.to.rfc3339)"
        var html =
            ExportHTML.head(title: title) + """
                <body>
                <p class="marking">\(e(r.highestMarking.rawValue))</p>
                <header>
                <h1>\(e(title))</h1>
                <p class="sub">\(e(r.days.first?.date ?? "")) to \(e(r.days.last?.date ?? "")) \(e(r.window.timezone)), \(r.days.count) days (\(ExportCSV.number(r.window.to.seconds(since: r.window.from) / 3600)) hours; \(r.window.from.rfc3339) to \(r.window.to.rfc3339)); \(r.calls) calls.</p>
                </header>

                """
        html += AnswerTimesHTML.table(r.totals, routes: r.routeOrder, caption: "Answer times by route")
        html += AnswerTimesHTML.table(r.byChannel, routes: r.routeOrder, caption: "Answer times by channel")
        for route in r.routeOrder { html += chart(route) }
        html += """
            <footer>
            <p>Calls are counted on the day they reached the force, on the wall clock of \(e(r.window.timezone)). No identifying field and no note is included. Generated \(e(generatedAt.rfc3339)) by \(e(generator)).</p>
            </footer>
            <p class="marking">\(e(r.highestMarking.rawValue))</p>
            </body>
            </html>

            """
        return html
    }

    /// One route's days as bars: share within the standard (0 to 100%), or the mean wait.
    func chart(_ route: String) -> String {
        let e = ExportHTML.escape
        let r = report
        let standard = r.totals[route]?.standard
        let values: [Double?] = r.perDay.map { day in
            guard let s = day[route] else { return nil }
            return standard != nil ? s.share(s.withinStandard).map { $0 * 100 } : s.meanSeconds
        }
        let peak = standard != nil ? 100 : max(1, Int((values.compactMap { $0 }.max() ?? 1).rounded(.up)))
        let step = standard != nil ? 20 : ExportHTML.niceStep(peak)
        let top = ((peak + step - 1) / step) * step
        let (width, height, left, bottom, topPad) = (720.0, 220.0, 44.0, 34.0, 10.0)
        let plotW = width - left - 8, plotH = height - bottom - topPad
        let slot = plotW / Double(max(1, r.days.count))
        let bar = max(2, slot * 0.72)
        func y(_ v: Double) -> Double { topPad + plotH - plotH * v / Double(top) }
        func n(_ x: Double) -> String { ExportCSV.number((x * 10).rounded() / 10) }
        let what =
            standard.map { "Share answered within \(ExportCSV.number($0.withinSeconds)) s, by day" } ?? "Average wait to answer, by day"
        let id = "chart-" + route
        var svg = """
            <section>
            <h2>\(e(route)): \(e(what))</h2>
            <figure>
            <svg viewBox="0 0 \(n(width)) \(n(height))" role="img" aria-labelledby="\(e(id))-title" xmlns="http://www.w3.org/2000/svg" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">
            <title id="\(e(id))-title">\(e(route)): \(e(what))</title>

            """
        var tick = 0
        while tick <= top {
            let ty = y(Double(tick))
            svg +=
                "<line x1=\"\(n(left))\" y1=\"\(n(ty))\" x2=\"\(n(width - 8))\" y2=\"\(n(ty))\" stroke=\"\(tick == 0 ? "#111" : "#ddd")\" stroke-width=\"1\"/>"
            svg += "<text x=\"\(n(left - 6))\" y=\"\(n(ty + 4))\" text-anchor=\"end\">\(tick)\(standard != nil ? "%" : " s")</text>\n"
            tick += step
        }
        let labelEvery = max(1, Int((Double(r.days.count) / 16).rounded(.up)))
        for (i, day) in r.days.enumerated() {
            let x = left + slot * Double(i) + (slot - bar) / 2
            if let v = values[i] {
                let missed = r.perDay[i][route]?.met == false
                let label =
                    standard != nil
                    ? AnswerTimesHTML.percent(r.perDay[i][route]!, r.perDay[i][route]!.withinStandard) : ExportHTML.seconds(v)
                svg +=
                    "<rect class=\"bar\" x=\"\(n(x))\" y=\"\(n(y(v)))\" width=\"\(n(bar))\" height=\"\(n(y(0) - y(v)))\" fill=\"\(missed ? "#D55E00" : "#0072B2")\"><title>\(e(day.date)): \(e(label)) of \(r.perDay[i][route]?.answered ?? 0) answered</title></rect>"
            }
            if i % labelEvery == 0 {
                svg +=
                    "<text x=\"\(n(left + slot * (Double(i) + 0.5)))\" y=\"\(n(height - bottom + 16))\" text-anchor=\"middle\">\(e(String(day.date.suffix(5))))</text>"
            }
            svg += "\n"
        }
        if let standard {
            let ty = y(standard.share * 100)
            svg +=
                "<line class=\"target\" x1=\"\(n(left))\" y1=\"\(n(ty))\" x2=\"\(n(width - 8))\" y2=\"\(n(ty))\" stroke=\"#111\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/><text x=\"\(n(width - 10))\" y=\"\(n(ty - 4))\" text-anchor=\"end\">target \(ExportCSV.number(standard.share * 100))%</text>\n"
        }
        svg += "</svg>\n"
        let caption =
            standard != nil
            ? "Bars below the dashed target are orange. A day without a bar had no answered call."
            : "A day without a bar had no answered call."
        return svg + "<figcaption class=\"muted\">\(caption)</figcaption>\n</figure>\n</section>\n"
    }
}
