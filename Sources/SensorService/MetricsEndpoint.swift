import Logging
import ServiceLifecycle

/// `metrics_listen`: the daemon's metrics and the HTTP endpoint that serves them, bound at once
/// (so that a bad or busy address stops the start before anything is attached).
public struct MetricsEndpoint: Sendable {
    public let metrics: DaemonMetrics
    public let server: MetricsServer

    public init(listen: String, version: String, ringBytes: Int, logger: Logger) throws(MetricsServerError) {
        let metrics = DaemonMetrics(version: version, ringBytes: ringBytes)
        self.metrics = metrics
        server = try MetricsServer(listen: listen, logger: logger, render: metrics.render)
    }

    /// The endpoint on a thread of its own in the service group; graceful shutdown stops it.
    public var service: ServiceGroupConfiguration.ServiceConfiguration {
        .init(
            service: ThreadService(name: "dps-metrics", body: server.run, stop: server.stop),
            successTerminationBehavior: .ignore)
    }
}
