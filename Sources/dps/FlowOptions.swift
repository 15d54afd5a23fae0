import ArgumentParser
import Logging
import SensorCore
import SensorService

/// The settings `dps run` and `dps label` share: flow table, capture and log level. Each property
/// is the flag of the `RunSetting` of its name, optional so that "given" can be told from
/// "default" (`CommandLineSettings` reads them); the declaration gives the help and the default.
struct FlowOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: RunSetting.extended.argumentHelp)
    var extended: Bool?

    @Option(help: RunSetting.idleTimeout.argumentHelp)
    var idleTimeout: Double?

    @Option(help: RunSetting.activeTimeout.argumentHelp)
    var activeTimeout: Double?

    @Option(help: RunSetting.maxFlows.argumentHelp)
    var maxFlows: Int?

    @Flag(inversion: .prefixedNo, help: RunSetting.egress.argumentHelp)
    var egress: Bool?

    @Option(help: RunSetting.ringBytes.argumentHelp)
    var ringBytes: Int?

    @Option(help: RunSetting.attach.argumentHelp)
    var attach: HookMode?

    @Option(help: RunSetting.logLevel.argumentHelp)
    var logLevel: Logger.Level?

    @Option(name: RunSetting.ipfix.flagName, help: RunSetting.ipfix.argumentHelp)
    var ipfix: [String] = []

    @Option(help: RunSetting.ipfixObservationDomain.argumentHelp)
    var ipfixObservationDomain: Int?

    @Option(help: RunSetting.include.argumentHelp)
    var include: [String] = []

    @Option(help: RunSetting.exclude.argumentHelp)
    var exclude: [String] = []
}
