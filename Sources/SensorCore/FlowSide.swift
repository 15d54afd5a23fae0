/// One endpoint of a flow: `a` is the key's `a` endpoint, `b` its `b` endpoint (see `FlowKey`).
/// A packet is sent by one side; a flow's initiator is one side.
enum FlowSide: UInt8, BitwiseCopyable {
    case a = 0
    case b = 1

    /// The side across the flow.
    @inline(__always)
    var other: FlowSide { self == .a ? .b : .a }
}
