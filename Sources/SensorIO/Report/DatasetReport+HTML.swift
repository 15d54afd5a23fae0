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
                report.frames == 0
                    ? "" : ReportFormat.percent(Double(report.duplicates) / Double(report.frames)) + " of frames"
            ),
            ("Bad lines", ReportFormat.count(report.badLines), report.badLines > 0 ? "skipped" : ""),
        ]
        if let time = report.time {
            items.append(
                (
                    "Time span", ReportFormat.seconds(time.spanSeconds),
                    "\(time.gaps.count) gap\(time.gaps.count == 1 ? "" : "s")"
                ))
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
            out +=
                "<span class=\"key\" data-label=\"\(e(label.displayName))\">\(swatch(i))\(e(label.displayName))</span>"
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
        let (rowHeight, left, barArea, top, width) = (34.0, 190.0, 620.0, 8.0, 1000.0)
        let axisY = top + rowHeight * Double(report.labels.count)
        let ticks = ReportSVG.ticks(upTo: (report.labels.map(\.share).max() ?? 1) * 100, count: 5)
        let scale = barArea / (ticks.last ?? 100)
        out += ReportSVG.open(
            ["class": "chart", "id": "balance-chart"], width: width, height: axisY + 44, label: "frames per label")
        for tick in ticks {
            let x = left + tick * scale
            out += ReportSVG.line("grid", x, top, x, axisY)
            out += ReportSVG.text("tick", x, axisY + 16, "\(ReportSVG.n(tick))%", anchor: "middle") + "\n"
        }
        out += ReportSVG.text("axis-title", left + barArea / 2, axisY + 36, "share of frames", anchor: "middle") + "\n"
        for (i, label) in report.labels.enumerated() {
            let y = top + rowHeight * Double(i)
            let barWidth = max(label.share * 100 * scale, label.frames > 0 ? 1.5 : 0)
            let name = label.displayName
            let shown = name.count > 26 ? String(name.prefix(25)) + "…" : name
            let summary = "\(ReportFormat.count(label.frames)) · \(ReportFormat.percent(label.share))"
            out += ReportSVG.text("row-label", left - 10, y + rowHeight / 2 + 5, shown, anchor: "end")
            out += ReportSVG.element(
                "rect",
                [
                    "class": "bar", "data-label": name, "data-frames": label.frames,
                    "data-share": String(format: "%.6f", label.share), "x": left, "y": y + 5, "width": barWidth,
                    "height": rowHeight - 10, "rx": 3, "fill": color(i),
                ], "<title>\(e(name)): \(summary) of frames</title>")
            out += ReportSVG.text("value", left + barWidth + 8, y + rowHeight / 2 + 5, summary) + "\n"
        }
        out += ReportSVG.line("axis", left, top, left, axisY) + "\n</svg>\n</section>\n"
    }

    // MARK: - Durations

    private mutating func durations() {
        out += "<section id=\"durations\"><h2>Duration per label</h2>\n"
        guard !report.labels.isEmpty else {
            out += "<p class=\"notice\">No frames.</p></section>\n"
            return
        }
        // One x range for all, whole decades.
        let positive = report.labels.filter { $0.duration.count > $0.duration.zeros }
        let lowest = positive.map(\.duration.minimum).filter { $0 > 0 }.min() ?? 1
        let highest = positive.map(\.duration.maximum).max() ?? 10
        var low = max(Int(floor(log10(lowest))), -6)
        let high = max(min(Int(ceil(log10(highest))), -6 + LogHistogram.decades), low + 1)
        if high - low < 2 { low = max(-6, high - 2) }
        let axis = DurationAxis(low: low, high: high, zeroSlot: report.labels.contains { $0.duration.zeros > 0 })
        out += "<p class=\"caption\">Frames by duration, log scale, \(DurationAxis.binsPerDecade) bins per decade; "
        out += "the dashed line is the median. Each chart has its own frame scale.</p>\n<div class=\"grid2\">\n"
        for (i, label) in report.labels.enumerated() { histogram(label, index: i, axis: axis) }
        out += "</div>\n</section>\n"
    }

    /// The x axis the duration histograms share.
    struct DurationAxis {
        static let binsPerDecade = 5
        static let bucketsPerBin = LogHistogram.bucketsPerDecade / binsPerDecade
        /// Powers of ten of seconds, from 10^low to 10^high.
        var low: Int
        var high: Int
        /// A bar for durations of 0 before the log scale.
        var zeroSlot: Bool

        var firstBin: Int { (low + 6) * Self.binsPerDecade }
        var bins: Int { (high - low) * Self.binsPerDecade }
    }

    private mutating func histogram(_ label: DatasetReport.Label, index: Int, axis: DurationAxis) {
        let (width, height, left, right, top, bottom) = (480.0, 240.0, 56.0, 24.0, 26.0, 50.0)
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let baseY = top + plotHeight
        // The bins shown; values outside them (none, with the range chosen) would go to the edges.
        let groups = label.duration.grouped(by: DurationAxis.bucketsPerBin)
        let last = min(axis.firstBin + axis.bins, groups.count)
        var counts = Array(groups[axis.firstBin..<last])
        counts[0] += groups[..<axis.firstBin].reduce(0, +)
        counts[counts.count - 1] += groups[last...].reduce(0, +)
        let slot = plotWidth / Double(counts.count + (axis.zeroSlot ? 2 : 0))
        let logStart = left + (axis.zeroSlot ? 2 * slot : 0)
        let ticks = ReportSVG.ticks(upTo: Double(max(counts.max() ?? 0, label.duration.zeros, 1)), count: 4)
        let yScale = plotHeight / (ticks.last ?? 1)
        let name = label.displayName
        let fill = color(index)

        out += "<figure class=\"hist\"><figcaption>\(swatch(index))\(e(name)) "
        out += "<span class=\"muted\">· \(ReportFormat.count(label.frames)) frames</span></figcaption>\n"
        out += ReportSVG.open(
            ["class": "chart histogram", "data-label": name, "data-frames": label.duration.count], width: width,
            height: height, label: "durations of \(name)")
        for tick in ticks {
            let y = baseY - tick * yScale
            out += ReportSVG.line("grid", left, y, width - right, y)
            out += ReportSVG.text("tick", left - 6, y + 4, ReportSVG.short(tick), anchor: "end") + "\n"
        }
        func bar(
            _ kind: String, x: Double, width: Double, frames: UInt64, from lower: Double, to upper: Double
        ) -> String {
            let h = Double(frames) * yScale
            let range = lower == upper ? "0 s" : "\(ReportFormat.seconds(lower)) – \(ReportFormat.seconds(upper))"
            return ReportSVG.element(
                "rect",
                [
                    "class": kind, "data-min": "\(lower)", "data-max": "\(upper)", "data-frames": frames, "x": x,
                    "y": baseY - h,
                    "width": width, "height": h, "fill": fill,
                ], "<title>\(e(range)): \(ReportFormat.count(frames)) frames</title>") + "\n"
        }
        if axis.zeroSlot {
            out += bar("hbar zero", x: left + 1, width: max(slot - 2, 1), frames: label.duration.zeros, from: 0, to: 0)
            out += ReportSVG.text("tick", left + slot / 2, baseY + 16, "0", anchor: "middle") + "\n"
        }
        for (i, count) in counts.enumerated() {
            let bucket = (axis.firstBin + i) * DurationAxis.bucketsPerBin
            out += bar(
                "hbar", x: logStart + Double(i) * slot + 0.5, width: max(slot - 1, 0.5), frames: count,
                from: LogHistogram.lowerEdge(bucket), to: LogHistogram.lowerEdge(bucket + DurationAxis.bucketsPerBin))
        }
        for exponent in axis.low...axis.high {
            let x = logStart + Double((exponent - axis.low) * DurationAxis.binsPerDecade) * slot
            out += ReportSVG.line("axis-tick", x, baseY, x, baseY + 5)
            out += ReportSVG.text("tick", x, baseY + 16, ReportSVG.decade(exponent), anchor: "middle") + "\n"
        }
        out += ReportSVG.line("axis", left, baseY, width - right, baseY) + "\n"
        if let median = label.durations?.median, median > 0 {
            let position = (log10(median) - Double(axis.low)) * Double(DurationAxis.binsPerDecade) * slot
            let x = min(max(logStart + position, logStart), width - right)
            let atRight = x > width - 140
            out += ReportSVG.line("median", x, top - 6, x, baseY)
            out +=
                ReportSVG.text(
                    "median-label", x + (atRight ? -4 : 4), top - 10, "median \(ReportFormat.seconds(median))",
                    anchor: atRight ? "end" : "start") + "\n"
        }
        out += ReportSVG.text("axis-title", left + plotWidth / 2, height - 8, "duration (log scale)", anchor: "middle")
        out += ReportSVG.verticalTitle(14, top + plotHeight / 2, "frames") + "\n</svg></figure>\n"
    }

    // MARK: - Time

    private mutating func timeline() {
        out += "<section id=\"frames-over-time\"><h2>Frames over time</h2>\n"
        guard let time = report.time else {
            out += "<p class=\"notice\" id=\"no-time\">Time unknown: the frames carry no <code>first_seen</code> "
            out +=
                "(basic frames; <code>dps label --extended</code> and the sensor's dataset files write it).</p>\n</section>\n"
            return
        }
        let (width, height, left, right, top, bottom) = (1000.0, 330.0, 64.0, 20.0, 16.0, 58.0)
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let baseY = top + plotHeight
        let bins = time.bins
        // Bin i starts at binStart + i × binWidth (saturating: hostile times reach Int64's ends).
        func binTime(_ i: Int) -> Int64 {
            let exact = Double(time.binStart) + Double(time.binWidth) * Double(i)
            return exact >= Double(Int64.max) ? .max : Int64(exact)
        }
        let start = time.binStart
        let end = binTime(bins.count)
        let domain = max(Double(end) - Double(start), 1)
        func x(_ t: Int64) -> Double { left + (Double(t) - Double(start)) / domain * plotWidth }
        let ticks = ReportSVG.ticks(upTo: Double(max(bins.map { $0.reduce(0, +) }.max() ?? 1, 1)), count: 5)
        let yScale = plotHeight / (ticks.last ?? 1)
        let threshold = ReportFormat.seconds(Double(time.gapThreshold) / 1e6)

        out += "<p class=\"caption\">Frames by <code>first_seen</code> (UTC), stacked by label, bins of "
        out +=
            "\(e(ReportFormat.seconds(Double(time.binWidth) / 1e6))). First seen \(e(ReportFormat.utc(time.first))), "
        out += "last seen \(e(ReportFormat.utc(time.last))). "
        out +=
            time.gaps.isEmpty
            ? "No gap longer than \(e(threshold)).</p>\n"
            : "Hatched: \(time.gaps.count) gap\(time.gaps.count == 1 ? "" : "s") longer than \(e(threshold)) with no frame.</p>\n"
        if report.framesWithoutTime > 0 {
            out +=
                "<p class=\"notice\">\(ReportFormat.count(report.framesWithoutTime)) frames carry no <code>first_seen</code> "
            out += "and are not in this chart.</p>\n"
        }
        out += ReportSVG.open(
            ["class": "chart", "id": "time-chart", "data-bins": bins.count, "data-gaps": time.gaps.count], width: width,
            height: height, label: "frames over time")
        out +=
            "<defs><pattern id=\"hatch\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
        out +=
            "<rect width=\"8\" height=\"8\" fill=\"#fdf1f1\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#e8a3a3\" "
        out += "stroke-width=\"3\"/></pattern></defs>\n"
        for tick in ticks {
            let y = baseY - tick * yScale
            out += ReportSVG.line("grid", left, y, width - right, y)
            out += ReportSVG.text("tick", left - 6, y + 4, ReportSVG.short(tick), anchor: "end") + "\n"
        }
        for gap in time.gaps {
            let (x1, x2) = (max(x(gap.start), left), min(x(gap.end), width - right))
            guard x2 > x1 else { continue }
            let span =
                "\(ReportFormat.utc(gap.start)) → \(ReportFormat.utc(gap.end)) (\(ReportFormat.seconds(gap.seconds)))"
            out += ReportSVG.element(
                "rect",
                [
                    "class": "gap", "data-start": ReportFormat.rfc3339(gap.start),
                    "data-end": ReportFormat.rfc3339(gap.end),
                    "x": x1, "y": top, "width": x2 - x1, "height": plotHeight, "fill": "url(#hatch)",
                ], "<title>gap: \(e(span))</title>")
            if x2 - x1 > 60 {
                out += ReportSVG.text(
                    "gap-label", (x1 + x2) / 2, top + 16, "gap \(ReportFormat.seconds(gap.seconds))", anchor: "middle")
            }
            out += "\n"
        }
        let slot = plotWidth / Double(bins.count)
        let barWidth = slot > 4 ? slot - 1.5 : slot
        for (i, bin) in bins.enumerated() {
            var y = baseY
            for (label, count) in bin.enumerated() where count > 0 {
                let h = Double(count) * yScale
                y -= h
                let name = report.labels[label].displayName
                out += ReportSVG.element(
                    "rect",
                    [
                        "class": "tbar", "data-bin": i, "data-label": name, "data-frames": count,
                        "x": left + Double(i) * slot + (slot - barWidth) / 2, "y": y, "width": barWidth, "height": h,
                        "fill": color(label),
                    ], "<title>\(e(ReportFormat.utc(binTime(i)))): \(e(name)) \(ReportFormat.count(count))</title>")
            }
            out += "\n"
        }
        let (step, timeTicks) = ReportSVG.timeTicks(from: start, to: end)
        let spansDays =
            ReportFormat.civil(start).day != ReportFormat.civil(end).day || Double(end) - Double(start) > 86_400e6
        for tick in timeTicks {
            out += ReportSVG.line("axis-tick", x(tick), baseY, x(tick), baseY + 5)
            out +=
                ReportSVG.text(
                    "tick", x(tick), baseY + 18, ReportSVG.timeLabel(tick, step: step, spansDays: spansDays),
                    anchor: "middle") + "\n"
        }
        out += ReportSVG.line("axis", left, baseY, width - right, baseY) + "\n"
        let day = spansDays ? "" : ", " + ReportFormat.utc(start).prefix(10)
        out += ReportSVG.text(
            "axis-title", left + plotWidth / 2, height - 10, "first_seen (UTC\(day))", anchor: "middle")
        out += ReportSVG.verticalTitle(16, top + plotHeight / 2, "frames per bin") + "\n</svg>\n</section>\n"
    }

    // MARK: - Tables

    /// A table row: `<th>` or `<td>` cells (markup), right-aligned except the columns in `left`.
    private func row(
        _ cells: [String], header: Bool = false, left: Set<Int> = [0], classes: [Int: String] = [:]
    ) -> String {
        let tag = header ? "th" : "td"
        let inner = cells.enumerated().map { column, cell in
            let kind = ((left.contains(column) ? ["l"] : []) + (classes[column].map { [$0] } ?? [])).joined(
                separator: " ")
            return "<\(tag)\(kind.isEmpty ? "" : " class=\"\(kind)\"")>\(cell)</\(tag)>"
        }
        return "<tr>" + inner.joined() + "</tr>\n"
    }

    private mutating func labelTable() {
        guard !report.labels.isEmpty else { return }
        let c = ReportFormat.count
        out += "<section id=\"per-label\"><h2>Per label</h2>\n<div class=\"scroll\"><table>\n<thead>"
        out += row(
            ["label", "frames", "share", "bytes", "bytes share", "no payload", "duplicates", "top destination ports"],
            header: true, left: [0, 7])
        out += "</thead>\n<tbody>\n"
        for (i, label) in report.labels.enumerated() {
            let ports = label.topPorts.map {
                let share = ReportFormat.percent(Double($0.frames) / Double(label.frames))
                return "\($0.port)&nbsp;<span class=\"muted\">\(share)</span>"
            }
            out += row(
                [
                    swatch(i) + e(label.displayName), c(label.frames), ReportFormat.percent(label.share),
                    ReportFormat.bytes(label.bytes), ReportFormat.percent(label.bytesShare), c(label.noPayload),
                    c(label.duplicates), ports.joined(separator: " · "),
                ], left: [0, 7], classes: [7: "ports"])
        }
        out += "</tbody></table></div>\n"

        out += "<h3>Distributions</h3>\n<div class=\"scroll\"><table>\n<thead><tr><th class=\"l\">label</th>"
        out += "<th class=\"group\" colspan=\"5\">duration</th>"
        out += "<th class=\"group\" colspan=\"5\">payload bytes (frames with one)</th></tr>\n"
        out += row(
            [""] + Array(repeating: ["min", "median", "p90", "p99", "max"], count: 2).flatMap { $0 }, header: true)
        out += "</thead>\n<tbody>\n"
        for (i, label) in report.labels.enumerated() {
            let d = label.durations
            let p = label.payload
            let durations = [d?.min, d?.median, d?.p90, d?.p99, d?.max].map {
                $0.map { e(ReportFormat.seconds($0)) } ?? "–"
            }
            let lengths = [p?.min, p?.median, p?.p90, p?.p99, p?.max].map { $0.map(ReportFormat.length) ?? "–" }
            out += row([swatch(i) + e(label.displayName)] + durations + lengths, classes: [6: "sep"])
        }
        out += "</tbody></table></div>\n</section>\n"
    }

    private func swatch(_ index: Int) -> String {
        "<span class=\"swatch\" style=\"background:\(color(index))\"></span>"
    }

    private mutating func rules() {
        out += "<section id=\"rules\"><h2>Rules</h2>\n"
        guard !report.rules.isEmpty else {
            out += "<p class=\"notice\">None recorded: no file carries a dataset header "
            out += "(files written by the sensor do).</p>\n</section>\n"
            return
        }
        for set in report.rules {
            out += "<div class=\"rules\"><p><strong>\(e(set.source))</strong> "
            out += "<span class=\"muted\">sha256 \(e(set.sha256.prefix(16)))…</span>"
            out += " · unmatched: <code>\(e(set.unmatched))</code> · hosts: \(e(set.hosts.joined(separator: ", ")))</p>"
            out += "<p>labels, in rule order: \(set.labels.map { "<code>\(e($0))</code>" }.joined(separator: " "))</p>"
            out += "<p class=\"muted\">files: \(e(set.files.joined(separator: ", ")))</p>"
            let header = report.files.first { $0.header?.rules.sha256 == set.sha256 }?.header
            if let text = header?.rules.text, !text.isEmpty {
                out += "<details><summary>the rules, as <code>dps label --print-rules</code> writes them</summary>"
                out += "<pre>\(e(text))</pre></details>"
            }
            out += "</div>\n"
        }
        out += "</section>\n"
    }

    private mutating func files() {
        let c = ReportFormat.count
        out += "<section id=\"files\"><h2>Files</h2>\n<div class=\"scroll\"><table>\n<thead>"
        out += row(
            ["file", "format", "lines", "frames", "bad lines", "header", "note"], header: true, left: [0, 1, 5, 6])
        out += "</thead>\n<tbody>\n"
        for file in report.files {
            let header = file.header.map { "\(e($0.host)), started \(e($0.started))" } ?? "–"
            var notes: [String] = []
            if file.endedEarly { notes.append("<span class=\"bad\">cut short: the compressed data ends early</span>") }
            if let error = file.error { notes.append("<span class=\"bad\">\(e(error))</span>") }
            out += row(
                [
                    "<code>\(e(file.path))</code>", e(file.format?.rawValue ?? "–"), c(file.lines), c(file.frames),
                    c(file.badLines), header, notes.joined(separator: "; "),
                ], left: [0, 1, 5, 6])
        }
        out += "</tbody></table></div>\n</section>\n"
    }

    private mutating func badLines() {
        guard report.badLines > 0 else { return }
        out +=
            "<section id=\"bad-lines\"><h2>Bad lines: \(ReportFormat.count(report.badLines))</h2>\n<ul class=\"mono\">\n"
        for example in report.badLineExamples { out += "<li>\(e(Echo.escaped(example, limit: 300)))</li>\n" }
        let more = report.badLines - UInt64(report.badLineExamples.count)
        if more > 0 { out += "<li class=\"muted\">… and \(ReportFormat.count(more)) more</li>\n" }
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
        .notice { background: #fff7ed; border: 1px solid #fed7aa; color: #9a3412; border-radius: 8px;
          padding: 10px 14px; margin: 6px 0; }
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
        code, .mono, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
          font-size: 13px; }
        pre { background: #f8fafc; border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow-x: auto; }
        .rules p { margin: 4px 0; overflow-wrap: anywhere; }
        .bad { color: #b42318; }
        ul.mono { padding-left: 18px; overflow-wrap: anywhere; }
        footer { color: var(--muted); font-size: 13px; margin-top: 10px; }
        @media (max-width: 800px) {
          .grid2 { grid-template-columns: 1fr; }
          section.cards { grid-template-columns: repeat(2, 1fr); }
        }

        """
}
