import Foundation
import SensorCore

extension DatasetReport {
    /// One self-contained HTML page: inline CSS and inline SVG charts (class balance, a duration
    /// histogram per label, frames over time), tables for the rest. No script, no font, no image,
    /// no link: it opens offline. Each label keeps its color on every chart. Chart elements carry
    /// `data-*` attributes with their numbers (`data-label`, `data-frames`), for tests and tools.
    public func html() -> String {
        var page = HTMLPage(report: self)
        return page.render()
    }
}

private struct HTMLPage {
    let report: DatasetReport
    var out = ""

    init(report: DatasetReport) { self.report = report }

    private func e(_ text: some StringProtocol) -> String { ReportSVG.escape(text) }

    private func color(_ index: Int) -> String {
        ReportSVG.color(index, folded: report.labels[index].folded)
    }

    mutating func render() -> String {
        let title = "Dataset report: \(ReportFormat.count(report.frames)) frames"
        out += """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(e(title))</title>
            <style>\(Self.css)</style>
            </head>
            <body>
            <main>
            <header class="top">
            <h1>Dataset report</h1>
            <p class="subtitle">\(e(subtitle()))</p>
            </header>

            """
        cards()
        legend()
        balance()
        durations()
        timeline()
        labelTable()
        rules()
        files()
        badLines()
        out += """
            <footer>Made by <code>dps report</code>. Durations are nearest-rank quantiles from a log-scale \
            histogram (100 buckets per decade, within 2.3%); payload lengths are exact.</footer>
            </main>
            </body>
            </html>

            """
        return out
    }

    private func subtitle() -> String {
        let names = report.files.map { $0.path.split(separator: "/").last.map(String.init) ?? $0.path }
        let shown = names.prefix(3).joined(separator: ", ") + (names.count > 3 ? " and \(names.count - 3) more" : "")
        return "\(report.files.count) file\(report.files.count == 1 ? "" : "s"): \(shown)"
    }

    // MARK: - Summary

    private mutating func cards() {
        var items: [(String, String, String)] = [
            ("Frames", ReportFormat.count(report.frames), ""),
            ("Labels", ReportFormat.count(UInt64(report.labels.count)), ""),
            (
                "Duplicates", ReportFormat.count(report.duplicates),
                report.frames == 0 ? "" : ReportFormat.percent(Double(report.duplicates) / Double(report.frames)) + " of frames"
            ),
            ("Bad lines", ReportFormat.count(report.badLines), report.badLines > 0 ? "skipped" : ""),
        ]
        if let time = report.time {
            items.append(("Time span", ReportFormat.seconds(time.spanSeconds), "\(time.gaps.count) gap\(time.gaps.count == 1 ? "" : "s")"))
        } else {
            items.append(("Time span", "unknown", "no first_seen"))
        }
        out += "<section class=\"cards\">\n"
        for (name, value, note) in items {
            let warn = (name == "Bad lines" && report.badLines > 0) || (name == "Duplicates" && report.duplicates > 0)
            out += "<div class=\"card\(warn ? " warn" : "")\"><div class=\"card-name\">\(e(name))</div>"
            out += "<div class=\"card-value\">\(e(value))</div><div class=\"card-note\">\(e(note))</div></div>\n"
        }
        out += "</section>\n"
    }

    private mutating func legend() {
        guard !report.labels.isEmpty else { return }
        out += "<nav class=\"legend\" aria-label=\"labels\">"
        for (i, label) in report.labels.enumerated() {
            out += "<span class=\"key\" data-label=\"\(e(label.displayName))\"><span class=\"swatch\" style=\"background:\(color(i))\"></span>"
            out += "\(e(label.displayName))</span>"
        }
        out += "</nav>\n"
    }

    // MARK: - Class balance

    private mutating func balance() {
        out += "<section id=\"class-balance\"><h2>Class balance</h2>\n"
        guard !report.labels.isEmpty else {
            out += "<p class=\"notice\">No frames.</p></section>\n"
            return
        }
        let rowHeight = 34.0
        let left = 190.0
        let barArea = 620.0
        let top = 8.0
        let width = 1000.0
        let height = top + rowHeight * Double(report.labels.count) + 44
        let maxShare = report.labels.map(\.share).max() ?? 1
        let ticks = ReportSVG.ticks(upTo: maxShare * 100, count: 5)
        let scale = barArea / (ticks.last ?? 100)
        out += "<svg class=\"chart\" id=\"balance-chart\" viewBox=\"0 0 \(ReportSVG.n(width)) \(ReportSVG.n(height))\" "
        out += "role=\"img\" aria-label=\"frames per label\" xmlns=\"http://www.w3.org/2000/svg\">\n"
        let axisY = top + rowHeight * Double(report.labels.count)
        for tick in ticks {
            let x = left + tick * scale
            out += "<line class=\"grid\" x1=\"\(ReportSVG.n(x))\" y1=\"\(ReportSVG.n(top))\" x2=\"\(ReportSVG.n(x))\" y2=\"\(ReportSVG.n(axisY))\"/>"
            out += "<text class=\"tick\" x=\"\(ReportSVG.n(x))\" y=\"\(ReportSVG.n(axisY + 16))\" text-anchor=\"middle\">\(ReportSVG.n(tick))%</text>\n"
        }
        out += "<text class=\"axis-title\" x=\"\(ReportSVG.n(left + barArea / 2))\" y=\"\(ReportSVG.n(axisY + 36))\" text-anchor=\"middle\">share of frames</text>\n"
        for (i, label) in report.labels.enumerated() {
            let y = top + rowHeight * Double(i)
            let barWidth = max(label.share * 100 * scale, label.frames > 0 ? 1.5 : 0)
            let name = label.displayName
            let shown = name.count > 26 ? String(name.prefix(25)) + "…" : name
            out += "<text class=\"row-label\" x=\"\(ReportSVG.n(left - 10))\" y=\"\(ReportSVG.n(y + rowHeight / 2 + 5))\" text-anchor=\"end\">\(e(shown))</text>"
            out += "<rect class=\"bar\" data-label=\"\(e(name))\" data-frames=\"\(label.frames)\" data-share=\"\(String(format: "%.6f", label.share))\" "
            out += "x=\"\(ReportSVG.n(left))\" y=\"\(ReportSVG.n(y + 5))\" width=\"\(ReportSVG.n(barWidth))\" height=\"\(ReportSVG.n(rowHeight - 10))\" rx=\"3\" fill=\"\(color(i))\">"
            out += "<title>\(e(name)): \(ReportFormat.count(label.frames)) frames (\(ReportFormat.percent(label.share)))</title></rect>"
            out += "<text class=\"value\" x=\"\(ReportSVG.n(left + barWidth + 8))\" y=\"\(ReportSVG.n(y + rowHeight / 2 + 5))\">"
            out += "\(ReportFormat.count(label.frames)) · \(ReportFormat.percent(label.share))</text>\n"
        }
        out += "<line class=\"axis\" x1=\"\(ReportSVG.n(left))\" y1=\"\(ReportSVG.n(top))\" x2=\"\(ReportSVG.n(left))\" y2=\"\(ReportSVG.n(axisY))\"/>\n"
        out += "</svg>\n</section>\n"
    }

    // MARK: - Durations

    private mutating func durations() {
        out += "<section id=\"durations\"><h2>Duration per label</h2>\n"
        let positive = report.labels.filter { $0.duration.count > $0.duration.zeros }
        guard !report.labels.isEmpty else {
            out += "<p class=\"notice\">No frames.</p></section>\n"
            return
        }
        // One x range for all, whole decades, 5 bins per decade.
        let perBin = LogHistogram.bucketsPerDecade / 5
        let lowest = positive.map { $0.duration.minimum }.filter { $0 > 0 }.min() ?? 1
        let highest = positive.map(\.duration.maximum).max() ?? 10
        var low = max(Int(floor(log10(lowest))), -6)
        var high = min(Int(ceil(log10(highest))), -6 + LogHistogram.decades)
        if high <= low { high = low + 1 }
        if high - low < 2 { low = max(-6, high - 2) }
        let anyZeros = report.labels.contains { $0.duration.zeros > 0 }
        out += "<p class=\"caption\">Frames by duration, log scale, 5 bins per decade; the dashed line is the median. "
        out += "Each chart has its own frame scale.</p>\n<div class=\"grid2\">\n"
        for (i, label) in report.labels.enumerated() {
            histogram(label, index: i, low: low, high: high, perBin: perBin, zeroSlot: anyZeros)
        }
        out += "</div>\n</section>\n"
    }

    private mutating func histogram(_ label: DatasetReport.Label, index: Int, low: Int, high: Int, perBin: Int, zeroSlot: Bool) {
        let width = 480.0
        let height = 240.0
        let left = 56.0
        let right = 24.0
        let top = 26.0
        let bottom = 50.0
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let groups = label.duration.grouped(by: perBin)
        let binsPerDecade = LogHistogram.bucketsPerDecade / perBin
        let first = (low + 6) * binsPerDecade
        let last = (high + 6) * binsPerDecade  // exclusive
        var counts = Array(groups[first..<min(last, groups.count)])
        // Values outside the shown decades (none with the range above) go to the edge bins.
        counts[0] += groups[0..<first].reduce(0, +)
        counts[counts.count - 1] += groups[min(last, groups.count)...].reduce(0, +)
        let slots = Double(counts.count + (zeroSlot ? 2 : 0))
        let slot = plotWidth / slots
        let logStart = left + (zeroSlot ? 2 * slot : 0)
        let maxCount = Double(max(counts.max() ?? 0, label.duration.zeros, 1))
        let ticks = ReportSVG.ticks(upTo: maxCount, count: 4)
        let yScale = plotHeight / (ticks.last ?? maxCount)
        let baseY = top + plotHeight
        let name = label.displayName
        out += "<figure class=\"hist\"><figcaption><span class=\"swatch\" style=\"background:\(color(index))\"></span>"
        out += "\(e(name)) <span class=\"muted\">· \(ReportFormat.count(label.frames)) frames</span></figcaption>\n"
        out += "<svg class=\"chart histogram\" data-label=\"\(e(name))\" data-frames=\"\(label.duration.count)\" "
        out += "viewBox=\"0 0 \(ReportSVG.n(width)) \(ReportSVG.n(height))\" role=\"img\" aria-label=\"durations of \(e(name))\" xmlns=\"http://www.w3.org/2000/svg\">\n"
        for tick in ticks {
            let y = baseY - tick * yScale
            out += "<line class=\"grid\" x1=\"\(ReportSVG.n(left))\" y1=\"\(ReportSVG.n(y))\" x2=\"\(ReportSVG.n(width - right))\" y2=\"\(ReportSVG.n(y))\"/>"
            out += "<text class=\"tick\" x=\"\(ReportSVG.n(left - 6))\" y=\"\(ReportSVG.n(y + 4))\" text-anchor=\"end\">\(ReportSVG.short(tick))</text>\n"
        }
        let fill = color(index)
        if zeroSlot {
            let zeros = Double(label.duration.zeros)
            let h = zeros * yScale
            out += "<rect class=\"hbar zero\" data-min=\"0\" data-max=\"0\" data-frames=\"\(label.duration.zeros)\" x=\"\(ReportSVG.n(left + 1))\" "
            out += "y=\"\(ReportSVG.n(baseY - h))\" width=\"\(ReportSVG.n(max(slot - 2, 1)))\" height=\"\(ReportSVG.n(h))\" fill=\"\(fill)\">"
            out += "<title>0 s: \(ReportFormat.count(label.duration.zeros)) frames</title></rect>"
            out += "<text class=\"tick\" x=\"\(ReportSVG.n(left + slot / 2))\" y=\"\(ReportSVG.n(baseY + 16))\" text-anchor=\"middle\">0</text>\n"
        }
        for (i, count) in counts.enumerated() {
            let x = logStart + Double(i) * slot
            let h = Double(count) * yScale
            let lower = LogHistogram.lowerEdge((first + i) * perBin)
            let upper = LogHistogram.lowerEdge((first + i + 1) * perBin)
            out += "<rect class=\"hbar\" data-min=\"\(lower)\" data-max=\"\(upper)\" data-frames=\"\(count)\" x=\"\(ReportSVG.n(x + 0.5))\" "
            out += "y=\"\(ReportSVG.n(baseY - h))\" width=\"\(ReportSVG.n(max(slot - 1, 0.5)))\" height=\"\(ReportSVG.n(h))\" fill=\"\(fill)\">"
            out += "<title>\(ReportFormat.seconds(lower)) – \(ReportFormat.seconds(upper)): \(ReportFormat.count(count)) frames</title></rect>\n"
        }
        // Decade ticks.
        for exponent in low...high {
            let x = logStart + Double((exponent - low) * binsPerDecade) * slot
            out += "<line class=\"axis-tick\" x1=\"\(ReportSVG.n(x))\" y1=\"\(ReportSVG.n(baseY))\" x2=\"\(ReportSVG.n(x))\" y2=\"\(ReportSVG.n(baseY + 5))\"/>"
            out += "<text class=\"tick\" x=\"\(ReportSVG.n(x))\" y=\"\(ReportSVG.n(baseY + 16))\" text-anchor=\"middle\">\(e(ReportSVG.decade(exponent)))</text>\n"
        }
        out += "<line class=\"axis\" x1=\"\(ReportSVG.n(left))\" y1=\"\(ReportSVG.n(baseY))\" x2=\"\(ReportSVG.n(width - right))\" y2=\"\(ReportSVG.n(baseY))\"/>\n"
        if let median = label.durations?.median, median > 0 {
            let position = (log10(median) - Double(low)) * Double(binsPerDecade) * slot
            let x = min(max(logStart + position, logStart), width - right)
            out += "<line class=\"median\" x1=\"\(ReportSVG.n(x))\" y1=\"\(ReportSVG.n(top - 6))\" x2=\"\(ReportSVG.n(x))\" y2=\"\(ReportSVG.n(baseY))\"/>"
            let anchor = x > width - 140 ? "end" : "start"
            let dx = anchor == "end" ? -4.0 : 4.0
            out += "<text class=\"median-label\" x=\"\(ReportSVG.n(x + dx))\" y=\"\(ReportSVG.n(top - 10))\" text-anchor=\"\(anchor)\">median \(e(ReportFormat.seconds(median)))</text>\n"
        }
        out += "<text class=\"axis-title\" x=\"\(ReportSVG.n(left + plotWidth / 2))\" y=\"\(ReportSVG.n(height - 8))\" text-anchor=\"middle\">duration (log scale)</text>"
        out += "<text class=\"axis-title\" transform=\"translate(14 \(ReportSVG.n(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">frames</text>\n"
        out += "</svg></figure>\n"
    }

    // MARK: - Time

    private mutating func timeline() {
        out += "<section id=\"frames-over-time\"><h2>Frames over time</h2>\n"
        guard let time = report.time else {
            out += "<p class=\"notice\" id=\"no-time\">Time unknown: the frames carry no <code>first_seen</code> "
            out += "(basic frames; <code>dps label --extended</code> and the sensor's dataset files write it).</p>\n</section>\n"
            return
        }
        let width = 1000.0
        let height = 330.0
        let left = 64.0
        let right = 20.0
        let top = 16.0
        let bottom = 58.0
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let bins = time.bins
        let start = time.binStart
        let binWidth = time.binWidth
        // Bin i starts at start + i × binWidth (saturating: hostile times reach Int64's ends).
        func binTime(_ i: Int) -> Int64 {
            let exact = Double(start) + Double(binWidth) * Double(i)
            return exact >= Double(Int64.max) ? .max : Int64(exact)
        }
        let end = binTime(bins.count)
        let domain = max(Double(end) - Double(start), 1)
        func x(_ t: Int64) -> Double { left + (Double(t) - Double(start)) / domain * plotWidth }
        let totals = bins.map { $0.reduce(0, +) }
        let ticks = ReportSVG.ticks(upTo: Double(max(totals.max() ?? 1, 1)), count: 5)
        let yScale = plotHeight / (ticks.last ?? 1)
        let baseY = top + plotHeight
        out += "<p class=\"caption\">Frames by <code>first_seen</code> (UTC), stacked by label, bins of "
        out += "\(e(ReportFormat.seconds(Double(binWidth) / 1e6))). "
        out += "First seen \(e(ReportFormat.utc(time.first))), last seen \(e(ReportFormat.utc(time.last))). "
        let threshold = ReportFormat.seconds(Double(time.gapThreshold) / 1e6)
        out += time.gaps.isEmpty
            ? "No gap longer than \(e(threshold)).</p>\n"
            : "Hatched: \(time.gaps.count) gap\(time.gaps.count == 1 ? "" : "s") longer than \(e(threshold)) with no frame.</p>\n"
        if report.framesWithoutTime > 0 {
            out += "<p class=\"notice\">\(ReportFormat.count(report.framesWithoutTime)) frames carry no <code>first_seen</code> and are not in this chart.</p>\n"
        }
        out += "<svg class=\"chart\" id=\"time-chart\" data-bins=\"\(bins.count)\" data-gaps=\"\(time.gaps.count)\" "
        out += "viewBox=\"0 0 \(ReportSVG.n(width)) \(ReportSVG.n(height))\" role=\"img\" aria-label=\"frames over time\" xmlns=\"http://www.w3.org/2000/svg\">\n"
        out += "<defs><pattern id=\"hatch\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
        out += "<rect width=\"8\" height=\"8\" fill=\"#fdf1f1\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#e8a3a3\" stroke-width=\"3\"/></pattern></defs>\n"
        for tick in ticks {
            let y = baseY - tick * yScale
            out += "<line class=\"grid\" x1=\"\(ReportSVG.n(left))\" y1=\"\(ReportSVG.n(y))\" x2=\"\(ReportSVG.n(width - right))\" y2=\"\(ReportSVG.n(y))\"/>"
            out += "<text class=\"tick\" x=\"\(ReportSVG.n(left - 6))\" y=\"\(ReportSVG.n(y + 4))\" text-anchor=\"end\">\(ReportSVG.short(tick))</text>\n"
        }
        for gap in time.gaps {
            let x1 = max(x(gap.start), left)
            let x2 = min(x(gap.end), width - right)
            guard x2 > x1 else { continue }
            out += "<rect class=\"gap\" data-start=\"\(e(ReportFormat.rfc3339(gap.start)))\" data-end=\"\(e(ReportFormat.rfc3339(gap.end)))\" "
            out += "x=\"\(ReportSVG.n(x1))\" y=\"\(ReportSVG.n(top))\" width=\"\(ReportSVG.n(x2 - x1))\" height=\"\(ReportSVG.n(plotHeight))\" fill=\"url(#hatch)\">"
            out += "<title>gap: \(e(ReportFormat.utc(gap.start))) → \(e(ReportFormat.utc(gap.end))) (\(e(ReportFormat.seconds(gap.seconds))))</title></rect>"
            if x2 - x1 > 60 {
                out += "<text class=\"gap-label\" x=\"\(ReportSVG.n((x1 + x2) / 2))\" y=\"\(ReportSVG.n(top + 16))\" text-anchor=\"middle\">gap \(e(ReportFormat.seconds(gap.seconds)))</text>"
            }
            out += "\n"
        }
        let slot = plotWidth / Double(bins.count)
        let barWidth = slot > 4 ? slot - 1.5 : slot
        for (i, bin) in bins.enumerated() {
            var y = baseY
            let x0 = left + Double(i) * slot + (slot - barWidth) / 2
            for (label, count) in bin.enumerated() where count > 0 {
                let h = Double(count) * yScale
                y -= h
                let name = report.labels[label].displayName
                out += "<rect class=\"tbar\" data-bin=\"\(i)\" data-label=\"\(e(name))\" data-frames=\"\(count)\" x=\"\(ReportSVG.n(x0))\" "
                out += "y=\"\(ReportSVG.n(y))\" width=\"\(ReportSVG.n(barWidth))\" height=\"\(ReportSVG.n(h))\" fill=\"\(color(label))\">"
                out += "<title>\(e(ReportFormat.utc(binTime(i)))): \(e(name)) \(ReportFormat.count(count))</title></rect>"
            }
            out += "\n"
        }
        let (step, timeTicks) = ReportSVG.timeTicks(from: start, to: end)
        let spansDays = ReportFormat.civil(start).day != ReportFormat.civil(end).day || Double(end) - Double(start) > 86_400e6
        for tick in timeTicks {
            let tx = x(tick)
            out += "<line class=\"axis-tick\" x1=\"\(ReportSVG.n(tx))\" y1=\"\(ReportSVG.n(baseY))\" x2=\"\(ReportSVG.n(tx))\" y2=\"\(ReportSVG.n(baseY + 5))\"/>"
            out += "<text class=\"tick\" x=\"\(ReportSVG.n(tx))\" y=\"\(ReportSVG.n(baseY + 18))\" text-anchor=\"middle\">\(e(ReportSVG.timeLabel(tick, step: step, spansDays: spansDays)))</text>\n"
        }
        out += "<line class=\"axis\" x1=\"\(ReportSVG.n(left))\" y1=\"\(ReportSVG.n(baseY))\" x2=\"\(ReportSVG.n(width - right))\" y2=\"\(ReportSVG.n(baseY))\"/>\n"
        out += "<text class=\"axis-title\" x=\"\(ReportSVG.n(left + plotWidth / 2))\" y=\"\(ReportSVG.n(height - 10))\" text-anchor=\"middle\">first_seen (UTC\(spansDays ? "" : ", " + e(ReportFormat.utc(start).prefix(10))))</text>"
        out += "<text class=\"axis-title\" transform=\"translate(16 \(ReportSVG.n(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">frames per bin</text>\n"
        out += "</svg>\n</section>\n"
    }

    // MARK: - Tables

    private mutating func labelTable() {
        guard !report.labels.isEmpty else { return }
        out += "<section id=\"per-label\"><h2>Per label</h2>\n<div class=\"scroll\"><table>\n<thead><tr>"
        out += "<th class=\"l\">label</th><th>frames</th><th>share</th><th>bytes</th><th>bytes share</th><th>no payload</th>"
        out += "<th>duplicates</th><th class=\"l\">top destination ports</th></tr></thead>\n<tbody>\n"
        for (i, label) in report.labels.enumerated() {
            out += "<tr><td class=\"l\">\(swatch(i))\(e(label.displayName))</td>"
            out += "<td>\(ReportFormat.count(label.frames))</td><td>\(ReportFormat.percent(label.share))</td>"
            out += "<td>\(ReportFormat.bytes(label.bytes))</td><td>\(ReportFormat.percent(label.bytesShare))</td>"
            out += "<td>\(ReportFormat.count(label.noPayload))</td><td>\(ReportFormat.count(label.duplicates))</td>"
            let ports = label.topPorts.map {
                "\($0.port)&nbsp;<span class=\"muted\">\(ReportFormat.percent(Double($0.frames) / Double(label.frames)))</span>"
            }
            out += "<td class=\"l ports\">\(ports.joined(separator: " · "))</td></tr>\n"
        }
        out += "</tbody></table></div>\n"

        out += "<h3>Distributions</h3>\n<div class=\"scroll\"><table>\n<thead><tr><th class=\"l\">label</th>"
        out += "<th class=\"group\" colspan=\"5\">duration</th><th class=\"group\" colspan=\"5\">payload bytes (frames with one)</th></tr>\n<tr><th></th>"
        out += String(repeating: "<th>min</th><th>median</th><th>p90</th><th>p99</th><th>max</th>", count: 2)
        out += "</tr></thead>\n<tbody>\n"
        for (i, label) in report.labels.enumerated() {
            out += "<tr><td class=\"l\">\(swatch(i))\(e(label.displayName))</td>"
            let d = label.durations
            for value in [d?.min, d?.median, d?.p90, d?.p99, d?.max] {
                out += "<td>\(value.map { e(ReportFormat.seconds($0)) } ?? "–")</td>"
            }
            let p = label.payload
            for (n, value) in [p?.min, p?.median, p?.p90, p?.p99, p?.max].enumerated() {
                out += "<td\(n == 0 ? " class=\"sep\"" : "")>\(value.map { ReportFormat.length($0) } ?? "–")</td>"
            }
            out += "</tr>\n"
        }
        out += "</tbody></table></div>\n</section>\n"
    }

    private func swatch(_ index: Int) -> String {
        "<span class=\"swatch\" style=\"background:\(color(index))\"></span>"
    }

    private mutating func rules() {
        out += "<section id=\"rules\"><h2>Rules</h2>\n"
        guard !report.rules.isEmpty else {
            out += "<p class=\"notice\">None recorded: no file carries a dataset header (files written by the sensor do).</p>\n</section>\n"
            return
        }
        for (i, set) in report.rules.enumerated() {
            out += "<div class=\"rules\"><p><strong>\(e(set.source))</strong> <span class=\"muted\">sha256 \(e(set.sha256.prefix(16)))…</span>"
            out += " · unmatched: <code>\(e(set.unmatched))</code> · hosts: \(e(set.hosts.joined(separator: ", ")))</p>"
            out += "<p>labels, in rule order: \(set.labels.map { "<code>\(e($0))</code>" }.joined(separator: " "))</p>"
            out += "<p class=\"muted\">files: \(e(set.files.joined(separator: ", ")))</p>"
            if let text = report.files.first(where: { $0.header?.rules.sha256 == set.sha256 })?.header?.rules.text, !text.isEmpty {
                out += "<details><summary>rules file \(i + 1)</summary><pre>\(e(text))</pre></details>"
            }
            out += "</div>\n"
        }
        out += "</section>\n"
    }

    private mutating func files() {
        out += "<section id=\"files\"><h2>Files</h2>\n<div class=\"scroll\"><table>\n<thead><tr><th class=\"l\">file</th>"
        out += "<th class=\"l\">format</th><th>lines</th><th>frames</th><th>bad lines</th><th class=\"l\">header</th><th class=\"l\">note</th></tr></thead>\n<tbody>\n"
        for file in report.files {
            let header = file.header.map { "\(e($0.host)), started \(e($0.started))" } ?? "–"
            var notes: [String] = []
            if file.endedEarly { notes.append("<span class=\"bad\">cut short: the compressed data ends early</span>") }
            if let error = file.error { notes.append("<span class=\"bad\">\(e(error))</span>") }
            out += "<tr><td class=\"l\"><code>\(e(file.path))</code></td><td class=\"l\">\(e(file.format?.rawValue ?? "–"))</td>"
            out += "<td>\(ReportFormat.count(file.lines))</td><td>\(ReportFormat.count(file.frames))</td><td>\(ReportFormat.count(file.badLines))</td>"
            out += "<td class=\"l\">\(header)</td><td class=\"l\">\(notes.joined(separator: "; "))</td></tr>\n"
        }
        out += "</tbody></table></div>\n</section>\n"
    }

    private mutating func badLines() {
        guard report.badLines > 0 else { return }
        out += "<section id=\"bad-lines\"><h2>Bad lines: \(ReportFormat.count(report.badLines))</h2>\n<ul class=\"mono\">\n"
        for example in report.badLineExamples { out += "<li>\(e(Echo.escaped(example, limit: 300)))</li>\n" }
        if report.badLines > UInt64(report.badLineExamples.count) {
            out += "<li class=\"muted\">… and \(ReportFormat.count(report.badLines - UInt64(report.badLineExamples.count))) more</li>\n"
        }
        out += "</ul>\n</section>\n"
    }

    // MARK: - Style

    static let css = """

        :root { --ink: #1f2933; --muted: #6b7785; --line: #e3e7ec; --bg: #f5f7fa; --card: #ffffff; --accent: #4e79a7; }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--bg); color: var(--ink);
          font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
        main { max-width: 1080px; margin: 0 auto; padding: 28px 28px 40px; }
        h1 { font-size: 28px; margin: 0; letter-spacing: -0.01em; }
        h2 { font-size: 19px; margin: 0 0 10px; }
        .subtitle { color: var(--muted); margin: 4px 0 0; overflow-wrap: anywhere; }
        section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px;
          margin: 18px 0; box-shadow: 0 1px 2px rgba(16, 24, 40, 0.04); }
        section.cards { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; padding: 0; background: none;
          border: none; box-shadow: none; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
        .card-name { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.06em; }
        .card-value { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; }
        .card-note { color: var(--muted); font-size: 13px; min-height: 1.2em; }
        .card.warn .card-value { color: #c2410c; }
        .legend { display: flex; flex-wrap: wrap; gap: 8px 18px; margin: 6px 2px; }
        .key { display: inline-flex; align-items: center; font-size: 14px; }
        .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 7px; vertical-align: -1px; }
        .chart { width: 100%; height: auto; display: block; font-family: inherit; }
        .chart .grid { stroke: #edf0f3; stroke-width: 1; }
        .chart .axis { stroke: #9aa5b1; stroke-width: 1; }
        .chart .axis-tick { stroke: #9aa5b1; }
        .chart .tick { fill: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
        .chart .axis-title { fill: #52606d; font-size: 12.5px; font-weight: 600; }
        .chart .row-label { fill: var(--ink); font-size: 14px; }
        .chart .value { fill: #52606d; font-size: 13px; font-variant-numeric: tabular-nums; }
        .chart .median { stroke: #1f2933; stroke-width: 1.2; stroke-dasharray: 4 3; }
        .chart .median-label { fill: #1f2933; font-size: 12px; }
        .chart .gap-label { fill: #b42318; font-size: 12px; font-weight: 600; }
        .chart rect.gap { stroke: #e8a3a3; stroke-width: 0.5; }
        .grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 14px 22px; }
        figure.hist { margin: 0; }
        figcaption { font-weight: 600; margin-bottom: 2px; }
        .caption { color: var(--muted); margin: -4px 0 10px; font-size: 14px; }
        .notice { background: #fff7ed; border: 1px solid #fed7aa; color: #9a3412; border-radius: 8px; padding: 10px 14px; margin: 6px 0; }
        .muted { color: var(--muted); font-weight: normal; }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; font-size: 14px; font-variant-numeric: tabular-nums; }
        th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
        th { color: var(--muted); font-weight: 600; font-size: 12.5px; }
        th.l, td.l { text-align: left; }
        th.group { text-align: center; color: var(--ink); border-bottom: 2px solid var(--line); }
        td.sep { border-left: 1px solid var(--line); }
        h3 { font-size: 15px; margin: 18px 0 6px; }
        td.ports { white-space: normal; min-width: 200px; }
        tbody tr:hover { background: #f8fafc; }
        code, .mono, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 13px; }
        pre { background: #f8fafc; border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow-x: auto; }
        .rules p { margin: 4px 0; overflow-wrap: anywhere; }
        .bad { color: #b42318; }
        ul.mono { padding-left: 18px; overflow-wrap: anywhere; }
        footer { color: var(--muted); font-size: 13px; margin-top: 10px; }
        @media (max-width: 800px) { .grid2 { grid-template-columns: 1fr; } section.cards { grid-template-columns: repeat(2, 1fr); } }

        """
}
