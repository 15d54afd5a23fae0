/// Timeouts and bounds of a `FlowTable`. Times are nanoseconds.
public struct FlowTableConfiguration: Sendable, Equatable {
    public private(set) var idleTimeout: Int64 = 10_000_000_000
    public private(set) var activeTimeout: Int64 = 60_000_000_000
    public var maxFlows: Int = 262_144
    /// How long a closed TCP connection waits for its last ACKs before its frame is emitted.
    public var closeLinger: Int64 = 500_000_000

    public init(
        idleTimeout: Int64 = 10_000_000_000, activeTimeout: Int64 = 60_000_000_000,
        maxFlows: Int = 262_144, closeLinger: Int64 = 500_000_000
    ) {
        // A zero step would never move a deadline: at least 1 ns.
        self.idleTimeout = max(1, idleTimeout)
        self.activeTimeout = max(1, activeTimeout)
        self.maxFlows = maxFlows
        self.closeLinger = closeLinger
    }
}
