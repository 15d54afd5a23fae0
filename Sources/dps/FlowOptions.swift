import ArgumentParser
import Logging
import SensorCore
import SensorIO

/// The flow-table, capture and output options `dps run` and `dps label` share. Optional, so that
/// `dps run` can tell "given" from "default" when it layers the command line over its config
/// file; `RunOptions` holds the defaults, and the help says them.
struct FlowOptions: ParsableArguments {
    private static let defaults = RunOptions()

    @Flag(
        inversion: .prefixedNo,
        help: "Add packets_in/out, first_seen, last_seen, tcp_flags, end_reason, interface (default: off).")
    var extended: Bool?

    @Option(
        help: ArgumentHelp(
            "Seconds without packets after which a flow ends (default: \(Int(defaults.idleTimeout))).",
            valueName: "seconds"))
    var idleTimeout: Double?

    @Option(
        help: ArgumentHelp(
            "Seconds after which a long flow emits a frame and goes on (default: \(Int(defaults.activeTimeout))).",
            valueName: "seconds"))
    var activeTimeout: Double?

    @Option(
        help: ArgumentHelp(
            "Most flows held at once; the longest idle is emitted early beyond it (default: \(defaults.maxFlows)).",
            valueName: "n"))
    var maxFlows: Int?

    @Flag(inversion: .prefixedNo, help: "Live: watch egress as well as ingress (default: on).")
    var egress: Bool?

    @Option(
        help: ArgumentHelp(
            "Live: ring buffer size in bytes, a power of two, at least 4096 (default: \(defaults.ringBytes)).",
            valueName: "bytes"))
    var ringBytes: UInt32?

    @Option(
        help: ArgumentHelp(
            "Live: attach with tcx (Linux 6.6+), TC, or auto: tcx where the kernel has it (default: \(defaults.attach.rawValue)).",
            valueName: "mode"))
    var attach: HookMode?

    @Option(
        help: ArgumentHelp(
            "Log level (default: \(defaults.logLevel)).",
            valueName: "level"))
    var logLevel: Logger.Level?

    /// Sets what the command line gave; leaves the rest as it was.
    func apply(to settings: inout RunSettings) {
        settings.extended = extended ?? settings.extended
        settings.idleTimeout = idleTimeout ?? settings.idleTimeout
        settings.activeTimeout = activeTimeout ?? settings.activeTimeout
        settings.maxFlows = maxFlows ?? settings.maxFlows
        settings.egress = egress ?? settings.egress
        settings.ringBytes = ringBytes ?? settings.ringBytes
        settings.attach = attach ?? settings.attach
        settings.logLevel = logLevel ?? settings.logLevel
    }
}

extension RunOptions {
    /// The flow table these options describe.
    var flowTable: FlowTableConfiguration {
        FlowTableConfiguration(
            idleTimeout: Seconds.nanoseconds(idleTimeout), activeTimeout: Seconds.nanoseconds(activeTimeout),
            maxFlows: maxFlows)
    }
}

extension HookMode: ExpressibleByArgument {}
