import Foundation

/// One figure of the harness: what was measured, its value, and the target it is judged by.
struct Figure: Codable {
    /// Stable identifier, e.g. `datapath.ratio`.
    var id: String
    /// What a person reads in the table.
    var label: String
    var value: Double
    var unit: String
    /// The target as text (`>= 0.90`), nil for a baseline or an informative figure.
    var target: String?
    /// Whether the target was met; nil without a target.
    var met: Bool?

    init(_ id: String, _ label: String, _ value: Double, _ unit: String, atLeast: Double? = nil,
         atMost: Double? = nil) {
        self.id = id
        self.label = label
        self.value = value
        self.unit = unit
        if let atLeast {
            target = ">= \(Report.format(atLeast, unit))"
            met = value >= atLeast
        } else if let atMost {
            target = "<= \(Report.format(atMost, unit))"
            met = value <= atMost
        }
    }
}

/// The figures of one run, printed as a table and written as JSON.
final class Report {
    private(set) var figures: [Figure] = []
    private(set) var notes: [String] = []
    let tiny: Bool

    init(tiny: Bool) { self.tiny = tiny }

    func add(_ figure: Figure) {
        figures.append(figure)
        FileHandle.standardError.write(
            "  \(figure.label): \(Report.format(figure.value, figure.unit)) \(figure.unit)\n".data(using: .utf8)!)
    }

    func note(_ text: String) {
        notes.append(text)
        FileHandle.standardError.write("  note: \(text)\n".data(using: .utf8)!)
    }

    static func format(_ value: Double, _ unit: String) -> String {
        if value.isNaN { return "n/a" }
        if unit == "ratio" || unit == "s" || unit == "CPU s/Mpkt" { return String(format: "%.3f", value) }
        if unit == "%" { return String(format: "%.2f", value) }
        if value.rounded() == value || abs(value) >= 1000 {
            // Thousands separators for counts and rates.
            let whole = Int64(value.rounded())
            let digits = String(whole.magnitude)
            var out = ""
            for (i, c) in digits.enumerated() {
                if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
                out.append(c)
            }
            return (whole < 0 ? "-" : "") + out
        }
        return String(format: "%.2f", value)
    }

    func table() -> String {
        let rows = figures.map { f -> [String] in
            [f.label, Report.format(f.value, f.unit), f.unit, f.target ?? "",
             f.met.map { $0 ? "met" : "MISSED" } ?? ""]
        }
        let header = ["measure", "value", "unit", "target", ""]
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == 1 ? String(repeating: " ", count: widths[i] - cell.count) + cell
                    : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ")
        }
        var out = line(header) + "\n" + line(widths.map { String(repeating: "-", count: $0) }) + "\n"
        for row in rows { out += line(row) + "\n" }
        for note in notes { out += "note: \(note)\n" }
        return out
    }

    #if DEBUG
        static let build = "debug"
    #else
        static let build = "release"
    #endif

    struct JSONReport: Codable {
        var build: String
        var tiny: Bool
        var date: String
        var kernel: String
        var cpus: Int
        var figures: [Figure]
        var notes: [String]
    }

    func json() throws -> Data {
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let report = JSONReport(
            build: Report.build, tiny: tiny, date: ISO8601DateFormatter().string(from: Date()), kernel: kernel,
            cpus: ProcessInfo.processInfo.activeProcessorCount, figures: figures, notes: notes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(report)
    }
}

/// Monotonic seconds.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// CPU time of the calling thread: with other work on the machine, rate per CPU-second still
/// says what the code costs, where wall time also says how busy the machine was.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// User and system CPU time of the children waited for so far.
func childrenCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

func log(_ text: String) {
    FileHandle.standardError.write((text + "\n").data(using: .utf8)!)
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
