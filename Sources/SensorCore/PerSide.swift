/// One value for each endpoint side of a flow (`FlowKey.a`, `FlowKey.b`): a flow entry's packet
/// and byte counters, its payload handles.
struct PerSide<Value: BitwiseCopyable & Equatable>: BitwiseCopyable {
    var a: Value
    var b: Value

    @inline(__always)
    init(_ a: Value, _ b: Value) {
        self.a = a
        self.b = b
    }

    @inline(__always)
    subscript(side: FlowSide) -> Value {
        get { side == .a ? a : b }
        set { if side == .a { a = newValue } else { b = newValue } }
    }

    /// The initiator's value first, then the responder's.
    @inline(__always)
    func initiatorFirst(_ initiator: FlowSide) -> (initiator: Value, responder: Value) {
        initiator == .a ? (a, b) : (b, a)
    }
}
