import ArgumentParser
import Foundation
import Logging
import SensorCore
import SensorIO
import SensorKernel
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `dps run`: live capture on one or more interfaces.
///
/// Settings come from the config file (`--config`, default /etc/dps/dps.yaml when it exists) with
/// the command line over it. The options are optional here so that "given" can be told from
/// "default"; `RunOptions` holds the defaults.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Capture live traffic with eBPF and emit one FlowFrame per flow.",
        discussion: """
            Every option can also be set in the YAML config file (keys like idle_timeout for \
            --idle-timeout; interfaces is a list). Options given here override the file. SIGHUP \
            re-reads the file: log_level and stats_interval change at once; the others need a restart.
            """
    )

    @Option(
        help: ArgumentHelp(
            "YAML config file (default: \(ServiceConfig.defaultPath), read only when it exists).",
            valueName: "path"))
    var config: String?

    @Option(name: .customLong("interface"), help: "An interface to watch (repeatable).")
    var interfaces: [String] = []

    @Flag(
        inversion: .prefixedNo,
        help: "Write frames to stdout as NDJSON instead of sending them to Kronos (default: off).")
    var stdout: Bool?

    @Option(
        help: ArgumentHelp(
            "The Unix stream socket Kronos listens on (default: \(KronosSinkConfiguration.defaultSocketPath)).",
            valueName: "path"))
    var kronosSocket: String?

    @Option(
        help: ArgumentHelp(
            "Sign each Kronos line with HMAC-SHA256 keyed with this file's text (mode 0600 or 0640).",
            discussion: "Without it, the systemd credential kronos-hmac-key in $CREDENTIALS_DIRECTORY "
                + "is used when present (an empty credential means unsigned lines).",
            valueName: "path"))
    var hmacKeyFile: String?

    @Option(help: ArgumentHelp("Frames queued for Kronos while it is slow or away; beyond it the oldest are dropped (default: 65536).", valueName: "n"))
    var queueFrames: Int?

    @Option(help: ArgumentHelp("Seconds to keep delivering queued frames to Kronos at shutdown (default: 2).", valueName: "seconds"))
    var drainTimeout: Double?

    @Option(help: ArgumentHelp("Seconds between stats lines on stderr (default: 60).", valueName: "seconds"))
    var statsInterval: Double?

    @OptionGroup var flow: FlowOptions

    /// What the command line gives, nil where it is silent.
    var commandLineSettings: RunSettings {
        var settings = RunSettings()
        settings.interfaces = interfaces.isEmpty ? nil : interfaces
        settings.stdout = stdout
        settings.kronosSocket = kronosSocket
        settings.hmacKeyFile = hmacKeyFile
        settings.queueFrames = queueFrames
        settings.drainTimeout = drainTimeout
        settings.statsInterval = statsInterval
        flow.apply(to: &settings)
        return settings
    }

    func validate() throws {
        if let problem = commandLineSettings.firstProblem() {
            throw ValidationError("\(problem.setting.flag): \(problem.message)")
        }
        if let config, config.isEmpty { throw ValidationError("--config: give a path") }
    }

    /// Reads the config file (if any) and layers the command line over it. Throws a message
    /// naming the file and key, or the flag, at fault.
    static func resolve(
        configPath explicit: String?, commandLine: RunSettings
    ) throws(RunConfigurationError) -> (options: RunOptions, file: String?) {
        var fileSettings = RunSettings()
        var file: String?
        if let explicit {
            file = explicit == "/dev/null" ? nil : explicit  // "no config file", as documented
        } else if access(ServiceConfig.defaultPath, F_OK) == 0 {
            file = ServiceConfig.defaultPath
        }
        if let file {
            do {
                fileSettings = try ServiceConfig.load(path: file)
            } catch {
                throw RunConfigurationError(description: "\(error)")
            }
        }
        let merged = fileSettings.overridden(by: commandLine)
        let options = RunOptions(merged)
        if let problem = options.check() {
            let fromFile = commandLine.value(of: problem.setting) == nil && file != nil
                && fileSettings.value(of: problem.setting) != nil
            let name = fromFile ? "config file \(file!): key \"\(problem.setting.key)\"" : problem.setting.flag
            throw RunConfigurationError(description: "\(name): \(problem.message)")
        }
        return (options, file)
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        let options: RunOptions
        let configFile: String?
        do {
            (options, configFile) = try Self.resolve(configPath: config, commandLine: commandLineSettings)
        } catch {
            Stderr.line("dps: error: \(error)")
            throw ExitCode.failure
        }
        let logger = Logs.bootstrap(level: options.logLevel)
        if let configFile { logger.info("configuration read", metadata: ["config": "\(configFile)"]) }
        let environment = ProcessInfo.processInfo.environment
        let encoder = FrameEncoder(extended: options.extended)
        let sink: FrameSink
        if options.stdout {
            sink = LineWriter(fd: STDOUT_FILENO, encoder: encoder, logger: logger)
        } else {
            // A bad key is refused here, before anything is attached to an interface.
            let key: KronosKey?
            do {
                key = try Self.kronosKey(explicitPath: options.hmacKeyFile, environment: environment, logger: logger)
            } catch {
                Stderr.line("dps: error: \(error)")
                throw ExitCode.failure
            }
            if let key {
                logger.info("signing Kronos lines with HMAC-SHA256", metadata: ["key_file": "\(key.path)"])
            }
            sink = KronosSink(
                configuration: KronosSinkConfiguration(socketPath: options.kronosSocket, queueFrames: options.queueFrames),
                signer: KronosSigner(encoder: encoder, key: key), logger: logger)
        }
        let table = FlowTable(
            configuration: options.flowTable,
            interfaceName: InterfaceNames.name(of:),
            emit: { sink.write($0) })
        let sensor: KernelSensor
        EarlySignals.install()
        do {
            sensor = try KernelSensor(
                interfaces: options.interfaces, egress: options.egress, ringBytes: options.ringBytes,
                attach: options.attach, logger: logger
            ) { event, snapshot in
                table.ingest(event, snapshot: snapshot)
            }
        } catch {
            sink.finish(timeout: 0)
            Stderr.line("dps: error: \(error)")
            throw ExitCode.failure
        }
        logger.info(
            "capturing",
            metadata: [
                "interfaces": "\(options.interfaces.joined(separator: ","))", "egress": "\(options.egress)",
                "attach": "\(sensor.mode.rawValue)",
            ])
        let notifier = SystemdNotifier(environment: environment)
        if notifier.isEnabled {
            logger.debug(
                "notifying systemd",
                metadata: [
                    "socket": "\(notifier.socketPath ?? "")",
                    "watchdog_seconds": "\(notifier.watchdogInterval.map { "\($0)" } ?? "none")",
                ])
        }
        let loop = CaptureLoop(
            sensor: sensor, table: table, sink: sink, statsInterval: options.statsInterval,
            drainTimeout: options.drainTimeout, logger: logger, notifier: notifier)
        let reload = ReloadService(
            configPath: config, commandLine: commandLineSettings, running: options, loop: loop,
            notifier: notifier, logger: logger, signals: await UnixSignalsSequence(trapping: .sighup))
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: loop.service, successTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: reload, successTerminationBehavior: .ignore),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        // Stopped because stdout was closed: the status a shell reports for a tool that SIGPIPE
        // ended (128 + 13), after a clean stop.
        if sink.isClosed { throw ExitCode(128 + SIGPIPE) }
    }

    /// The Kronos key: `--hmac-key-file`, else the systemd credential `kronos-hmac-key`. The unit
    /// sets that credential to a lone newline when /etc/dps/kronos.key does not exist
    /// (`SetCredential=` is the fallback of `LoadCredential=`): an empty credential means unsigned
    /// lines. An empty key *file* given explicitly is still refused.
    static func kronosKey(
        explicitPath: String?, environment: [String: String], logger: Logger
    ) throws(KronosKeyError) -> KronosKey? {
        if explicitPath == nil, let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
            let path = (directory.hasSuffix("/") ? directory : directory + "/") + KronosKey.credentialName
            var info = stat()
            if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size <= 1,
                let data = FileManager.default.contents(atPath: path), data.isEmpty || data == Data([0x0A])
            {
                logger.notice(
                    "the kronos-hmac-key credential is empty: Kronos lines are unsigned",
                    metadata: ["credential": "\(path)"])
                return nil
            }
        }
        return try KronosKey.resolve(explicitPath: explicitPath, environment: environment)
    }
}

struct RunConfigurationError: Error, CustomStringConvertible {
    var description: String
}

enum InterfaceNames {
    static func name(of index: UInt32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(index, &buffer) != nil else { return "if\(index)" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
