/// The shift-end report a duty inspector reads (`--format html`): one self-contained page,
/// no external assets, the summary's figures, the answer times by route and by channel,
/// calls per hour by route as an SVG chart, the escalations with their acknowledgement
/// times and the calls still open; it prints on A4. Like every export it holds no
/// identifying field and no note.
public struct ExportHTML: Sendable {
    public var summary: ShiftSummary
    /// Wall-clock times in the report are the shift's timezone's.
    public var zone: any TimeZoneRules
    /// The highest marking among the calls exported: the page is marked with it.
    public var marking: String
    public var generatedAt: Timestamp
    public var generator: String

    public init(
        summary: ShiftSummary, zone: any TimeZoneRules, marking: String, generatedAt: Timestamp, generator: String
    ) {
        self.summary = summary
        self.zone = zone
        self.marking = marking
        self.generatedAt = generatedAt
        self.generator = generator
    }

    /// Colour-blind-safe colours (Okabe and Ito), one a route, busiest route first.
    public static let palette = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

    /// The page up to its body: the shared stylesheet (A4, the figures, the tables, the
    /// charts) that the shift report and the period report both use.
    static func head(title: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en-GB">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        \(stylesheet)</style>
        </head>

        """
    }

    static let stylesheet = """
        @page { size: A4; margin: 14mm 12mm; }
        * { box-sizing: border-box; }
        body { font: 10.5pt/1.4 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111; margin: 0 auto; max-width: 186mm; padding: 6mm 0; }
        .marking { text-align: center; font-weight: bold; letter-spacing: .08em; margin: 0 0 3mm; }
        h1 { font-size: 16pt; margin: 0 0 1mm; }
        h2 { font-size: 12pt; margin: 6mm 0 2mm; border-bottom: 1.5px solid #111; break-after: avoid; page-break-after: avoid; }
        .sub { color: #333; margin: 0 0 4mm; }
        .figures { display: grid; grid-template-columns: repeat(4, 1fr); gap: 2.5mm; }
        .figure { border: 1px solid #888; border-radius: 2px; padding: 2mm 3mm; break-inside: avoid; }
        .figure .n { display: block; font-size: 17pt; font-weight: bold; }
        .figure .l { font-size: 9pt; color: #333; }
        .warn .n { color: #b00020; }
        .cols { display: grid; grid-template-columns: repeat(4, 1fr); gap: 4mm; }
        table { border-collapse: collapse; width: 100%; font-size: 9.5pt; }
        th, td { text-align: left; padding: 1mm 1.5mm; border-bottom: 1px solid #ccc; vertical-align: top; }
        th { border-bottom: 1.5px solid #111; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        tr { break-inside: avoid; page-break-inside: avoid; }
        .none { color: #b00020; font-weight: bold; }
        .mono { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; }
        figure { margin: 0; break-inside: avoid; }
        svg { width: 100%; height: auto; display: block; }
        .legend { display: flex; flex-wrap: wrap; gap: 2mm 5mm; font-size: 9pt; margin-top: 1mm; }
        .swatch { display: inline-block; width: 3mm; height: 3mm; margin-right: 1mm; vertical-align: -0.3mm; }
        footer { margin-top: 6mm; font-size: 8.5pt; color: #333; }
        .muted { color: #555; }
        h3 { font-size: 10.5pt; margin: 3mm 0 1mm; }
        .handover h2 { color: #b00020; border-color: #b00020; }
        .met { color: #006b3c; font-weight: bold; }
        @media print { body { padding: 0; max-width: none; } .figures { grid-template-columns: repeat(4, 1fr); } }

        """

    /// Escapes text for HTML content and attribute values.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// `HH:MM` on the shift's wall clock.
    func local(_ t: Timestamp, withDate: Bool = false) -> String {
        let shifted = Timestamp(microseconds: t.microseconds + Int64(zone.secondsFromUTC(at: t)) * 1_000_000)
        let c = shifted.utcComponents
        let time = digits(c.hour, 2) + ":" + digits(c.minute, 2)
        return withDate ? digits(c.year, 4) + "-" + digits(c.month, 2) + "-" + digits(c.day, 2) + " " + time : time
    }

    static func seconds(_ x: Double?) -> String {
        guard let x else { return "–" }
        if x < 120 { return ExportCSV.number((x * 10).rounded() / 10) + " s" }
        let m = Int(x.rounded()) / 60, s = Int(x.rounded()) % 60
        return "\(m) min \(digits(s, 2)) s"
    }

    public var page: String {
        let s = summary
        let w = s.window
        let title =
            w.name.map { "Shift summary: \($0) shift, \(w.date ?? "")" }
            ?? "Call summary: \(local(w.from, withDate: true)) to \(local(w.to, withDate: true))"
        let hours = (w.to.seconds(since: w.from) / 3600)
        var html =
            Self.head(title: title) + """
                <body>
                <p class="marking">\(Self.escape(marking))</p>
                <header>
                <h1>\(Self.escape(title))</h1>
                <p class="sub">\(local(w.from, withDate: true)) to \(local(w.to, withDate: true)) \(Self.escape(w.timezone)) (\(ExportCSV.number(hours)) hours; \(w.from.rfc3339) to \(w.to.rfc3339))</p>
                </header>

                """
        // What the next shift must pick up comes first.
        if summary.handover != nil { html += handoverSection() }
        html += figures()
        html += AnswerTimesHTML.table(summary.answerTimes, routes: summary.routesByVolume, caption: "Answer times by route")
        html += AnswerTimesHTML.table(summary.byChannel, routes: summary.routesByVolume, caption: "Answer times by channel")
        html += chart()
        html += breakdowns()
        html += escalationTable()
        if summary.handover == nil { html += openTable() }
        html += """
            <footer>
            <p>No identifying field and no note is included in this report. Calls are counted in the shift in which they were received. Generated \(Self.escape(generatedAt.rfc3339)) by \(Self.escape(generator)).</p>
            </footer>
            <p class="marking">\(Self.escape(marking))</p>
            </body>
            </html>

            """
        return html
    }

    func figures() -> String {
        let s = summary
        func figure(_ n: String, _ label: String, warn: Bool = false) -> String {
            "<div class=\"figure\(warn ? " warn" : "")\"><span class=\"n\">\(Self.escape(n))</span><span class=\"l\">\(Self.escape(label))</span></div>\n"
        }
        let unacked = s.alertsRaised - s.alertsAcked
        var out = "<section class=\"figures\" aria-label=\"Figures\">\n"
        out += figure(String(s.calls), "calls received")
        out += figure(String(s.escalated), "calls escalated")
        out += figure("\(s.alertsAcked) of \(s.alertsRaised)", "alerts acknowledged", warn: unacked > 0)
        out += figure(Self.seconds(s.medianAckSeconds), "median time to acknowledge")
        out += figure(String(s.open), "calls still open", warn: s.open > 0)
        out += figure(String(s.anonymous), "anonymous callers")
        out += figure(Self.seconds(s.medianAnswerSeconds), "median time to answer")
        out += figure(Self.seconds(s.medianHandlingSeconds), "median handling time")
        out += figure(String(s.silent), "silent calls")
        out += figure(String(s.pressed55), "silent callers who pressed 55")
        out += figure(String(s.held), "calls on legal hold")
        return out + "</section>\n"
    }

    /// Calls per hour, stacked by route, as an inline SVG.
    func chart() -> String {
        let s = summary
        let hours = s.window.hours
        let routes = s.routesByVolume
        let colour = Dictionary(uniqueKeysWithValues: routes.enumerated().map { ($1, Self.palette[$0 % Self.palette.count]) })
        let totals = s.perHour.map { $0.values.reduce(0, +) }
        let peak = max(1, totals.max() ?? 0)
        let step = Self.niceStep(peak)
        let top = ((peak + step - 1) / step) * step
        let (width, height, left, bottom, topPad) = (720.0, 260.0, 44.0, 34.0, 10.0)
        let plotW = width - left - 8, plotH = height - bottom - topPad
        let slot = plotW / Double(max(1, hours.count))
        let bar = max(2, slot * 0.72)
        func y(_ v: Int) -> Double { topPad + plotH - plotH * Double(v) / Double(top) }
        func n(_ x: Double) -> String { ExportCSV.number((x * 10).rounded() / 10) }
        var svg = """
            <section>
            <h2>Calls per hour by route</h2>
            <figure>
            <svg viewBox="0 0 \(n(width)) \(n(height))" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">
            <title id="chart-title">Calls per hour by route</title>
            <desc id="chart-desc">\(hours.count) hours, at most \(peak) calls in one hour.</desc>

            """
        var tick = 0
        while tick <= top {
            let ty = y(tick)
            svg +=
                "<line x1=\"\(n(left))\" y1=\"\(n(ty))\" x2=\"\(n(width - 8))\" y2=\"\(n(ty))\" stroke=\"\(tick == 0 ? "#111" : "#ddd")\" stroke-width=\"1\"/>"
            svg += "<text x=\"\(n(left - 6))\" y=\"\(n(ty + 4))\" text-anchor=\"end\">\(tick)</text>\n"
            tick += step
        }
        let labelEvery = max(1, Int((Double(hours.count) / 12).rounded(.up)))
        for (i, hour) in hours.enumerated() {
            let x = left + slot * Double(i) + (slot - bar) / 2
            var base = 0
            for route in routes {
                let count = s.perHour[i][route] ?? 0
                guard count > 0 else { continue }
                svg +=
                    "<rect class=\"bar\" x=\"\(n(x))\" y=\"\(n(y(base + count)))\" width=\"\(n(bar))\" height=\"\(n(y(base) - y(base + count)))\" fill=\"\(colour[route]!)\"><title>\(local(hour)): \(count) \(Self.escape(route))</title></rect>"
                base += count
            }
            if i % labelEvery == 0 {
                svg +=
                    "<text x=\"\(n(left + slot * (Double(i) + 0.5)))\" y=\"\(n(height - bottom + 16))\" text-anchor=\"middle\">\(local(hour))</text>"
            }
            svg += "\n"
        }
        svg += "</svg>\n<figcaption class=\"legend\">"
        for route in routes {
            svg +=
                "<span><span class=\"swatch\" style=\"background:\(colour[route]!)\"></span>\(Self.escape(route)) (\(s.byRoute[route] ?? 0))</span>"
        }
        if routes.isEmpty { svg += "<span class=\"muted\">No calls in this shift.</span>" }
        return svg + "</figcaption>\n</figure>\n</section>\n"
    }

    /// A step for the y axis that gives about five gridlines: 1, 2, 5, 10, 20, 50, …
    public static func niceStep(_ peak: Int) -> Int {
        var magnitude = 1
        while true {
            for f in [1, 2, 5] where peak <= f * magnitude * 6 { return f * magnitude }
            magnitude *= 10
        }
    }

    func breakdowns() -> String {
        let s = summary
        func table(_ title: String, _ counts: [String: Int]) -> String {
            var out = "<div><table><thead><tr><th>\(Self.escape(title))</th><th class=\"num\">calls</th></tr></thead><tbody>"
            let rows = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            for (key, count) in rows { out += "<tr><td>\(Self.escape(key))</td><td class=\"num\">\(count)</td></tr>" }
            if rows.isEmpty { out += "<tr><td class=\"muted\" colspan=\"2\">none</td></tr>" }
            return out + "</tbody></table></div>\n"
        }
        var outcomes = s.byOutcome
        if s.open > 0 { outcomes["(still open)"] = s.open }
        return "<section>\n<h2>Calls by route, grade, outcome and category</h2>\n<div class=\"cols\">\n"
            + table("Route", s.byRoute) + table("Grade", s.byGrade) + table("Outcome", outcomes)
            + table("Category", Dictionary(s.byCategory.map { (s.label(category: $0.key), $0.value) }, uniquingKeysWith: +))
            + "</div>\n</section>\n"
    }

    func escalationTable() -> String {
        let s = summary
        var out = "<section>\n<h2>Escalations (\(s.alertsRaised) alerts, \(s.alertsAcked) acknowledged)</h2>\n"
        guard !s.escalations.isEmpty else { return out + "<p class=\"muted\">No alert was raised in this shift.</p>\n</section>\n" }
        out +=
            "<table><thead><tr><th>raised</th><th>reason</th><th>route</th><th class=\"num\">level</th><th>acknowledged</th><th class=\"num\">after</th><th>call</th></tr></thead><tbody>\n"
        for e in s.escalations.sorted(by: { $0.alert.raisedAt < $1.alert.raisedAt }) {
            let acked = e.alert.ackedAt.map { local($0) } ?? "<span class=\"none\">NOT ACKNOWLEDGED</span>"
            out +=
                "<tr><td>\(local(e.alert.raisedAt))</td><td>\(Self.escape(e.alert.reason))</td><td>\(Self.escape(e.route))</td><td class=\"num\">\(e.alert.level)</td><td>\(acked)</td><td class=\"num\">\(Self.seconds(e.alert.ackSeconds))</td><td class=\"mono\">\(Self.escape(e.callID))</td></tr>\n"
        }
        out += "</tbody></table>\n"
        if s.alertsRaised > s.escalations.count {
            out +=
                "<p class=\"muted\">The first \(s.escalations.count) of \(s.alertsRaised) alerts are listed; the CSV and JSON files have every call.</p>\n"
        }
        return out + "</section>\n"
    }

    /// The handover: calls still open at the shift's end (from any shift), then the calls
    /// that ended in it without an outcome.
    func handoverSection() -> String {
        guard let h = summary.handover else { return "" }
        var out =
            "<section class=\"handover\">\n<h2>Handover at \(local(h.asOf, withDate: true)): \(h.openCount) open, \(h.withoutOutcomeCount) ended without an outcome</h2>\n"
        func table(_ calls: [HandoverCall], ended: Bool) -> String {
            var t =
                "<table><thead><tr><th>received</th><th>route</th><th>grade</th><th>category</th>\(ended ? "<th>ended</th>" : "")<th class=\"num\">open for</th><th>workstation</th><th>handler</th><th>call</th></tr></thead><tbody>\n"
            for c in calls {
                t +=
                    "<tr><td>\(local(c.receivedAt, withDate: true))</td><td>\(Self.escape(c.route))</td><td>\(Self.escape(c.grade))</td><td>\(Self.escape(c.category.map(summary.label(category:)) ?? "–"))</td>"
                if ended { t += "<td>\(c.endedAt.map { local($0) } ?? "–")</td>" }
                t +=
                    "<td class=\"num\">\(Self.duration(c.openSeconds))</td><td>\(Self.escape(c.workstation ?? "–"))</td><td>\(Self.escape(c.handler ?? "–"))</td><td class=\"mono\">\(Self.escape(c.callID))</td></tr>\n"
            }
            return t + "</tbody></table>\n"
        }
        out += "<h3>Calls still open (\(h.openCount))</h3>\n"
        out += h.open.isEmpty ? "<p class=\"muted\">No call is open.</p>\n" : table(h.open, ended: false)
        if h.openCount > h.open.count { out += "<p class=\"muted\">The first \(h.open.count) of \(h.openCount) are listed.</p>\n" }
        out += "<h3>Calls ended without an outcome (\(h.withoutOutcomeCount))</h3>\n"
        out +=
            h.withoutOutcome.isEmpty
            ? "<p class=\"muted\">Every call that has ended has an outcome.</p>\n" : table(h.withoutOutcome, ended: true)
        if h.withoutOutcomeCount > h.withoutOutcome.count {
            out += "<p class=\"muted\">The first \(h.withoutOutcome.count) of \(h.withoutOutcomeCount) are listed.</p>\n"
        }
        return out + "</section>\n"
    }

    /// A duration for the handover: `45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`.
    static func duration(_ x: Double) -> String {
        let s = Int(x.rounded())
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min" }
        if s < 86_400 { return "\(s / 3600) h \(digits((s % 3600) / 60, 2)) min" }
        return "\(s / 86_400) d \((s % 86_400) / 3600) h"
    }

    func openTable() -> String {
        let s = summary
        var out = "<section>\n<h2>Calls still open (\(s.open))</h2>\n"
        guard !s.openCalls.isEmpty else { return out + "<p class=\"muted\">Every call received in this shift has ended.</p>\n</section>\n" }
        out +=
            "<table><thead><tr><th>received</th><th>route</th><th>grade</th><th>marking</th><th>workstation</th><th>handler</th><th>call</th></tr></thead><tbody>\n"
        for c in s.openCalls {
            out +=
                "<tr><td>\(local(c.receivedAt))</td><td>\(Self.escape(c.route))</td><td>\(Self.escape(c.grade))</td><td>\(Self.escape(c.marking))</td><td>\(Self.escape(c.workstation ?? "–"))</td><td>\(Self.escape(c.handler ?? "–"))</td><td class=\"mono\">\(Self.escape(c.id))</td></tr>\n"
        }
        out += "</tbody></table>\n"
        if s.open > s.openCalls.count {
            out += "<p class=\"muted\">The first \(s.openCalls.count) of \(s.open) open calls are listed; the CSV has every call.</p>\n"
        }
        return out + "</section>\n"
    }
}
