import ArgumentParser
import Foundation

/// `dps-bench`: the performance harness. See `Sources/dps-bench/run.sh` and the README's
/// Performance section.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dps-bench",
        abstract: "Measure what dps costs and what it misses; print a table (and JSON with --json).",
        discussion: """
            Measures: datapath (live veth, needs root: sender rate, completeness, daemon CPU), \
            pipeline (decode → flow table → encoder), offline (dps label --pcap on a capture it \
            builds), memory (1M flows, the --max-flows bound), kronos (KronosSink to a Unix \
            socket, unsigned and HMAC), ipfix (IPFIXSink over UDP to a local socket), backfill \
            (dps label --pcap --ipfix vs softflowd -r into nfcapd). Each \
            comparison runs its baseline in the same run.
            """)

    static let allMeasures = ["pipeline", "offline", "memory", "kronos", "ipfix", "backfill", "dataset", "datapath"]

    @Option(help: "The dps binary for the datapath measure (default: next to dps-bench).")
    var dps: String?

    @Flag(help: "Run every measure at a tiny size (CI: checks the harness works, figures not meaningful).")
    var tiny = false

    @Option(help: "Also write the figures as JSON to this file ('-' for stdout).")
    var json: String?

    @Option(help: "Measures to run, comma-separated: \(allMeasures.joined(separator: ",")).")
    var only: String?

    @Option(help: "Datapath rounds (each: one without and one with dps).")
    var rounds: Int?

    @Option(help: "Seconds of sending per datapath round.")
    var seconds: Double?

    @Option(help: "How the datapath measure's dps attaches: auto, tcx or tc (dps run --attach).")
    var attach = "auto"

    @Option(
        name: .customLong("dps-arg"), parsing: .unconditionalSingleValue,
        help: "One more argument for the datapath measure's dps run (repeatable), e.g. --dps-arg=--metrics-listen=127.0.0.1:7470.")
    var dpsArguments: [String] = []

    @Option(help: "Directory of the shared captures (default: ../shared/pcaps from the package root).")
    var pcaps: String?

    @Option(help: .hidden)
    var memoryChild: Int?

    func run() throws {
        if let flows = memoryChild {
            let result = MemoryBench.child(flows: flows)
            FileHandle.standardOutput.write(try JSONEncoder().encode(result))
            return
        }
        let measures = only.map { $0.split(separator: ",").map(String.init) } ?? Self.allMeasures
        for m in measures where !Self.allMeasures.contains(m) {
            throw ValidationError("unknown measure \(m); known: \(Self.allMeasures.joined(separator: ","))")
        }
        let report = Report(tiny: tiny)
        if Report.build == "debug" {
            report.note("debug build: the figures say nothing about performance")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let pcapDirectory = pcaps ?? root.appendingPathComponent("../shared/pcaps").standardizedFileURL.path
        let dpsPath = dps ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("dps").path

        // An interrupted run leaves its namespaces to run.sh's trap; the next run removes them first.
        var failures: [String] = []
        func attempt(_ name: String, _ body: () throws -> Void) {
            guard measures.contains(name) else { return }
            do { try body() } catch {
                failures.append("\(name): \(error)")
                report.note("\(name) failed: \(error)")
            }
        }
        attempt("pipeline") {
            PipelineBench.measure(records: tiny ? 100_000 : 5_000_000, rounds: tiny ? 1 : 3, into: report)
        }
        attempt("offline") {
            try OfflineBench.measure(
                dps: dpsPath, pcaps: pcapDirectory, packets: tiny ? 20_000 : 3_000_000, into: report)
        }
        attempt("memory") { try MemoryBench.measure(flows: tiny ? 20_000 : 1_000_000, into: report) }
        attempt("kronos") {
            try KronosBench.measure(
                frames: tiny ? 20_000 : 1_000_000, signedFrames: tiny ? 10_000 : 300_000, rounds: tiny ? 1 : 3,
                into: report)
        }
        attempt("ipfix") {
            try IPFIXBench.measure(frames: tiny ? 20_000 : 1_000_000, rounds: tiny ? 1 : 3, into: report)
        }
        attempt("backfill") {
            try BackfillBench.measure(
                dps: dpsPath, pcaps: pcapDirectory, packets: tiny ? 20_000 : 1_000_000, rounds: tiny ? 1 : 3,
                into: report)
        }
        attempt("dataset") {
            try DatasetBench.measure(frames: tiny ? 20_000 : 1_000_000, rounds: tiny ? 1 : 3, pcaps: pcapDirectory, into: report)
        }
        // Last: the kernel tears deleted namespaces down in the background, after this returns;
        // the CPU measures should not share the machine with that.
        attempt("datapath") {
            guard ProcessInfo.processInfo.userName == "root" else { throw BenchError("needs root (namespaces, TC hooks)") }
            guard FileManager.default.isExecutableFile(atPath: dpsPath) else {
                throw BenchError("no dps binary at \(dpsPath) (--dps PATH)")
            }
            try DatapathBench(
                dps: dpsPath, rounds: rounds ?? (tiny ? 1 : 5), seconds: seconds ?? (tiny ? 0.5 : 3), attach: attach,
                extraArguments: dpsArguments
            ).measure(into: report)
        }

        if json == "-" {
            log(report.table())  // stdout carries the JSON
        } else {
            print(report.table(), terminator: "")
        }
        if let json {
            let data = try report.json()
            if json == "-" {
                FileHandle.standardOutput.write(data)
                print()
            } else {
                try data.write(to: URL(fileURLWithPath: json))
            }
        }
        if !failures.isEmpty { throw ExitCode.failure }
    }
}
