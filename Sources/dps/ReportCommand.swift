import ArgumentParser
import Foundation
import SensorIO
import SensorService

#if canImport(Glibc)
import Glibc
#endif

/// `dps report`: what labeled NDJSON files hold, as text, JSON or an HTML page with charts.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract:
            "Summarize labeled FlowFrame files (NDJSON, .gz, .zst): labels, distributions, duplicates, rules, time.",
        discussion: """
            Per label: frames, share, bytes, duration and payload-length distributions, top \
            destination ports, frames without payload; exact duplicate frames; the rules recorded \
            in the files' dataset headers; time coverage and gaps from first_seen/last_seen; bad \
            lines. One pass, memory bounded by what is distinct. Text on stdout by default; --json \
            for machines; --html FILE also writes one self-contained page with charts. Exit 1 when \
            a file cannot be read or is damaged (what was read before still counts).
            """
    )

    @Argument(help: ArgumentHelp("NDJSON files, plain, gzip or zstd (- for stdin).", valueName: "FILE"))
    var files: [String]

    @Flag(help: "Write the report as JSON instead of text.")
    var json = false

    @Option(help: ArgumentHelp("Also write the report as a self-contained HTML page with charts.", valueName: "FILE"))
    var html: String?

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one file (- for stdin)") }
        guard files.filter({ $0 == "-" }).count <= 1 else { throw ValidationError("- (stdin) can be read once") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        var builder = DatasetReportBuilder()
        var failed = false
        for path in files {
            let file = builder.read(path: path)
            if let error = file.error {
                Stderr.line("dps: error: \(error)")
                failed = true
            }
            if file.endedEarly {
                Stderr.line(
                    "dps: warning: \(path): the compressed data ends early (file cut short?): "
                        + "after \(file.lines) lines; the report counts them")
            }
        }
        let report = builder.finish()
        if let html {
            do {
                try Data(report.html().utf8).write(to: URL(fileURLWithPath: html))
            } catch {
                Stderr.line("dps: error: cannot write \(html): \(error.localizedDescription)")
                failed = true
            }
        }
        let output = json ? report.json() : Array(report.text().utf8)
        if !Self.write(output, to: STDOUT_FILENO) && errno != EPIPE {
            Stderr.line("dps: error: cannot write the report: \(String(cString: strerror(errno)))")
            failed = true
        }
        if failed { throw ExitCode.failure }
    }

    /// All of `bytes`, however many write(2) calls that takes; false on an error (errno says).
    static func write(_ bytes: [UInt8], to fd: Int32) -> Bool {
        let code = bytes.withUnsafeBytes { writeAll(fd, $0) }
        errno = code
        return code == 0
    }
}
