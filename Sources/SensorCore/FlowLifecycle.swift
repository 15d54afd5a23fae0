/// The life of one flow: how it starts, what each packet does to it, which side initiated it, and
/// why it ends. Pure state, 4 bytes in each `FlowEntry`; `FlowTable` keeps the clock, the deadlines
/// and the lists, and asks here.
///
/// 1. Start: the first packet of a key starts a flow (`init(firstPacket:from:)`), and so does a
///    TCP SYN without ACK on the key of a closing or closed connection (`arrival(of:)`). Any
///    other packet on a held key belongs to the flow held (step 5 says how a tombstone takes it).
/// 2. Initiator: the sender of a TCP SYN without ACK (the receiver of a SYN+ACK when that comes
///    first); otherwise the first sender, except a TCP flow first seen mid-connection from a port
///    below 1024 to one at or above 1024, whose receiver is taken as the initiator. When the first
///    packet had no SYN, a later SYN without ACK sets it, until the first frame is out (`record`).
/// 3. Each packet is counted in the flow's current period (`FlowEntry.count`).
/// 4. `active`: a period that reaches the active timeout with packets emits a frame; the next
///    period starts and the flow goes on.
/// 5. `rst`, `fin`: an RST, or a FIN from each side, closes an open TCP connection (`record`).
///    It lingers for its last ACKs, then its frame goes out with that reason (at once when a new
///    SYN reuses the key) and it stays a tombstone until idle. The tombstone absorbs trailing
///    packets without payload or RST (final ACKs, retransmitted bare FINs): counted as
///    `trailing`, in no frame, never a new flow. A packet with payload or an RST is not absorbed:
///    it opens a late period of the same flow (`reopen(by:)`: same flow ID and initiator, the
///    next frame index, no payload snapshot). The connection is closed already, so the late
///    period is closing from its first packet, with reason `rst` if that packet has an RST,
///    `fin` if it has a FIN, else the reason the connection closed with; it lingers and goes
///    out like any close, then the flow is a tombstone again.
/// 6. `idle`: no packet for the idle timeout ends the flow.
/// 7. `evicted`: a full table ends its longest-idle flow to make room.
/// 8. `shutdown`: `FlowTable.drain()` ends every flow still held.
///
/// In 6–8 a closing connection gives its own `fin` or `rst` and a tombstone emits nothing; in 4 and
/// 6–8 an open flow emits a frame only if its period has packets (`endReason(_:hasPackets:)`).
struct FlowLifecycle: BitwiseCopyable {
    enum State: Equatable, BitwiseCopyable {
        case open
        /// Closed by an RST or FINs (the reason), lingering before its frame goes out.
        case closing(EndReason)
        /// Its frame is out: a tombstone that absorbs trailing packets without payload or RST,
        /// keeping the reason it closed with for a late period.
        case closed(EndReason)
    }

    /// What a packet does to a flow held under its key, before it is counted.
    enum Arrival: Equatable {
        /// Counted in the flow.
        case count
        /// A new connection on a closing one: the closing one's frame goes out now, the packet
        /// starts a new flow.
        case finishThenRestart
        /// A new connection on a tombstone: the packet starts a new flow.
        case restart
        /// A late packet of a finished connection, with payload or an RST: it starts a late
        /// period of the same flow (`reopen(by:)`), closing from the start, and is counted in it.
        case reopen
        /// A trailing packet of a finished connection, without payload or RST (a final ACK, a
        /// retransmitted bare FIN): absorbed, in no frame.
        case absorb
    }

    /// What ends a frame other than the end of a close linger.
    enum Ending {
        case activeTimeout, idleTimeout, evicted, shutdown
    }

    private(set) var state = State.open
    private(set) var initiator = FlowSide.a
    /// No later packet changes `initiator`: a SYN decided it.
    private var orientationFixed = false
    /// The sides that sent a FIN, as bits `1 << side.rawValue`.
    private var finSides: UInt8 = 0

    /// An open flow initiated by `a`: a slot's placeholder until its first packet.
    init() {}

    /// A flow whose first packet is `event`, sent by `side`.
    @inline(__always)
    init(firstPacket event: PacketEvent, from side: FlowSide) {
        initiator = Self.initiator(firstPacket: event, from: side)
        orientationFixed = event.transport == IPProtocolNumber.tcp && event.tcpFlags.contains(.syn)
    }

    @inline(__always)
    var isOpen: Bool {
        if case .open = state { true } else { false }
    }

    /// The reason a closing connection gives (`fin` or `rst`); nil unless closing.
    var closeReason: EndReason? {
        if case .closing(let reason) = state { reason } else { nil }
    }

    /// What `event` does to this flow.
    @inline(__always)
    func arrival(of event: PacketEvent) -> Arrival {
        switch state {
        case .open: .count
        case .closing: Self.opensConnection(event) ? .finishThenRestart : .count
        case .closed:
            if Self.opensConnection(event) {
                .restart
            } else if event.payloadLength > 0 || event.tcpFlags.contains(.rst) {
                .reopen
            } else {
                .absorb
            }
        }
    }

    /// Takes in a counted packet: a SYN without ACK may set the initiator; an RST, or the second
    /// side's FIN, closes an open TCP connection. True when this packet closed it.
    @inline(__always)
    mutating func record(_ event: PacketEvent, from side: FlowSide, firstFrameOut: Bool) -> Bool {
        guard event.transport == IPProtocolNumber.tcp else { return false }
        let flags = event.tcpFlags
        if !orientationFixed, !firstFrameOut, flags.contains(.syn), !flags.contains(.ack) {
            initiator = side
            orientationFixed = true
        }
        guard case .open = state else { return false }
        if flags.contains(.rst) {
            state = .closing(.rst)
            return true
        }
        if flags.contains(.fin) {
            finSides |= 1 << side.rawValue
            if finSides == 0b11 {
                state = .closing(.fin)
                return true
            }
        }
        return false
    }

    /// The reason of the frame the flow emits at `ending`; nil when it emits none. Only open flows
    /// have periods, so `activeTimeout` comes only to them.
    func endReason(_ ending: Ending, hasPackets: Bool) -> EndReason? {
        switch state {
        case .open:
            guard hasPackets else { return nil }
            switch ending {
            case .activeTimeout: return .active
            case .idleTimeout: return .idle
            case .evicted: return .evicted
            case .shutdown: return .shutdown
            }
        case .closing(let reason): return reason
        case .closed: return nil
        }
    }

    /// The connection's frame is out: a tombstone, keeping its close reason. (A slot the table
    /// releases becomes one too, whatever it was: nothing reads it until it is reused.)
    mutating func becomeTombstone() {
        state = .closed(closeReason ?? .fin)
    }

    /// A tombstone takes a late packet (`Arrival.reopen`): a late period with the same initiator,
    /// closing from the start, by `rst` when `event` has an RST, `fin` when it has a FIN, else by
    /// the reason the connection closed with.
    mutating func reopen(by event: PacketEvent) {
        guard case .closed(let earlier) = state else { return }
        let flags = event.tcpFlags
        state = .closing(flags.contains(.rst) ? .rst : flags.contains(.fin) ? .fin : earlier)
        orientationFixed = true
    }

    /// Who initiated, judged from the first packet alone.
    @inline(__always)
    private static func initiator(firstPacket event: PacketEvent, from side: FlowSide) -> FlowSide {
        guard event.transport == IPProtocolNumber.tcp else { return side }
        if event.tcpFlags.contains(.syn) {
            return event.tcpFlags.contains(.ack) ? side.other : side
        }
        if event.sourcePort < 1024, event.destinationPort >= 1024 { return side.other }
        return side
    }

    /// A TCP SYN without ACK: the first packet of a connection.
    @inline(__always)
    private static func opensConnection(_ event: PacketEvent) -> Bool {
        event.transport == IPProtocolNumber.tcp && event.tcpFlags.contains(.syn)
            && !event.tcpFlags.contains(.ack)
    }
}
