/// The answer-time table both reports show: one row a route, the Home Office's bands, the
/// mean and 90th percentile, and whether the route's standard was met.
public enum AnswerTimesHTML {
    /// `count` of the answered calls as a percentage to one place, rounded down.
    public static func percent(_ s: AnswerStats, _ count: Int) -> String {
        guard let tenths = s.shareDown(count, scale: 1000) else { return "–" }
        return ExportCSV.number(Double(tenths) / 10) + "%"
    }

    static func table(_ stats: [String: AnswerStats], routes busiest: [String], caption: String) -> String {
        let e = ExportHTML.escape
        // Routes with a standard first, then by volume, then any other configured route.
        let order = busiest + stats.keys.filter { !busiest.contains($0) }.sorted()
        let rows = order.compactMap { name in stats[name].map { (name, $0) } }
        var out = "<section>\n<h2>\(e(caption))</h2>\n"
        guard !rows.isEmpty else { return out + "<p class=\"muted\">No calls.</p>\n</section>\n" }
        out +=
            "<table class=\"answer-times\"><thead><tr><th>route</th><th class=\"num\">presented</th><th class=\"num\">answered</th><th class=\"num\">abandoned</th><th class=\"num\">under 10 s</th><th class=\"num\">10 to 60 s</th><th class=\"num\">60 s or more</th><th class=\"num\">mean</th><th class=\"num\">90th pct</th><th>standard</th></tr></thead><tbody>\n"
        for (name, s) in rows {
            func band(_ n: Int) -> String { "\(n) (\(percent(s, n)))" }
            let standard: String
            if let std = s.standard {
                let target = "\(ExportCSV.number(std.share * 100))% in \(ExportCSV.number(std.withinSeconds)) s"
                switch s.met {
                case true?: standard = "<span class=\"met\">met</span>: \(percent(s, s.withinStandard)) (\(e(target)))"
                case false?: standard = "<span class=\"none\">NOT MET</span>: \(percent(s, s.withinStandard)) (\(e(target)))"
                case nil: standard = "no answered call (\(e(target)))"
                }
            } else {
                standard = "<span class=\"muted\">average wait</span>"
            }
            out +=
                "<tr><td>\(e(name))</td><td class=\"num\">\(s.presented)</td><td class=\"num\">\(s.answered)</td><td class=\"num\">\(s.abandoned)</td><td class=\"num\">\(band(s.under10))</td><td class=\"num\">\(band(s.from10To60))</td><td class=\"num\">\(band(s.sixtyOrMore))</td><td class=\"num\">\(ExportHTML.seconds(s.meanSeconds))</td><td class=\"num\">\(ExportHTML.seconds(s.p90Seconds))</td><td>\(standard)</td></tr>\n"
        }
        return out
            + "</tbody></table>\n<p class=\"muted\">Answer time runs from the call reaching the force to a handler answering it. Shares are of the calls answered; abandoned calls ended unanswered.</p>\n</section>\n"
    }
}
