import ArgumentParser
import Foundation
import Logging
import SensorCore
import SensorIO
import SensorService
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

extension RulesFormat: ExpressibleByArgument {}

/// `dps label`: labeled FlowFrame NDJSON for training, from live capture, pcap files or frames.
struct LabelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label",
        abstract: "Write labeled FlowFrames (training data) from live traffic, pcap files or NDJSON frames.",
        discussion: """
            Exactly one source: --interface (live, until --duration or SIGINT/SIGTERM), --pcap or \
            --ndjson. Rules are tried in order, the first match wins; --print-rules shows them in \
            the rules-file format and --rules FILE replaces them. A summary (frames per label, \
            unmatched, errors) goes to stderr at the end.
            """
    )

    @Option(
        name: .customLong("interface"), parsing: .upToNextOption,
        help: ArgumentHelp("Interfaces to capture on live.", valueName: "IF"))
    var interfaces: [String] = []

    @Option(
        name: .customLong("pcap"), parsing: .upToNextOption,
        help: ArgumentHelp("pcap or pcapng files to read.", valueName: "FILE"))
    var pcapFiles: [String] = []

    @Option(
        name: .customLong("ndjson"), parsing: .upToNextOption,
        help: ArgumentHelp("NDJSON FlowFrame files to relabel (- for stdin).", valueName: "FILE"))
    var ndjsonFiles: [String] = []

    @Option(
        help: ArgumentHelp(
            "Where to write the labeled frames: a file, or - for stdout (with --ipfix it may be left out: then frames are only exported).",
            valueName: "FILE"))
    var out: String?

    @Option(help: "With --interface: seconds to capture (default: until SIGINT/SIGTERM).")
    var duration: Double?

    @Option(help: ArgumentHelp("A rules file (JSON or YAML) that replaces the default rules.", valueName: "FILE"))
    var rules: String?

    @Flag(help: "Print the rules (the defaults, or those of --rules) in the rules-file format, and exit.")
    var printRules = false

    @Option(help: "The format for --print-rules: yaml or json (default: that of --rules, else yaml).")
    var rulesFormat: RulesFormat?

    @Option(help: ArgumentHelp("Frames no rule matches: skip (counted, not written), or a label to write them with.", valueName: "skip|NAME"))
    var unmatched: String = "skip"

    @Flag(help: "Stop at the first bad NDJSON line or damaged pcap instead of skipping it.")
    var strict = false

    @Option(
        help: ArgumentHelp(
            "With --pcap: a libpcap filter expression (tcpdump syntax) packets must pass, "
                + "as well as --include/--exclude.",
            valueName: "EXPRESSION"))
    var filter: String?

    @OptionGroup var flow: FlowOptions

    /// What the shared options give; `options` fills in the defaults.
    private var settings: RunSettings { CommandLineSettings.given(by: flow) }

    private var options: RunOptions { RunOptions(settings) }

    /// Bad-input messages written to stderr per run; the rest are only counted.
    static let maxReportedErrors = 100

    func validate() throws {
        if printRules { return }
        let sources = [!interfaces.isEmpty, !pcapFiles.isEmpty, !ndjsonFiles.isEmpty].filter { $0 }.count
        guard sources == 1 else {
            throw ValidationError("give exactly one source: --interface, --pcap or --ndjson")
        }
        if filter != nil && !interfaces.isEmpty {
            throw ValidationError(
                "--filter is for --pcap input: live capture filters with --include/--exclude, which the BPF program "
                    + "evaluates in the kernel (a libpcap expression compiles to classic BPF for a packet socket, "
                    + "which a TC program cannot run)")
        }
        if filter != nil && !ndjsonFiles.isEmpty {
            throw ValidationError("--filter is for --pcap input: NDJSON frames are flows, not packets to filter")
        }
        guard out != nil || !flow.ipfix.isEmpty else {
            throw ValidationError("give --out FILE (or --out - for stdout), or --ipfix URL to only export")
        }
        if let duration {
            guard !interfaces.isEmpty else { throw ValidationError("--duration goes with --interface") }
            try Seconds.validate(duration, "--duration")
        }
        guard !unmatched.isEmpty else { throw ValidationError("--unmatched needs skip or a label") }
        if let problem = settings.firstProblem() {
            throw ValidationError("\(problem.setting.flag): \(problem.message)")
        }
        if !ndjsonFiles.isEmpty && !(flow.include.isEmpty && flow.exclude.isEmpty) {
            throw ValidationError(
                "--include and --exclude need packet-level input (--pcap, --interface): they filter packets, not frames")
        }
        if flow.extended == true && !ndjsonFiles.isEmpty {
            throw ValidationError(
                "--extended needs packet-level input (--pcap, --interface): NDJSON frames do not carry those fields")
        }
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        let logger = Logs.bootstrap(level: options.logLevel)

        // The rules come first: a bad rules file stops everything before any work.
        var ruleSet = RuleSet.defaults
        var fileFormat: RulesFormat?
        if let rules {
            do {
                (ruleSet, fileFormat) = try RulesFile.load(path: rules)
            } catch {
                Stderr.line("dps: error: \(error)")
                throw ExitCode.failure
            }
        }
        if printRules {
            let text = RulesFile.render(ruleSet, format: rulesFormat ?? fileFormat ?? .yaml)
            var bytes = Array(text.utf8)
            bytes.withUnsafeMutableBytes { _ = Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            return
        }

        // So does a --filter expression libpcap cannot compile (include/exclude rules were checked
        // with the other settings).
        let packetFilter = try pcapFilter()

        var writer: LineWriter?
        let encoder = FrameEncoder(extended: options.extended)
        if out == "-" {
            writer = LineWriter(fd: STDOUT_FILENO, encoder: encoder, logger: logger)
        } else if let out {
            do {
                writer = try LineWriter(path: out, encoder: encoder, logger: logger)
            } catch {
                Stderr.line("dps: error: \(error)")
                throw ExitCode.failure
            }
        }
        // IPFIX collectors get every frame, unlabeled (IPFIX carries no label) and the unmatched
        // ones too: lossless when reading files (back-pressure, as for pcap input), dropping the
        // oldest when capturing live.
        let collectors = FrameOutput.ipfixSinks(for: options, lossless: interfaces.isEmpty, logger: logger)
        let sink = LabelingSink(
            labeler: Labeler(rules: ruleSet, maxPendingFlows: 2 * options.maxFlows),
            unmatched: UnmatchedPolicy(argument: unmatched), next: writer,
            unlabeled: collectors.count > 1 ? FanOutSink(collectors) : collectors.first)

        var failed = false
        if !ndjsonFiles.isEmpty {
            failed = relabelNDJSON(into: sink)
        } else if !pcapFiles.isEmpty {
            failed = labelPcaps(into: sink, filter: packetFilter, logger: logger)
        } else {
            failed = try await labelLive(into: sink, logger: logger)
        }
        // IPFIX collectors get up to drain_timeout seconds for what is still queued.
        sink.finish(timeout: options.drainTimeout)
        Stderr.line("dps: \(sink.summary)")
        if let writer, writer.framesFailed > 0 {
            Stderr.line("dps: error: \(writer.framesFailed) frames could not be written")
            failed = true
        }
        if failed { throw ExitCode.failure }
    }

    // MARK: - NDJSON

    /// Relabels each file's frames; a bad line is reported (file:line), counted and skipped, or
    /// with --strict ends the run. Returns whether the run failed.
    private func relabelNDJSON(into sink: LabelingSink) -> Bool {
        var reported = 0
        var unreadable = false  // a file that cannot be read fails the run, --strict or not
        for path in ndjsonFiles {
            let reader: NDJSONReader
            do {
                reader = try NDJSONReader(path: path)
            } catch {
                Stderr.line("dps: error: \(error)")
                sink.countError()
                unreadable = true
                if strict { return true }
                continue
            }
            struct StopAtError: Error {}
            do {
                try reader.forEachFrame { result in
                    switch result {
                    case .success(let frame):
                        sink.write(frame)
                    case .failure(let error):
                        sink.countError()
                        if reported < Self.maxReportedErrors {
                            Stderr.line("dps: error: \(error)")
                            reported += 1
                            if reported == Self.maxReportedErrors {
                                Stderr.line("dps: further bad lines are only counted")
                            }
                        }
                        if strict { throw StopAtError() }
                    }
                }
                if reader.endedEarly {
                    // A compressed file cut short (its writer killed): its lines up to the cut
                    // were kept; the broken last one, if any, was a bad line above.
                    Stderr.line(
                        "dps: warning: \(path): the compressed data ends early (file cut short?): "
                            + "after \(reader.linesRead) lines; the good ones were kept")
                    sink.countError()
                    if strict { return true }
                }
            } catch is StopAtError {
                return true
            } catch {
                Stderr.line("dps: error: \(error)")
                sink.countError()
                unreadable = true
                if strict { return true }
            }
            sink.labeler.reset()
        }
        return unreadable || (strict && sink.errors > 0)
    }

    // MARK: - pcap

    /// The include/exclude rules for pcap input, after checking that `--filter` compiles for each
    /// file's link type and snaplen (standard input, which is read once, is checked when read):
    /// an error (libpcap's) exits 1 before any file is read.
    private func pcapFilter() throws -> PacketFilter {
        guard !pcapFiles.isEmpty else { return .none }
        if let filter {
            for path in pcapFiles where path != "-" {
                do {
                    _ = try PcapSource(path: path, expression: filter)
                } catch let error as PcapError where error.code == .badExpression {
                    Stderr.line("dps: error: \(error)")
                    throw ExitCode.failure
                } catch {
                    // Not readable, not a capture: reported when its turn comes.
                }
            }
        }
        do {
            return try PacketFilter(include: options.include, exclude: options.exclude)
        } catch {
            Stderr.line("dps: error: \(error)")
            throw ExitCode.failure
        }
    }

    /// Each file through its own flow table, capture time driving its clock; the table is drained
    /// at the end of the file, or at damage (then the error names the file and packet). Packets
    /// must pass `filter` and `--filter`; those that do not are counted per reason in the log line.
    /// Returns whether any file was damaged or unreadable.
    private func labelPcaps(into sink: LabelingSink, filter packetFilter: PacketFilter, logger: Logger) -> Bool {
        let configuration = options.flowTable
        var failed = false
        for path in pcapFiles {
            let stats: CaptureLabelingStats
            var damage: CaptureLabelingError?
            do {
                let line = ProgressLine(subject: path)
                defer { line?.finish() }
                stats = try sink.labelCapture(
                    path: path, configuration: configuration, filter: packetFilter, expression: filter,
                    progress: line.map { $0.update })
            } catch {
                stats = error.stats
                damage = error
            }
            var metadata: Logger.Metadata = [
                "file": "\(path)", "packets": "\(stats.packetsRead)", "skipped": "\(stats.packetsSkipped)",
                "frames": "\(stats.frames)", "trailing": "\(stats.trailingPackets)",
            ]
            if stats.packetsTunnelOuter > 0 { metadata["tunnel_outer"] = "\(stats.packetsTunnelOuter)" }
            if !packetFilter.isEmpty || filter != nil {
                // filtered = excluded + not_included + filter_rejected (by the --filter expression)
                metadata["filtered"] = "\(stats.packetsFiltered)"
                metadata["excluded"] = "\(stats.packetsExcluded)"
                metadata["not_included"] = "\(stats.packetsNotIncluded)"
                metadata["filter_rejected"] = "\(stats.packetsRejectedByExpression)"
            }
            logger.info("read capture", metadata: metadata)
            if let damage {
                Stderr.line("dps: error: \(damage)")
                sink.countError()
                failed = true
                if strict { break }
            }
        }
        return failed
    }

    // MARK: - Live

    /// Captures until --duration has passed or SIGINT/SIGTERM, then labels and writes every open
    /// flow. Returns whether the capture could not start.
    private func labelLive(into sink: LabelingSink, logger: Logger) async throws -> Bool {
        let capture: LiveCapture
        let line = ProgressLine(subject: interfaces.joined(separator: ","))
        defer { line?.finish() }
        do {
            capture = try LiveCapture(
                interfaces: interfaces, options: options, sink: sink, statsInterval: 60, drainTimeout: 0,
                progress: line.map { $0.update }, logger: logger)
        } catch {
            Stderr.line("dps: error: \(error)")
            return true
        }
        logger.info(
            "capturing for labeling",
            metadata: [
                "interfaces": "\(interfaces.joined(separator: ","))", "egress": "\(options.egress)",
                "attach": "\(capture.sensor.mode.rawValue)",
                "duration": "\(duration.map { "\($0)s" } ?? "until SIGINT/SIGTERM")",
            ])
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let duration {
            services.append(
                .init(service: StopAfter(seconds: duration), successTerminationBehavior: .gracefullyShutdownGroup))
        }
        try await capture.run(alongside: services)
        return false
    }
}
