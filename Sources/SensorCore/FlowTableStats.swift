/// Counters of a `FlowTable`.
public struct FlowTableStats: Sendable, Equatable {
    /// Packets ingested.
    public var packets: UInt64 = 0
    /// Packets without payload or RST of a TCP connection that arrived after its frame was
    /// emitted (final ACKs, retransmitted bare FINs): absorbed, counted here, not in a frame.
    /// (A late packet with payload or an RST opens a late period of the flow instead.)
    public var trailingPackets: UInt64 = 0
    public var flowsCreated: UInt64 = 0
    public var frames: UInt64 = 0
    /// Frames by `EndReason`, in `EndReason.allCases` order.
    public var framesByReason: [UInt64] = Array(repeating: 0, count: EndReason.allCases.count)

    public init() {}

    public func frames(_ reason: EndReason) -> UInt64 {
        framesByReason[reason.index]
    }
}
