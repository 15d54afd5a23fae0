import ArgumentParser
import Foundation
import SensorIO
import SensorService
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `dps run`: live capture on one or more interfaces, frames to Kronos or stdout.
///
/// Settings come from the config file (`--config`, default /etc/dps/dps.yaml when it exists) with
/// the command line over it (`RunConfiguration`). Each setting option is a property named like its
/// `RunSetting` declaration, which gives its help and default.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Capture live traffic with eBPF and emit one FlowFrame per flow.",
        discussion: """
            Every option can also be set in the YAML config file (keys like idle_timeout for \
            --idle-timeout; interfaces is a list). Options given here override the file. SIGHUP \
            re-reads the file: \(Self.reloadable) change at once; the others need a restart.
            """
    )

    /// "a, b and c": the settings a reload applies.
    private static var reloadable: String {
        let keys = RunSetting.all.filter(\.isReloadable).map(\.key)
        return keys.count < 2 ? keys.joined() : keys.dropLast().joined(separator: ", ") + " and " + keys.last!
    }

    @Option(
        help: ArgumentHelp(
            "YAML config file (default: \(ServiceConfig.defaultPath), read only when it exists).",
            valueName: "path"))
    var config: String?

    @Option(name: RunSetting.interfaces.flagName, help: RunSetting.interfaces.argumentHelp)
    var interfaces: [String] = []

    @Flag(inversion: .prefixedNo, help: RunSetting.stdout.argumentHelp)
    var stdout: Bool?

    @Option(help: RunSetting.kronosSocket.argumentHelp)
    var kronosSocket: String?

    @Option(help: RunSetting.hmacKeyFile.argumentHelp)
    var hmacKeyFile: String?

    @Option(help: RunSetting.queueFrames.argumentHelp)
    var queueFrames: Int?

    @Option(help: RunSetting.drainTimeout.argumentHelp)
    var drainTimeout: Double?

    @Option(help: RunSetting.statsInterval.argumentHelp)
    var statsInterval: Double?

    @Option(help: RunSetting.metricsListen.argumentHelp)
    var metricsListen: String?

    @Option(help: RunSetting.datasetDir.argumentHelp)
    var datasetDir: String?

    @Option(help: RunSetting.rules.argumentHelp)
    var rules: String?

    @Option(help: RunSetting.datasetCompression.argumentHelp)
    var datasetCompression: DatasetCompression?

    @Option(help: RunSetting.datasetRotate.argumentHelp)
    var datasetRotate: Double?

    @Option(help: RunSetting.datasetRotateBytes.argumentHelp)
    var datasetRotateBytes: Int?

    @Option(help: RunSetting.datasetMaxBytes.argumentHelp)
    var datasetMaxBytes: Int?

    @Option(help: RunSetting.datasetMaxAge.argumentHelp)
    var datasetMaxAge: Double?

    @OptionGroup var flow: FlowOptions

    /// What the command line gives, nil where it is silent.
    var commandLineSettings: RunSettings { CommandLineSettings.given(by: self) }

    func validate() throws {
        if let problem = commandLineSettings.firstProblem() {
            throw ValidationError("\(problem.setting.flag): \(problem.message)")
        }
        if let config, config.isEmpty { throw ValidationError("--config: give a path") }
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        /// Says what stopped the start, on stderr, and exits 1.
        func failure(_ error: any Error, closing sink: FrameSink? = nil) -> ExitCode {
            sink?.finish(timeout: 0)
            Stderr.line("dps: error: \(error)")
            return ExitCode.failure
        }
        let options: RunOptions
        let configFile: String?
        do {
            (options, configFile) = try RunConfiguration.resolve(configPath: config, commandLine: commandLineSettings)
        } catch {
            throw failure(error)
        }
        let logger = Logs.bootstrap(level: options.logLevel)
        if let configFile { logger.info("configuration read", metadata: ["config": "\(configFile)"]) }
        let environment = ProcessInfo.processInfo.environment
        let dataset: DatasetSink?
        do {
            dataset = try FrameOutput.datasetSink(for: options, logger: logger)
        } catch {
            throw failure(error)
        }
        let sink: FrameSink
        do {
            sink = try FrameOutput.sink(
                for: options, environment: environment, also: dataset.map { [$0] } ?? [], logger: logger)
        } catch {
            throw failure(error, closing: dataset)
        }
        let notifier = SystemdNotifier(environment: environment)
        let endpoint: MetricsEndpoint?
        do {
            endpoint = try options.metricsListen.map { (address) throws(MetricsServerError) in
                try MetricsEndpoint(listen: address, version: DPS.version, ringBytes: options.ringBytes, logger: logger)
            }
        } catch {
            throw failure(error, closing: sink)
        }
        let capture: LiveCapture
        do {
            capture = try LiveCapture(
                interfaces: options.interfaces, options: options, sink: sink, statsInterval: options.statsInterval,
                drainTimeout: options.drainTimeout, notifier: notifier, metrics: endpoint?.metrics, logger: logger)
        } catch {
            throw failure(error, closing: sink)
        }
        logger.info(
            "capturing",
            metadata: [
                "interfaces": "\(options.interfaces.joined(separator: ","))", "egress": "\(options.egress)",
                "attach": "\(capture.sensor.mode.rawValue)",
            ])
        if notifier.isEnabled {
            logger.debug(
                "notifying systemd",
                metadata: [
                    "socket": "\(notifier.socketPath ?? "")",
                    "watchdog_seconds": "\(notifier.watchdogInterval.map { "\($0)" } ?? "none")",
                ])
        }
        let loop = capture.loop
        let reload = ReloadService(
            configPath: config, commandLine: commandLineSettings, running: options,
            apply: { options in
                Logs.level = options.logLevel
                loop.setStatsInterval(options.statsInterval)
                loop.setFilter(options.packetFilter)
                if let dataset { FrameOutput.reloadDatasetRules(dataset, options: options, logger: logger) }
            },
            notifier: notifier, logger: logger, signals: await UnixSignalsSequence(trapping: .sighup))
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: reload, successTerminationBehavior: .ignore)
        ]
        if let endpoint {
            logger.info("serving metrics", metadata: ["address": "\(endpoint.server.boundAddress)", "path": "/metrics"])
            services.append(endpoint.service)
        }
        try await capture.run(alongside: services)
        // Stopped because stdout was closed: the status a shell reports for a tool that SIGPIPE
        // ended (128 + 13), after a clean stop.
        if sink.isClosed { throw ExitCode(128 + SIGPIPE) }
    }
}
