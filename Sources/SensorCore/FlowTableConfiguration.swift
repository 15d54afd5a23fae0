/// Timeouts and bounds of a `FlowTable`. Times are nanoseconds. The daemon's values (and their
/// defaults) come from its settings (`RunSetting` in SensorService).
public struct FlowTableConfiguration: Sendable, Equatable {
    public private(set) var idleTimeout: Int64
    public private(set) var activeTimeout: Int64
    public var maxFlows: Int
    /// How long a closed TCP connection waits for its last ACKs before its frame is emitted.
    public var closeLinger: Int64

    public init(idleTimeout: Int64, activeTimeout: Int64, maxFlows: Int, closeLinger: Int64 = 500_000_000) {
        // A zero step would never move a deadline: at least 1 ns.
        self.idleTimeout = max(1, idleTimeout)
        self.activeTimeout = max(1, activeTimeout)
        self.maxFlows = maxFlows
        self.closeLinger = closeLinger
    }
}
