import Foundation

/// The pieces the HTML report's inline SVG charts are made of: escaping, coordinates, axis ticks,
/// the label colors.
enum ReportSVG {
    /// Text for HTML and SVG, in an element or an attribute value.
    static func escape(_ text: some StringProtocol) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters cannot appear in HTML: shown as U+FFFD.
                if scalar.value < 0x20 && scalar != "\n" && scalar != "\t" || (0x7F..<0xA0).contains(scalar.value) {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// `<name key="value" …/>`, or with `content` (markup, escaped by the caller)
    /// `<name …>content</name>`. Values are escaped; a `Double` is written as a coordinate.
    static func element(_ name: String, _ attributes: KeyValuePairs<String, Any>, _ content: String? = nil) -> String {
        var out = "<" + name
        for (key, value) in attributes {
            let text = (value as? Double).map(n) ?? "\(value)"
            out += " \(key)=\"\(escape(text))\""
        }
        guard let content else { return out + "/>" }
        return out + ">" + content + "</" + name + ">"
    }

    static func line(_ kind: String, _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double) -> String {
        element("line", ["class": kind, "x1": x1, "y1": y1, "x2": x2, "y2": y2])
    }

    /// A `<text>` holding `text` (escaped here).
    static func text(_ kind: String, _ x: Double, _ y: Double, _ text: String, anchor: String = "start") -> String {
        element("text", ["class": kind, "x": x, "y": y, "text-anchor": anchor], escape(text))
    }

    /// An axis title turned to run up the left side, centered on `y`.
    static func verticalTitle(_ x: Double, _ y: Double, _ text: String) -> String {
        element(
            "text",
            ["class": "axis-title", "transform": "translate(\(n(x)) \(n(y))) rotate(-90)", "text-anchor": "middle"],
            escape(text))
    }

    /// The opening `<svg>` of a chart `width` × `height` (user units; it scales to the page).
    static func open(_ attributes: KeyValuePairs<String, Any>, width: Double, height: Double, label: String) -> String {
        var out = "<svg"
        for (key, value) in attributes { out += " \(key)=\"\(escape("\(value)"))\"" }
        return out + " viewBox=\"0 0 \(n(width)) \(n(height))\" role=\"img\" aria-label=\"\(escape(label))\" "
            + "xmlns=\"http://www.w3.org/2000/svg\">\n"
    }

    /// A coordinate: one decimal, no trailing `.0`.
    static func n(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(format: "%.1f", rounded)
    }

    /// Tableau 10, then golden-angle hues; the folded labels gray.
    static func color(_ index: Int, folded: Bool = false) -> String {
        if folded { return "#9aa5b1" }
        let palette = [
            "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
            "#bab0ac",
        ]
        if index < palette.count { return palette[index] }
        let hue = Double(index) * 137.508
        return "hsl(\(Int(hue.truncatingRemainder(dividingBy: 360))), 55%, 52%)"
    }

    /// About `count` round tick values from 0 to at least `maximum` (steps of 1, 2, 2.5 or 5 × 10^k).
    static func ticks(upTo maximum: Double, count: Int = 5) -> [Double] {
        guard maximum > 0, maximum.isFinite else { return [0, 1] }
        let raw = maximum / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var ticks: [Double] = []
        var value = 0.0
        while value < maximum - step * 1e-9 {
            ticks.append(value)
            value += step
        }
        ticks.append(value)
        return ticks
    }

    /// A frame count on an axis: `0`, `750`, `12k`, `1.5M`.
    static func short(_ value: Double) -> String {
        if value >= 1e9 { return String(format: "%gG", (value / 1e8).rounded() / 10) }
        if value >= 1e6 { return String(format: "%gM", (value / 1e5).rounded() / 10) }
        if value >= 1e4 { return String(format: "%gk", (value / 1e2).rounded() / 10) }
        return String(format: "%g", value)
    }

    /// A power of ten of seconds: `1 µs`, `10 ms`, `1 s`, `1000 s`.
    static func decade(_ exponent: Int) -> String {
        switch exponent {
        case ..<(-3): return "\(Int(pow(10, Double(exponent + 6)).rounded())) µs"
        case -3..<0: return "\(Int(pow(10, Double(exponent + 3)).rounded())) ms"
        default: return "\(Int(pow(10, Double(exponent)).rounded())) s"
        }
    }

    /// Nice steps for a time axis, microseconds.
    static let timeSteps: [Int64] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172_800, 604_800,
        1_209_600, 2_592_000, 7_776_000, 31_536_000,
    ].map { Int64($0) * 1_000_000 }

    /// Ticks on round UTC times between `start` and `end` (microseconds), about `count` of them.
    static func timeTicks(from start: Int64, to end: Int64, count: Int = 7) -> (step: Int64, ticks: [Int64]) {
        let (difference, overflow) = end.subtractingReportingOverflow(start)
        let span = overflow ? Int64.max : max(difference, 1)
        let step = timeSteps.first { span / $0 <= Int64(count) } ?? max(span / Int64(count), 1)
        let (first, firstOverflow) = (start / step + (start % step > 0 ? 1 : 0)).multipliedReportingOverflow(by: step)
        guard !firstOverflow else { return (step, []) }
        var tick = first
        var ticks: [Int64] = []
        while tick <= end && ticks.count < 50 {
            ticks.append(tick)
            let (next, overflow) = tick.addingReportingOverflow(step)
            if overflow { break }
            tick = next
        }
        return (step, ticks)
    }

    /// A time tick's text: `15:30`, `11-30 15:30` across days, `2026-11-30` for day steps.
    static func timeLabel(_ micros: Int64, step: Int64, spansDays: Bool) -> String {
        let c = ReportFormat.civil(micros)
        if step >= 86_400_000_000 { return String(format: "%04lld-%02d-%02d", c.year, c.month, c.day) }
        let clock = String(format: "%02d:%02d", c.hour, c.minute)
        if step < 60_000_000 { return clock + String(format: ":%02d", c.second) }
        return spansDays ? String(format: "%02d-%02d ", c.month, c.day) + clock : clock
    }
}
