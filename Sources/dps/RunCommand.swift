import ArgumentParser
import Foundation
import Logging
import SensorCore
import SensorIO
import SensorKernel
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// `dps run`: live capture on one or more interfaces.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Capture live traffic with eBPF and emit one FlowFrame per flow."
    )

    @Option(name: .customLong("interface"), help: "An interface to watch (repeatable).")
    var interfaces: [String] = []

    @Flag(help: "Write frames to stdout as NDJSON (instead of sending them to Kronos).")
    var stdout = false

    @Option(help: "The Unix stream socket Kronos listens on.")
    var kronosSocket: String = KronosSinkConfiguration.defaultSocketPath

    @Option(
        help: ArgumentHelp(
            "Sign each Kronos line with HMAC-SHA256 keyed with this file's text (mode 0600 or 0640).",
            discussion: "Without it, the systemd credential kronos-hmac-key in $CREDENTIALS_DIRECTORY "
                + "is used when present."))
    var hmacKeyFile: String?

    @Option(help: "Frames queued for Kronos while it is slow or away; beyond it the oldest are dropped.")
    var queueFrames: Int = 65_536

    @Option(help: "Seconds to keep delivering queued frames to Kronos at shutdown.")
    var drainTimeout: Double = 2

    @Flag(help: "Add packets_in/out, first_seen, last_seen, tcp_flags, end_reason, interface.")
    var extended = false

    @Option(help: "Seconds without packets after which a flow ends.")
    var idleTimeout: Double = 10

    @Option(help: "Seconds after which a long flow emits a frame and goes on.")
    var activeTimeout: Double = 60

    @Option(help: "Most flows held at once; the longest idle is emitted early beyond it.")
    var maxFlows: Int = 262_144

    @Flag(help: "Watch ingress only.")
    var noEgress = false

    @Option(help: "Seconds between stats lines on stderr.")
    var statsInterval: Double = 60

    @Option(help: "Ring buffer size in bytes (a power of two, at least 4096).")
    var ringBytes: UInt32 = 8 << 20

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard !interfaces.isEmpty else { throw ValidationError("give at least one --interface") }
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be above 0") }
        guard activeTimeout > 0 else { throw ValidationError("--active-timeout must be above 0") }
        guard maxFlows > 0 else { throw ValidationError("--max-flows must be above 0") }
        guard statsInterval > 0 else { throw ValidationError("--stats-interval must be above 0") }
        guard ringBytes >= 4096, ringBytes & (ringBytes - 1) == 0 else {
            throw ValidationError("--ring-bytes must be a power of two, at least 4096")
        }
        guard queueFrames > 0 else { throw ValidationError("--queue-frames must be above 0") }
        guard !kronosSocket.isEmpty, kronosSocket.utf8.count < 108 else {
            throw ValidationError("--kronos-socket must be a path of 1 to 107 bytes")
        }
        guard drainTimeout >= 0 else { throw ValidationError("--drain-timeout must be 0 or more") }
        if stdout && hmacKeyFile != nil {
            throw ValidationError("--hmac-key-file signs Kronos lines: it has no effect with --stdout")
        }
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        let logger = Logs.bootstrap(level: logLevel)
        let encoder = FrameEncoder(extended: extended)
        let sink: FrameSink
        if stdout {
            sink = LineWriter(fd: STDOUT_FILENO, encoder: encoder, logger: logger)
        } else {
            // A bad key is refused here, before anything is attached to an interface.
            let key: KronosKey?
            do {
                key = try KronosKey.resolve(
                    explicitPath: hmacKeyFile, environment: ProcessInfo.processInfo.environment)
            } catch {
                Stderr.write("dps: error: \(error)\n")
                throw ExitCode.failure
            }
            if let key {
                logger.info("signing Kronos lines with HMAC-SHA256", metadata: ["key_file": "\(key.path)"])
            }
            sink = KronosSink(
                configuration: KronosSinkConfiguration(socketPath: kronosSocket, queueFrames: queueFrames),
                signer: KronosSigner(encoder: encoder, key: key), logger: logger)
        }
        let table = FlowTable(
            configuration: FlowTableConfiguration(
                idleTimeout: Int64(idleTimeout * 1e9), activeTimeout: Int64(activeTimeout * 1e9),
                maxFlows: maxFlows),
            interfaceName: InterfaceNames.name(of:),
            emit: { sink.write($0) })
        let sensor: KernelSensor
        do {
            sensor = try KernelSensor(
                interfaces: interfaces, egress: !noEgress, ringBytes: ringBytes, logger: logger
            ) { event, snapshot in
                table.ingest(event, snapshot: snapshot)
            }
        } catch {
            sink.finish(timeout: 0)
            Stderr.write("dps: error: \(error)\n")
            throw ExitCode.failure
        }
        logger.info(
            "capturing",
            metadata: [
                "interfaces": "\(interfaces.joined(separator: ","))", "egress": "\(!noEgress)",
            ])
        let loop = CaptureLoop(
            sensor: sensor, table: table, sink: sink, statsInterval: statsInterval,
            drainTimeout: drainTimeout, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [CaptureService(loop: loop)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}

enum InterfaceNames {
    static func name(of index: UInt32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(index, &buffer) != nil else { return "if\(index)" }
        return String(cString: buffer)
    }
}
