/// The answer-time tables both reports show: one row a route, the Home Office's bands, the
/// mean and 90th percentile, and whether the route's standard was met; and, narrower, one
/// row a route and channel (issue 18), so a route's relay calls sit beside its voice calls.
public enum AnswerTimesHTML {
    /// `count` of the answered calls as a percentage to one place, rounded down.
    public static func percent(_ s: AnswerStats, _ count: Int) -> String {
        guard let tenths = s.shareDown(count, scale: 1000) else { return "–" }
        return ExportCSV.number(Double(tenths) / 10) + "%"
    }

    static func table(_ stats: [String: AnswerStats], routes busiest: [String], caption: String) -> String {
        // Routes with a standard first, then by volume, then any other configured route.
        let order = busiest + stats.keys.filter { !busiest.contains($0) }.sorted()
        return table(
            caption: caption, labels: ["route"], rows: order.compactMap { name in stats[name].map { ([name], $0) } }, bands: true,
            note:
                "Answer time runs from the call reaching the force to a handler answering it. Shares are of the calls answered; abandoned calls ended unanswered."
        )
    }

    /// Each route's calls on each channel that had one: calls, answered, abandoned, mean,
    /// 90th percentile and the route's standard, without the bands.
    static func table(_ byChannel: AnswerTimesByChannel, routes: [String], caption: String) -> String {
        table(
            caption: caption, labels: ["route", "channel"],
            rows: byChannel.rows(routes: routes).map { ([$0.route, $0.channel.rawValue], $0.stats) }, bands: false,
            note:
                "A voice call is answered when a handler picks up; a text relay or BSL video relay call when the handler is connected to the relay assistant or interpreter; an SMS when the first reply is sent; an online report when a handler takes it up (from its submission). Shares are of the calls answered; abandoned calls ended unanswered."
        )
    }

    /// The table: a row's `labels` cells (escaped here) then its figures.
    private static func table(caption: String, labels: [String], rows: [([String], AnswerStats)], bands: Bool, note: String)
        -> String
    {
        let e = ExportHTML.escape
        var out = "<section>\n<h2>\(e(caption))</h2>\n"
        guard !rows.isEmpty else { return out + "<p class=\"muted\">No calls.</p>\n</section>\n" }
        out += "<table class=\"answer-times\"><thead><tr>"
        for label in labels { out += "<th>\(e(label))</th>" }
        out += bands ? "<th class=\"num\">presented</th>" : "<th class=\"num\">calls</th>"
        out += "<th class=\"num\">answered</th><th class=\"num\">abandoned</th>"
        if bands { out += "<th class=\"num\">under 10 s</th><th class=\"num\">10 to 60 s</th><th class=\"num\">60 s or more</th>" }
        out += "<th class=\"num\">mean</th><th class=\"num\">90th pct</th><th>standard</th></tr></thead><tbody>\n"
        for (cells, s) in rows {
            func band(_ n: Int) -> String { "\(n) (\(percent(s, n)))" }
            out += "<tr>"
            for cell in cells { out += "<td>\(e(cell))</td>" }
            out += "<td class=\"num\">\(s.presented)</td><td class=\"num\">\(s.answered)</td><td class=\"num\">\(s.abandoned)</td>"
            if bands {
                out +=
                    "<td class=\"num\">\(band(s.under10))</td><td class=\"num\">\(band(s.from10To60))</td><td class=\"num\">\(band(s.sixtyOrMore))</td>"
            }
            out +=
                "<td class=\"num\">\(ExportHTML.seconds(s.meanSeconds))</td><td class=\"num\">\(ExportHTML.seconds(s.p90Seconds))</td><td>\(standard(s))</td></tr>\n"
        }
        return out + "</tbody></table>\n<p class=\"muted\">\(e(note))</p>\n</section>\n"
    }

    /// Whether the standard was met, and the share within it; a route without one is
    /// measured by its average wait.
    static func standard(_ s: AnswerStats) -> String {
        let e = ExportHTML.escape
        guard let std = s.standard else { return "<span class=\"muted\">average wait</span>" }
        let target = "\(ExportCSV.number(std.share * 100))% in \(ExportCSV.number(std.withinSeconds)) s"
        switch s.met {
        case true?: return "<span class=\"met\">met</span>: \(percent(s, s.withinStandard)) (\(e(target)))"
        case false?: return "<span class=\"none\">NOT MET</span>: \(percent(s, s.withinStandard)) (\(e(target)))"
        case nil: return "no answered call (\(e(target)))"
        }
    }
}
