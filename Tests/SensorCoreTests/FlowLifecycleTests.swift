import Testing

@testable import SensorCore

/// The per-flow state machine on its own, without a `FlowTable`.
@Suite("Flow lifecycle")
struct FlowLifecycleTests {
    static let tcp = IPProtocolNumber.tcp
    static let udp = IPProtocolNumber.udp

    static func packet(
        sport: UInt16 = 40000, dport: UInt16 = 80, transport: UInt8 = tcp, length: UInt32 = 0,
        flags: TCPFlags = []
    ) -> PacketEvent {
        Script.event(at: 0, sport: sport, dport: dport, transport: transport, flags: flags, length: length)
    }

    /// An open TCP flow first seen as a mid-connection ACK from `a`.
    static func openConnection() -> FlowLifecycle {
        FlowLifecycle(firstPacket: packet(flags: .ack), from: .a)
    }

    @Test("the first packet decides the initiator: SYN sender, SYN+ACK receiver, first sender")
    func initiatorFromFirstPacket() {
        #expect(FlowLifecycle(firstPacket: Self.packet(flags: .syn), from: .b).initiator == .b)
        #expect(FlowLifecycle(firstPacket: Self.packet(flags: [.syn, .ack]), from: .b).initiator == .a)
        #expect(FlowLifecycle(firstPacket: Self.packet(transport: Self.udp), from: .b).initiator == .b)
        #expect(FlowLifecycle(firstPacket: Self.packet(flags: .ack), from: .a).initiator == .a)
    }

    @Test("mid-connection TCP from a port below 1024 to one at or above: the receiver initiated")
    func portHeuristic() {
        let fromServer = Self.packet(sport: 443, dport: 51000, flags: .ack)
        #expect(FlowLifecycle(firstPacket: fromServer, from: .a).initiator == .b)
        let highToHigh = Self.packet(sport: 5000, dport: 6000, flags: .ack)
        #expect(FlowLifecycle(firstPacket: highToHigh, from: .a).initiator == .a)
        let udpFromServer = Self.packet(sport: 53, dport: 5353, transport: Self.udp)
        #expect(FlowLifecycle(firstPacket: udpFromServer, from: .a).initiator == .a)
    }

    @Test("a later SYN sets the initiator, unless a SYN already did or the first frame is out")
    func lateSyn() {
        var flow = Self.openConnection()
        let closedBySyn = flow.record(Self.packet(flags: .syn), from: .b, firstFrameOut: false)
        #expect(!closedBySyn)
        #expect(flow.initiator == .b)
        _ = flow.record(Self.packet(flags: .syn), from: .a, firstFrameOut: false)
        #expect(flow.initiator == .b, "the first SYN fixed it")

        var late = Self.openConnection()
        _ = late.record(Self.packet(flags: .syn), from: .b, firstFrameOut: true)
        #expect(late.initiator == .a)

        var synAck = Self.openConnection()
        _ = synAck.record(Self.packet(flags: [.syn, .ack]), from: .b, firstFrameOut: false)
        #expect(synAck.initiator == .a, "only a SYN without ACK")

        var opened = FlowLifecycle(firstPacket: Self.packet(flags: [.syn, .ack]), from: .b)
        _ = opened.record(Self.packet(flags: .syn), from: .b, firstFrameOut: false)
        #expect(opened.initiator == .a, "a SYN+ACK first packet fixed it")
    }

    @Test("RST closes an open connection at once")
    func rst() {
        var flow = Self.openConnection()
        let closedByRst = flow.record(Self.packet(flags: [.rst, .ack]), from: .b, firstFrameOut: false)
        #expect(closedByRst)
        #expect(flow.state == .closing(.rst))
        #expect(flow.closeReason == .rst)
        let closedAgain = flow.record(Self.packet(flags: .fin), from: .a, firstFrameOut: false)
        #expect(!closedAgain)
        #expect(flow.state == .closing(.rst), "a closing connection stays closed as it was")
    }

    @Test("FIN closes once both sides sent one")
    func fin() {
        var flow = Self.openConnection()
        let closedByFirstFin = flow.record(Self.packet(flags: [.fin, .ack]), from: .a, firstFrameOut: false)
        #expect(!closedByFirstFin)
        let closedByRepeat = flow.record(Self.packet(flags: [.fin, .ack]), from: .a, firstFrameOut: false)
        #expect(!closedByRepeat)
        #expect(flow.isOpen)
        let closedBySecondSide = flow.record(Self.packet(flags: [.fin, .ack]), from: .b, firstFrameOut: false)
        #expect(closedBySecondSide)
        #expect(flow.state == .closing(.fin))
        #expect(!flow.isOpen)
    }

    @Test("no other protocol closes")
    func udpNeverCloses() {
        var flow = FlowLifecycle(firstPacket: Self.packet(transport: Self.udp), from: .a)
        let odd = Self.packet(transport: Self.udp, flags: [.rst, .fin])
        let closedByA = flow.record(odd, from: .a, firstFrameOut: false)
        let closedByB = flow.record(odd, from: .b, firstFrameOut: false)
        #expect(!closedByA && !closedByB)
        #expect(flow.isOpen && flow.closeReason == nil)
    }

    @Test("a packet on a held key: counted, absorbed, a late period, or a new flow when it is a SYN")
    func arrival() {
        let syn = Self.packet(flags: .syn)
        let others = [Self.packet(flags: [.syn, .ack]), Self.packet(flags: .ack), Self.packet(transport: Self.udp)]
        let bareFin = Self.packet(flags: [.fin, .ack])
        let late = [
            Self.packet(length: 113, flags: [.fin, .psh, .ack]), Self.packet(flags: .rst),
            Self.packet(flags: [.rst, .ack]), Self.packet(length: 1, flags: .ack),
        ]

        let open = Self.openConnection()
        for event in [syn] + others { #expect(open.arrival(of: event) == .count) }

        var closing = Self.openConnection()
        _ = closing.record(Self.packet(flags: .rst), from: .a, firstFrameOut: false)
        #expect(closing.arrival(of: syn) == .finishThenRestart)
        for event in others { #expect(closing.arrival(of: event) == .count) }

        for event in late + [bareFin] { #expect(closing.arrival(of: event) == .count) }

        var closed = closing
        closed.becomeTombstone()
        #expect(closed.state == .closed(.rst))
        #expect(closed.arrival(of: syn) == .restart)
        for event in others + [bareFin] { #expect(closed.arrival(of: event) == .absorb, "\(event.tcpFlags)") }
        for event in late { #expect(closed.arrival(of: event) == .reopen, "\(event.tcpFlags)") }
    }

    @Test("a late period: same initiator, closing at once by its packet's RST or FIN, else as before")
    func latePeriod() {
        func tombstone(closedBy reason: EndReason) -> FlowLifecycle {
            var flow = FlowLifecycle(firstPacket: Self.packet(flags: .syn), from: .b)
            if reason == .rst {
                _ = flow.record(Self.packet(flags: .rst), from: .a, firstFrameOut: false)
            } else {
                _ = flow.record(Self.packet(flags: .fin), from: .a, firstFrameOut: false)
                _ = flow.record(Self.packet(flags: .fin), from: .b, firstFrameOut: false)
            }
            flow.becomeTombstone()
            return flow
        }
        let cases: [(EndReason, PacketEvent, EndReason)] = [
            (.fin, Self.packet(length: 113, flags: [.fin, .psh, .ack]), .fin),
            (.fin, Self.packet(flags: [.rst, .ack]), .rst),
            (.fin, Self.packet(length: 10, flags: .ack), .fin),
            (.rst, Self.packet(length: 10, flags: .ack), .rst),
            (.rst, Self.packet(length: 10, flags: [.fin, .ack]), .fin),
            (.rst, Self.packet(flags: .rst), .rst),
        ]
        for (earlier, event, expected) in cases {
            var flow = tombstone(closedBy: earlier)
            #expect(flow.state == .closed(earlier))
            #expect(flow.arrival(of: event) == .reopen)
            flow.reopen(by: event)
            #expect(flow.state == .closing(expected), "closed by \(earlier), then \(event.tcpFlags)")
            #expect(flow.initiator == .b, "the orientation of the closed connection")
            // Its packets count in it; a SYN finishes it and starts a new connection.
            #expect(flow.arrival(of: Self.packet(flags: .ack)) == .count)
            #expect(flow.arrival(of: Self.packet(flags: .syn)) == .finishThenRestart)
            #expect(flow.endReason(.shutdown, hasPackets: true) == expected)
            flow.becomeTombstone()
            #expect(flow.state == .closed(expected))
        }
    }

    @Test("why a frame ends: the ending for an open flow with packets, its own close for a closing one")
    func endReasons() {
        let open = Self.openConnection()
        #expect(open.endReason(.activeTimeout, hasPackets: true) == .active)
        #expect(open.endReason(.idleTimeout, hasPackets: true) == .idle)
        #expect(open.endReason(.evicted, hasPackets: true) == .evicted)
        #expect(open.endReason(.shutdown, hasPackets: true) == .shutdown)
        for ending in [FlowLifecycle.Ending.activeTimeout, .idleTimeout, .evicted, .shutdown] {
            #expect(open.endReason(ending, hasPackets: false) == nil, "an empty period emits nothing")
        }

        var closing = Self.openConnection()
        _ = closing.record(Self.packet(flags: .fin), from: .a, firstFrameOut: false)
        _ = closing.record(Self.packet(flags: .fin), from: .b, firstFrameOut: false)
        for ending in [FlowLifecycle.Ending.idleTimeout, .evicted, .shutdown] {
            #expect(closing.endReason(ending, hasPackets: true) == .fin)
        }

        var closed = closing
        closed.becomeTombstone()
        #expect(closed.closeReason == nil)
        for ending in [FlowLifecycle.Ending.idleTimeout, .evicted, .shutdown] {
            #expect(closed.endReason(ending, hasPackets: false) == nil)
        }
    }

    @Test("the state machine is 4 bytes of each entry")
    func size() {
        #expect(MemoryLayout<FlowLifecycle>.size == 4)
        #expect(MemoryLayout<FlowSide>.size == 1)
    }
}
