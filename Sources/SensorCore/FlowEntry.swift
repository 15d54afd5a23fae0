/// One slot of the flow table: counters by endpoint side (`.0` for `FlowSide.a`, `.1` for `.b`) for
/// the current period, and what it takes to emit a frame.
struct FlowEntry: BitwiseCopyable {
    var key: FlowKey
    var lifecycle = FlowLifecycle()
    var flags: TCPFlags = []
    var sequence: UInt32 = 0
    var flowID: UInt64 = 0
    var packets: (UInt64, UInt64) = (0, 0)
    var bytes: (UInt64, UInt64) = (0, 0)
    /// The first packet of the current period.
    var periodFirstSeen: Int64 = 0
    /// Where the current period's active timeout counts from (periods align to the first packet).
    var periodStart: Int64 = 0
    /// The newest packet (of the current period whenever it has packets; a tombstone's trailing
    /// packets move it too, but a tombstone emits no frame).
    var lastActivity: Int64 = 0
    var closeAt: Int64 = 0
    /// The first non-empty payload snapshot each side sent, as handles in the table's
    /// `PayloadPool` (0: none). Kept until the flow's first frame is out.
    var payloads: (Int32, Int32) = (0, 0)

    init(key: FlowKey) { self.key = key }

    var hasPackets: Bool { packets.0 != 0 || packets.1 != 0 }

    /// The reason of the frame the flow emits at `ending`; nil when it emits none.
    func endReason(_ ending: FlowLifecycle.Ending) -> EndReason? {
        lifecycle.endReason(ending, hasPackets: hasPackets)
    }

    mutating func count(side: FlowSide, bytes length: UInt64, at now: Int64) {
        if !hasPackets { periodFirstSeen = now }
        lastActivity = now
        if side == .a {
            packets.0 &+= 1
            bytes.0 &+= length
        } else {
            packets.1 &+= 1
            bytes.1 &+= length
        }
    }

    func hasPayload(side: FlowSide) -> Bool { side == .a ? payloads.0 != 0 : payloads.1 != 0 }

    mutating func keepPayload(side: FlowSide, _ handle: Int32) {
        if side == .a { payloads.0 = handle } else { payloads.1 = handle }
    }

    /// The snapshot the next frame carries: the initiator's, else the responder's; none after
    /// the first frame.
    var framePayload: Int32 {
        guard sequence == 0 else { return 0 }
        let (mine, theirs) = lifecycle.initiator == .a ? payloads : (payloads.1, payloads.0)
        return mine != 0 ? mine : theirs
    }

    /// Ends the period: counters restart, orientation and identity stay.
    mutating func startPeriod(at now: Int64) {
        packets = (0, 0)
        bytes = (0, 0)
        flags = []
        periodStart = now
    }

    mutating func becomeTombstone() {
        lifecycle.becomeTombstone()
        packets = (0, 0)
        bytes = (0, 0)
    }

    func frame(reason: EndReason, interface: String, payload: [UInt8]?) -> FlowFrame {
        let fromA = lifecycle.initiator == .a
        return FlowFrame(
            source: fromA ? key.a : key.b,
            destination: fromA ? key.b : key.a,
            sourcePort: fromA ? key.aPort : key.bPort,
            destinationPort: fromA ? key.bPort : key.aPort,
            transport: FlowProtocol(number: key.transport),
            bytesIn: fromA ? bytes.0 : bytes.1,
            bytesOut: fromA ? bytes.1 : bytes.0,
            duration: Double((lastActivity - periodFirstSeen) / 1000) / 1_000_000,
            payload: payload,
            packetsIn: fromA ? packets.0 : packets.1,
            packetsOut: fromA ? packets.1 : packets.0,
            firstSeen: periodFirstSeen / 1000,
            lastSeen: lastActivity / 1000,
            tcpFlags: flags,
            endReason: reason,
            interface: interface,
            flowID: flowID,
            sequence: sequence
        )
    }
}
