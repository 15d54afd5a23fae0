/// One slot of the flow table: counters by endpoint side for the current period, and what it
/// takes to emit a frame.
struct FlowEntry: BitwiseCopyable {
    var key: FlowKey
    var lifecycle = FlowLifecycle()
    var flags: TCPFlags = []
    var frameIndex: UInt32 = 0
    var flowID: UInt64 = 0
    var packets = PerSide<UInt64>(0, 0)
    var bytes = PerSide<UInt64>(0, 0)
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
    var payloads = PerSide<Int32>(0, 0)

    init(key: FlowKey) { self.key = key }

    var hasPackets: Bool { packets.a != 0 || packets.b != 0 }

    /// The reason of the frame the flow emits at `ending`; nil when it emits none.
    func endReason(_ ending: FlowLifecycle.Ending) -> EndReason? {
        lifecycle.endReason(ending, hasPackets: hasPackets)
    }

    mutating func count(side: FlowSide, bytes length: UInt64, at now: Int64) {
        if !hasPackets { periodFirstSeen = now }
        lastActivity = now
        packets[side] &+= 1
        bytes[side] &+= length
    }

    func hasPayload(side: FlowSide) -> Bool { payloads[side] != 0 }

    mutating func keepPayload(side: FlowSide, _ handle: Int32) {
        payloads[side] = handle
    }

    /// The snapshot the next frame carries: the initiator's, else the responder's; none after
    /// the first frame.
    var framePayload: Int32 {
        guard frameIndex == 0 else { return 0 }
        let (mine, theirs) = payloads.initiatorFirst(lifecycle.initiator)
        return mine != 0 ? mine : theirs
    }

    /// Ends the period: counters restart, orientation and identity stay.
    mutating func startPeriod(at now: Int64) {
        packets = PerSide(0, 0)
        bytes = PerSide(0, 0)
        flags = []
        periodStart = now
    }

    mutating func becomeTombstone() {
        lifecycle.becomeTombstone()
        packets = PerSide(0, 0)
        bytes = PerSide(0, 0)
    }

    func frame(reason: EndReason, interface: String, payload: [UInt8]?, tunnel: Tunnel?) -> FlowFrame {
        let fromA = lifecycle.initiator == .a
        let bytes = bytes.initiatorFirst(lifecycle.initiator)
        let packets = packets.initiatorFirst(lifecycle.initiator)
        return FlowFrame(
            source: fromA ? key.a : key.b,
            destination: fromA ? key.b : key.a,
            sourcePort: fromA ? key.aPort : key.bPort,
            destinationPort: fromA ? key.bPort : key.aPort,
            transport: FlowProtocol(number: key.transport),
            bytesIn: bytes.initiator,
            bytesOut: bytes.responder,
            duration: Double((lastActivity - periodFirstSeen) / 1000) / 1_000_000,
            payload: payload,
            packetsIn: packets.initiator,
            packetsOut: packets.responder,
            firstSeen: periodFirstSeen / 1000,
            lastSeen: lastActivity / 1000,
            tcpFlags: flags,
            endReason: reason,
            interface: interface,
            flowID: flowID,
            frameIndex: frameIndex,
            protocolNumber: key.transport,
            vlan: key.vlan,
            tunnel: tunnel
        )
    }
}
