import SensorCore

extension FlowTableConfiguration {
    /// The timeouts the tests' packet scripts are written for: 10 s idle, 60 s active (the
    /// daemon's defaults when these tests were written), and room for every flow.
    public static func testing(
        idleTimeout: Int64 = 10_000_000_000, activeTimeout: Int64 = 60_000_000_000, maxFlows: Int = 262_144,
        closeLinger: Int64 = 500_000_000
    ) -> FlowTableConfiguration {
        FlowTableConfiguration(
            idleTimeout: idleTimeout, activeTimeout: activeTimeout, maxFlows: maxFlows, closeLinger: closeLinger)
    }
}
