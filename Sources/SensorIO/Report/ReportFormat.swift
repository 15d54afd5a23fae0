import Foundation

/// How the report writes numbers, sizes, durations and times for people (text and HTML).
enum ReportFormat {
    /// `1,234,567`.
    static func count(_ value: UInt64) -> String {
        let digits = Array(String(value))
        var out = ""
        for (i, digit) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return out
    }

    /// `44.7%`; `<0.1%` for a small non-zero share.
    static func percent(_ share: Double) -> String {
        if share > 0 && share < 0.0005 { return "<0.1%" }
        return String(format: "%.1f%%", share * 100)
    }

    /// `532 B`, `1.21 MB`, `3.40 GB` (decimal units).
    static func bytes(_ value: UInt64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
        var scaled = Double(value)
        var unit = 0
        while scaled >= 1000 && unit < units.count - 1 {
            scaled /= 1000
            unit += 1
        }
        return unit == 0 ? "\(value) B" : String(format: "%.3g %@", scaled, units[unit])
    }

    /// `0`, `12 µs`, `4.56 ms`, `1.23 s`, `2 min 5 s`, `3 h 20 min`, `2 d 4 h`.
    static func seconds(_ value: Double) -> String {
        if value == 0 { return "0" }
        if value < 1e-3 { return String(format: "%.3g µs", value * 1e6) }
        if value < 1 { return String(format: "%.3g ms", value * 1e3) }
        if value < 60 || value >= 1e12 { return String(format: "%.3g s", value) }
        let whole = Int64(value.rounded())
        if whole < 3600 { return "\(whole / 60) min \(whole % 60) s" }
        if whole < 86400 { return "\(whole / 3600) h \(whole % 3600 / 60) min" }
        return "\(whole / 86400) d \(whole % 86400 / 3600) h"
    }

    /// A value of a payload-length distribution: whole bytes stay whole.
    static func length(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }

    /// `2026-11-30 15:04:05` (UTC) from epoch microseconds.
    static func utc(_ micros: Int64, separator: String = " ") -> String {
        let parts = civil(micros)
        return String(
            format: "%04lld-%02d-%02d%@%02d:%02d:%02d", parts.year, parts.month, parts.day, separator, parts.hour,
            parts.minute, parts.second)
    }

    /// `2026-11-30T15:04:05.123456Z`.
    static func rfc3339(_ micros: Int64) -> String {
        let fraction = ((micros % 1_000_000) + 1_000_000) % 1_000_000
        return utc(micros, separator: "T") + String(format: ".%06lldZ", fraction)
    }

    struct Civil {
        var year: Int64
        var month: Int
        var day: Int
        var hour: Int
        var minute: Int
        var second: Int
    }

    /// Calendar fields in UTC (proleptic Gregorian; days from civil, H. Hinnant's algorithm).
    static func civil(_ micros: Int64) -> Civil {
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros + 1) / 1_000_000 - 1
        var days = seconds / 86400
        var rest = seconds % 86400
        if rest < 0 {
            rest += 86400
            days -= 1
        }
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return Civil(
            year: year, month: Int(month), day: Int(day), hour: Int(rest / 3600), minute: Int(rest % 3600 / 60),
            second: Int(rest % 60))
    }

    /// Rows of cells as aligned columns (numbers right, text left), two spaces apart.
    static func table(_ rows: [[String]], rightAligned: Set<Int>, indent: String = "  ") -> [String] {
        let widths = (0..<(rows.map(\.count).max() ?? 0)).map { column in
            rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0
        }
        return rows.map { row in
            var line = indent
            for (column, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                line += rightAligned.contains(column) ? pad + cell : cell + (column == row.count - 1 ? "" : pad)
                if column < row.count - 1 { line += "  " }
            }
            while line.last == " " { line.removeLast() }
            return line
        }
    }
}
