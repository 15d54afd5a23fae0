import Logging
import SensorCore
import SensorIO
import SensorKernel
import ServiceLifecycle

/// The live pipeline, wired once for `dps run` and `dps label --interface`: kernel sensor → flow
/// table → sink, driven by a `CaptureLoop` on its own thread, inside a `ServiceGroup` that stops
/// gracefully (detach, drain, emit every open flow) on SIGTERM/SIGINT.
public final class LiveCapture {
    public let sensor: KernelSensor
    public let table: FlowTable
    public let loop: CaptureLoop
    private let logger: Logger

    /// Attaches the hooks; from here on SIGTERM/SIGINT stop the capture cleanly, even before
    /// `run` starts. `options` gives the flow table and the hooks; the interfaces are passed
    /// apart (`dps label` takes its own). `metrics` (`--metrics-listen`) gets the counters and
    /// each frame's delay; `progress` (a terminal's progress line) is called twice a second.
    public init(
        interfaces: [String], options: RunOptions, sink: FrameSink, statsInterval: Double,
        drainTimeout: Double, notifier: SystemdNotifier? = nil, metrics: DaemonMetrics? = nil,
        progress: ((CaptureProgress) -> Void)? = nil, logger: Logger
    ) throws {
        let emit: (FlowFrame) -> Void
        if let metrics {
            emit = { frame in
                metrics.frameEmitted(frame)
                sink.write(frame)
            }
        } else {
            emit = { sink.write($0) }
        }
        let table = FlowTable(
            configuration: options.flowTable, interfaceName: InterfaceNames.name(of:), emit: emit)
        EarlySignals.install()
        sensor = try KernelSensor(
            interfaces: interfaces, egress: options.egress, ringBytes: UInt32(options.ringBytes),
            attach: options.attach, filter: options.packetFilter, logger: logger
        ) { event, snapshot in
            table.ingest(event, snapshot: snapshot)
        }
        self.table = table
        self.logger = logger
        loop = CaptureLoop(
            sensor: sensor, table: table, sink: sink, statsInterval: statsInterval, drainTimeout: drainTimeout,
            logger: logger, notifier: notifier, metrics: metrics, progress: progress)
    }

    /// Runs until the capture stops (graceful shutdown, or the sink closed), with `services`
    /// beside it; a service that returns with `.gracefullyShutdownGroup` also ends the capture.
    public func run(alongside services: [ServiceGroupConfiguration.ServiceConfiguration] = []) async throws {
        let capture = ServiceGroupConfiguration.ServiceConfiguration(
            service: loop.service, successTerminationBehavior: .gracefullyShutdownGroup)
        let group = ServiceGroup(
            configuration: .init(
                services: [capture] + services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Returns after `seconds`, or at once on graceful shutdown: with `.gracefullyShutdownGroup` it
/// ends a timed capture.
public struct StopAfter: Service {
    let seconds: Double

    public init(seconds: Double) { self.seconds = seconds }

    public func run() async throws {
        let nanoseconds = UInt64(Seconds.nanoseconds(seconds))
        try? await cancelWhenGracefulShutdown {
            try await Task.sleep(nanoseconds: nanoseconds)
        }
    }
}
