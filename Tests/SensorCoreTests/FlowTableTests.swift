import TestSupport
import Testing

@testable import SensorCore

private typealias B = PacketBuilder

/// A tiny scripted network: builds events between two hosts with an injected clock.
struct Script {
    static let client = IPAddress(ipv4: 198, 51, 100, 2)
    static let server = IPAddress(ipv4: 198, 51, 100, 1)
    static let second: Int64 = 1_000_000_000
    static let start: Int64 = 1_700_000_000 * second

    var frames: [FlowFrame] = []

    static func event(
        at seconds: Double, from: IPAddress = client, to: IPAddress = server, sport: UInt16 = 40000,
        dport: UInt16 = 80, transport: UInt8 = IPProtocolNumber.tcp, flags: TCPFlags = [],
        length: UInt32 = 0
    ) -> PacketEvent {
        PacketEvent(
            timestamp: start + Int64(seconds * 1e9), interface: 3, source: from, destination: to,
            sourcePort: sport, destinationPort: dport, transport: transport, tcpFlags: flags,
            payloadLength: length)
    }
}

final class Recorder {
    var frames: [FlowFrame] = []
}

func makeTable(_ configuration: FlowTableConfiguration = .testing()) -> (FlowTable, Recorder) {
    let recorder = Recorder()
    let table = FlowTable(configuration: configuration, interfaceName: { "if\($0)" }) {
        recorder.frames.append($0)
    }
    return (table, recorder)
}

extension FlowTable {
    func ingest(_ event: PacketEvent, payload: [UInt8] = []) {
        payload.withUnsafeBytes { ingest(event, snapshot: $0) }
    }
}

/// Client 198.51.100.2:40000 talks to server 198.51.100.1:80; request 18 bytes, response 512.
func tcpExchange(_ table: FlowTable, at t: Double = 0, sport: UInt16 = 40000) {
    let c = Script.client, s = Script.server
    table.ingest(Script.event(at: t, sport: sport, flags: .syn))
    table.ingest(Script.event(at: t + 0.001, from: s, to: c, sport: 80, dport: sport, flags: [.syn, .ack]))
    table.ingest(Script.event(at: t + 0.002, sport: sport, flags: .ack))
    table.ingest(
        Script.event(at: t + 0.003, sport: sport, flags: [.psh, .ack], length: 18),
        payload: Array("GET / HTTP/1.0\r\n\r\n".utf8))
    table.ingest(
        Script.event(at: t + 0.004, from: s, to: c, sport: 80, dport: sport, flags: [.psh, .ack], length: 512),
        payload: Array(repeating: 0x78, count: 128))
    table.ingest(Script.event(at: t + 0.005, from: s, to: c, sport: 80, dport: sport, flags: [.fin, .ack]))
    table.ingest(Script.event(at: t + 0.006, sport: sport, flags: [.fin, .ack]))
    table.ingest(Script.event(at: t + 0.007, from: s, to: c, sport: 80, dport: sport, flags: .ack))
}

/// A UDP request of 10 bytes from the client and its 20-byte reply, each changed by `request` and
/// `reply` (a VLAN, a tunnel) before it goes in.
private func udpExchange(
    _ table: FlowTable, request: (inout PacketEvent) -> Void, reply: (inout PacketEvent) -> Void
) {
    var first = Script.event(at: 0, transport: IPProtocolNumber.udp, length: 10)
    request(&first)
    var second = Script.event(
        at: 0.001, from: Script.server, to: Script.client, sport: 80, dport: 40000,
        transport: IPProtocolNumber.udp, length: 20)
    reply(&second)
    table.ingest(first)
    table.ingest(second)
}

@Suite("Flow table")
struct FlowTableTests {
    @Test("the same addresses and ports on two VLANs are two flows, each frame naming its VLAN")
    func vlansSplitFlows() {
        let (table, recorder) = makeTable()
        for vlan: UInt16 in [10, 20, 10] {
            udpExchange(table, request: { $0.vlan = vlan }, reply: { $0.vlan = vlan })
        }
        table.drain()
        let frames = recorder.frames.sorted { $0.vlan < $1.vlan }
        #expect(frames.map(\.vlan) == [10, 20])
        #expect(frames.map(\.packetsIn) == [2, 1] && frames.map(\.packetsOut) == [2, 1])
        #expect(FrameEncoder(extended: true).string(frames[0]).hasSuffix(#","interface":"if3","vlan":10}"#))
    }

    @Test("VXLAN/Geneve VNIs split flows as VLANs do; a GTP-U TEID does not; frames carry the first packet's tunnel")
    func tunnelsInTheKeyAndTheFrame() {
        let (table, recorder) = makeTable()
        let vtepA = IPAddress("198.51.100.1")!, vtepB = IPAddress("198.51.100.2")!
        func send(_ tunnel: Tunnel?, reverse: Tunnel?) {
            udpExchange(table, request: { $0.tunnel = tunnel }, reply: { $0.tunnel = reverse })
        }
        func vxlan(_ vni: UInt32, _ from: IPAddress, _ to: IPAddress) -> Tunnel {
            Tunnel(kind: .vxlan, outerSource: from, outerDestination: to, id: vni)
        }
        send(vxlan(42, vtepA, vtepB), reverse: vxlan(42, vtepB, vtepA))
        send(vxlan(43, vtepA, vtepB), reverse: vxlan(43, vtepB, vtepA))
        table.drain()
        // GTP-U: the TEID differs by direction, the flow is one.
        send(
            Tunnel(kind: .gtpu, outerSource: vtepA, outerDestination: vtepB, id: 1),
            reverse: Tunnel(kind: .gtpu, outerSource: vtepB, outerDestination: vtepA, id: 2))
        table.drain()
        let frames = recorder.frames
        #expect(frames.count == 3)
        #expect(frames.map { $0.packetsIn + $0.packetsOut } == [2, 2, 2])
        #expect(Set(frames.prefix(2).map { $0.tunnel?.id }) == [42, 43])
        #expect(frames.prefix(2).allSatisfy { $0.tunnel?.outerSource == vtepA && $0.tunnel?.outerDestination == vtepB })
        #expect(frames.last?.tunnel?.kind == .gtpu && frames.last?.tunnel?.id == 1)
        let line = FrameEncoder(extended: true).string(frames[0])
        #expect(line.hasSuffix(#","vlan":0,"tunnel":"vxlan","tunnel_src":"198.51.100.1","tunnel_dst":"198.51.100.2","tunnel_id":\#(frames[0].tunnel!.id!)}"#), "\(line)")
        #expect(!FrameEncoder(extended: false).string(frames[0]).contains("tunnel"))
    }

    @Test("a TCP exchange closed by FIN from both sides is one oriented frame")
    func tcpFinClose() throws {
        let (table, out) = makeTable()
        tcpExchange(table)
        #expect(out.frames.isEmpty, "the frame waits for the close linger")
        table.advance(to: Script.start + Int64(0.6 * 1e9))
        let frame = try #require(out.frames.first)
        #expect(out.frames.count == 1)
        #expect(frame.source == Script.client && frame.destination == Script.server)
        #expect(frame.sourcePort == 40000 && frame.destinationPort == 80)
        #expect(frame.transport == .tcp)
        #expect(frame.bytesIn == 18 && frame.bytesOut == 512)
        #expect(frame.packetsIn == 4 && frame.packetsOut == 4, "the final ACK is in the frame")
        #expect(frame.payload == Array("GET / HTTP/1.0\r\n\r\n".utf8))
        #expect(frame.duration == 0.007)
        #expect(frame.endReason == .fin)
        #expect(frame.tcpFlags == [.syn, .ack, .fin, .psh])
        #expect(frame.interface == "if3")
        #expect(frame.firstSeen == Script.start / 1000)
        #expect(table.stats.frames(.fin) == 1)
    }

    @Test("the close is emitted within one second, and trailing packets make no new flow")
    func trailingPacketsAfterClose() {
        let (table, out) = makeTable()
        tcpExchange(table)
        table.advance(to: Script.start + Script.second)
        #expect(out.frames.count == 1)
        // A retransmitted FIN and an ACK after the frame went out.
        table.ingest(Script.event(at: 1.2, from: Script.server, to: Script.client, sport: 80, dport: 40000, flags: [.fin, .ack]))
        table.ingest(Script.event(at: 1.3, flags: .ack))
        table.advance(to: Script.start + 30 * Script.second)
        table.drain()
        #expect(out.frames.count == 1)
        #expect(table.stats.trailingPackets == 2)
        #expect(table.count == 0)
    }

    @Test("data and RSTs after the close are late frames of the same flow; pure ACKs stay trailing")
    func latePacketsAfterClose() throws {
        let (table, out) = makeTable()
        let c = Script.client, s = Script.server
        // Both ports high: a flow first seen from the server would be the server's.
        func client(_ t: Double, _ flags: TCPFlags, _ length: UInt32 = 0) -> PacketEvent {
            Script.event(at: t, sport: 6000, dport: 5000, flags: flags, length: length)
        }
        func server(_ t: Double, _ flags: TCPFlags, _ length: UInt32 = 0) -> PacketEvent {
            Script.event(at: t, from: s, to: c, sport: 5000, dport: 6000, flags: flags, length: length)
        }
        table.ingest(client(0, .syn))
        table.ingest(server(0.001, [.syn, .ack]))
        table.ingest(client(0.002, [.psh, .ack], 10), payload: B.bytes(10))
        table.ingest(client(0.003, [.fin, .ack]))
        table.ingest(server(0.004, [.fin, .ack]))  // closed
        table.ingest(client(0.005, .ack))
        table.advance(to: Script.start + Int64(0.6 * 1e9))
        #expect(out.frames.map(\.endReason) == [.fin])
        // 0.66 s after the close, a FIN carrying 113 bytes from the server, and its ACK.
        table.ingest(server(0.664, [.fin, .psh, .ack], 113), payload: B.bytes(113))
        table.ingest(client(0.665, .ack))
        table.advance(to: Script.start + Int64(1.2 * 1e9))
        #expect(out.frames.count == 2, "the late period lingers like a close, then goes out")
        table.ingest(client(1.3, .ack))  // trailing
        // 1.1 s after that close, two RSTs from the server.
        table.ingest(server(2.264, .rst))
        table.ingest(server(2.3, [.rst, .ack]))
        table.advance(to: Script.start + 3 * Script.second)
        table.ingest(client(3.5, [.fin, .ack]))  // a bare FIN: trailing
        table.drain()

        #expect(out.frames.map(\.endReason) == [.fin, .fin, .rst])
        #expect(out.frames.map(\.frameIndex) == [0, 1, 2])
        #expect(Set(out.frames.map(\.flowID)).count == 1)
        for frame in out.frames {
            #expect(frame.source == c && frame.sourcePort == 6000 && frame.destinationPort == 5000)
        }
        let fin = out.frames[1]
        #expect(fin.bytesIn == 0 && fin.bytesOut == 113)
        #expect(fin.packetsIn == 1 && fin.packetsOut == 1)
        #expect(fin.payload == nil, "only a flow's first frame carries a payload")
        #expect(fin.tcpFlags == [.fin, .psh, .ack])
        #expect(fin.firstSeen == (Script.start + Int64(0.664 * 1e9)) / 1000)
        #expect(fin.duration == 0.001)
        let rst = out.frames[2]
        #expect(rst.packetsIn == 0 && rst.packetsOut == 2 && rst.bytesOut == 0)
        #expect(rst.tcpFlags == [.rst, .ack])
        #expect(table.stats.trailingPackets == 2)
        #expect(out.frames.map { $0.bytesIn + $0.bytesOut }.reduce(0, +) == 10 + 113)
        #expect(out.frames.map { $0.packetsIn + $0.packetsOut }.reduce(0, +) + 2 == 12, "12 packets")
        #expect(table.stats.flowsCreated == 1)
    }

    @Test("a late period is closing from its first packet: a new SYN on the tuple ends it at once")
    func latePeriodThenReuse() {
        let (table, out) = makeTable()
        table.ingest(Script.event(at: 0, flags: .syn))
        table.ingest(
            Script.event(at: 0.001, from: Script.server, to: Script.client, sport: 80, dport: 40000, flags: .rst))
        table.advance(to: Script.start + Script.second)
        // Data the client sent before it saw the RST, then a new connection on the same tuple.
        table.ingest(Script.event(at: 1.1, flags: [.psh, .ack], length: 5), payload: B.bytes(5))
        tcpExchange(table, at: 1.2)
        table.advance(to: Script.start + 2 * Script.second)
        #expect(out.frames.map(\.endReason) == [.rst, .rst, .fin])
        #expect(out.frames.map(\.frameIndex) == [0, 1, 0])
        #expect(out.frames[1].flowID == out.frames[0].flowID && out.frames[2].flowID != out.frames[0].flowID)
        #expect(out.frames[1].bytesIn == 5 && out.frames[1].packetsIn == 1 && out.frames[1].payload == nil)
        #expect(out.frames[2].bytesIn == 18 && out.frames[2].payload == Array("GET / HTTP/1.0\r\n\r\n".utf8))
        #expect(table.stats.trailingPackets == 0)
    }

    @Test("a new SYN on the tuple of a closed connection starts a new flow")
    func reuseAfterClose() {
        let (table, out) = makeTable()
        tcpExchange(table)
        table.advance(to: Script.start + Script.second)
        tcpExchange(table, at: 2)
        table.advance(to: Script.start + 3 * Script.second)
        #expect(out.frames.count == 2)
        #expect(out.frames.map(\.endReason) == [.fin, .fin])
        #expect(out.frames[0].flowID != out.frames[1].flowID)
        #expect(out.frames[1].bytesIn == 18)
    }

    @Test("RST ends a flow")
    func reset() {
        let (table, out) = makeTable()
        table.ingest(Script.event(at: 0, flags: .syn))
        table.ingest(Script.event(at: 0.001, from: Script.server, to: Script.client, sport: 80, dport: 40000, flags: [.rst, .ack]))
        table.advance(to: Script.start + Script.second)
        #expect(out.frames.count == 1)
        #expect(out.frames.first?.endReason == .rst)
        #expect(out.frames.first?.source == Script.client)
        #expect(out.frames.first?.packetsOut == 1)
    }

    @Test("the SYN sender is the initiator even when the SYN+ACK is seen first")
    func synAckFirst() {
        let (table, out) = makeTable()
        table.ingest(Script.event(at: 0, from: Script.server, to: Script.client, sport: 80, dport: 40000, flags: [.syn, .ack]))
        table.ingest(Script.event(at: 0.001, flags: .ack, length: 5), payload: Array("hello".utf8))
        table.drain()
        #expect(out.frames.first?.source == Script.client)
        #expect(out.frames.first?.bytesIn == 5)
    }

    @Test("a late SYN fixes the orientation of a flow first seen from the other side")
    func lateSyn() {
        let (table, out) = makeTable()
        // Sensor saw the server's packet first (reordered), then the client's SYN.
        table.ingest(Script.event(at: 0, from: Script.server, to: Script.client, sport: 5000, dport: 6000, flags: .ack, length: 3), payload: [1, 2, 3])
        table.ingest(Script.event(at: 0.001, sport: 6000, dport: 5000, flags: .syn))
        table.drain()
        #expect(out.frames.first?.source == Script.client)
        #expect(out.frames.first?.sourcePort == 6000)
        #expect(out.frames.first?.bytesOut == 3)
        #expect(out.frames.first?.payload == [1, 2, 3], "the responder's payload when the initiator sent none")
    }

    @Test("mid-connection TCP from a low port to a high port: the receiver initiated")
    func midConnectionPortHeuristic() {
        let (table, out) = makeTable()
        table.ingest(Script.event(at: 0, from: Script.server, to: Script.client, sport: 443, dport: 51000, flags: .ack, length: 100))
        table.ingest(Script.event(at: 0.01, sport: 51000, dport: 443, flags: .ack, length: 10))
        table.drain()
        let frame = out.frames.first
        #expect(frame?.source == Script.client && frame?.sourcePort == 51000 && frame?.destinationPort == 443)
        #expect(frame?.bytesIn == 10 && frame?.bytesOut == 100)
        #expect(frame?.endReason == .shutdown)
    }

    @Test("UDP: the first sender initiates; payload is the initiator's first non-empty one")
    func udpPayloadChoice() {
        let (table, out) = makeTable()
        let u = IPProtocolNumber.udp
        table.ingest(Script.event(at: 0, sport: 5353, dport: 53, transport: u, length: 0))
        table.ingest(Script.event(at: 0.1, from: Script.server, to: Script.client, sport: 53, dport: 5353, transport: u, length: 40), payload: Array(repeating: 9, count: 40))
        table.ingest(Script.event(at: 0.2, sport: 5353, dport: 53, transport: u, length: 30), payload: Array(repeating: 7, count: 30))
        table.ingest(Script.event(at: 0.3, sport: 5353, dport: 53, transport: u, length: 20), payload: Array(repeating: 5, count: 20))
        table.drain()
        #expect(out.frames.first?.payload == Array(repeating: 7, count: 30))
        #expect(out.frames.first?.bytesIn == 50 && out.frames.first?.bytesOut == 40)
        #expect(out.frames.first?.transport == .udp)
    }

    @Test("no payload at all gives nil; non-TCP/UDP is OTHER")
    func noPayload() {
        let (table, out) = makeTable()
        table.ingest(Script.event(at: 0, sport: 0, dport: 0, transport: 1, length: 0))
        table.drain()
        #expect(out.frames.first?.payload == nil)
        #expect(out.frames.first?.transport == .other)
    }

    @Test("idle flows end after the idle timeout, not before")
    func idleTimeout() {
        let (table, out) = makeTable(FlowTableConfiguration.testing(idleTimeout: 10 * Script.second))
        table.ingest(Script.event(at: 0, transport: IPProtocolNumber.udp, length: 10))
        table.ingest(Script.event(at: 5, transport: IPProtocolNumber.udp, length: 10))
        table.advance(to: Script.start + 14 * Script.second)
        #expect(out.frames.isEmpty)
        table.advance(to: Script.start + 15 * Script.second)
        #expect(out.frames.count == 1)
        #expect(out.frames.first?.endReason == .idle)
        #expect(out.frames.first?.duration == 5)
        #expect(table.count == 0)
    }

    @Test("active timeout: a frame per period, payload only in the first, counting goes on")
    func activeTimeout() {
        let (table, out) = makeTable(FlowTableConfiguration.testing(idleTimeout: 10 * Script.second, activeTimeout: 60 * Script.second))
        for second in stride(from: 0.0, through: 150, by: 1) {
            table.ingest(Script.event(at: second, transport: IPProtocolNumber.udp, length: 100), payload: [1, 2, 3])
        }
        table.advance(to: Script.start + 200 * Script.second)
        #expect(out.frames.map(\.endReason) == [.active, .active, .idle])
        #expect(out.frames.map(\.frameIndex) == [0, 1, 2])
        #expect(Set(out.frames.map(\.flowID)).count == 1)
        #expect(out.frames.map(\.packetsIn) == [60, 60, 31])
        #expect(out.frames.map(\.bytesIn).reduce(0, +) == 151 * 100)
        #expect(out.frames[0].payload == [1, 2, 3])
        #expect(out.frames[1].payload == nil && out.frames[2].payload == nil)
        #expect(out.frames[1].firstSeen == (Script.start + 60 * Script.second) / 1000)
    }

    @Test("a tiny or zero active timeout over a long quiet stretch: exact frames, no step per period")
    func tinyActiveTimeout() {
        for active: Int64 in [0, 1] {
            let (table, out) = makeTable(FlowTableConfiguration.testing(idleTimeout: 10 * Script.second, activeTimeout: active))
            #expect(table.configuration.activeTimeout == 1)
            table.ingest(Script.event(at: 0, transport: IPProtocolNumber.udp, length: 10))
            table.ingest(Script.event(at: 5, transport: IPProtocolNumber.udp, length: 20))
            table.advance(to: Script.start + 1_000_000 * Script.second)
            #expect(out.frames.map(\.endReason) == [.active, .active])
            #expect(out.frames.map(\.bytesIn) == [10, 20])
            #expect(table.count == 0)
        }
    }

    @Test("flows back from empty periods expire in time order, periods aligned to their first packet")
    func resumedPeriodsInOrder() {
        let ms = Script.second / 1000
        let (table, out) = makeTable(FlowTableConfiguration.testing(idleTimeout: 10 * ms, activeTimeout: ms))
        let a: UInt16 = 1000, b: UInt16 = 2000
        table.ingest(Script.event(at: 0, sport: a, transport: IPProtocolNumber.udp, length: 1))
        table.ingest(Script.event(at: 0.0004, sport: b, transport: IPProtocolNumber.udp, length: 2))
        // b comes back first but its period (from 5.4 ms) starts after a's (from 5.0 ms).
        table.ingest(Script.event(at: 0.0055, sport: b, transport: IPProtocolNumber.udp, length: 3))
        table.ingest(Script.event(at: 0.0056, sport: a, transport: IPProtocolNumber.udp, length: 4))
        table.advance(to: Script.start + 30 * ms)
        #expect(out.frames.map(\.bytesIn) == [1, 2, 4, 3])
        #expect(out.frames.map(\.endReason) == [.active, .active, .active, .active])
        #expect(table.count == 0)
    }

    @Test("a full table emits the longest-idle flow early as evicted")
    func eviction() {
        let (table, out) = makeTable(FlowTableConfiguration.testing(maxFlows: 3))
        for port in UInt16(1)...3 {
            table.ingest(Script.event(at: Double(port), sport: port, transport: IPProtocolNumber.udp, length: 1))
        }
        table.ingest(Script.event(at: 4, sport: 1, transport: IPProtocolNumber.udp, length: 1))  // 1 is fresh again
        table.ingest(Script.event(at: 5, sport: 9, transport: IPProtocolNumber.udp, length: 1))
        #expect(table.count == 3)
        #expect(out.frames.count == 1)
        #expect(out.frames.first?.sourcePort == 2)
        #expect(out.frames.first?.endReason == .evicted)
        table.drain()
        #expect(out.frames.count == 4)
        #expect(table.stats.frames(.shutdown) == 3)
    }

    @Test("a closed connection pushed out of a full table keeps its close reason")
    func evictClosing() {
        let (table, out) = makeTable(FlowTableConfiguration.testing(maxFlows: 1))
        tcpExchange(table)  // closing, waiting for its linger
        table.ingest(Script.event(at: 0.01, sport: 9, transport: IPProtocolNumber.udp, length: 1))
        #expect(out.frames.map(\.endReason) == [.fin])
        #expect(out.frames.first?.bytesIn == 18)
    }

    @Test("flows on different interfaces are distinct")
    func interfaceInKey() {
        let (table, out) = makeTable()
        var a = Script.event(at: 0, transport: IPProtocolNumber.udp, length: 1)
        var b = a
        a.interface = 1
        b.interface = 2
        var c = a
        c.interface = .max  // any index, the largest too, gets its own name
        table.ingest(a)
        table.ingest(b)
        table.ingest(c)
        table.drain()
        #expect(out.frames.count == 3)
        #expect(Set(out.frames.map(\.interface)) == ["if1", "if2", "if4294967295"])
    }

    @Test("time never runs backwards: an older event counts at the newest time seen")
    func monotonicClock() {
        let (table, out) = makeTable()
        table.ingest(Script.event(at: 1, transport: IPProtocolNumber.udp, length: 1))
        table.ingest(Script.event(at: 0.5, transport: IPProtocolNumber.udp, length: 1))
        table.drain()
        #expect(out.frames.first?.duration == 0)
        #expect(out.frames.first?.packetsIn == 2)
    }

    @Test("shutdown emits closing connections with their own reason")
    func drainClosing() {
        let (table, out) = makeTable()
        tcpExchange(table)
        table.ingest(Script.event(at: 0.01, sport: 41000, transport: IPProtocolNumber.udp, length: 3))
        table.drain()
        #expect(out.frames.map(\.endReason).sorted { $0.rawValue < $1.rawValue } == [.fin, .shutdown])
        #expect(table.count == 0)
    }

    @Test("IPv6 flows are keyed and printed as IPv6")
    func ipv6() throws {
        let (table, out) = makeTable()
        let a = try #require(IPAddress("2001:db8::2"))
        let b = try #require(IPAddress("2001:db8::1"))
        table.ingest(Script.event(at: 0, from: a, to: b, flags: .syn))
        table.ingest(Script.event(at: 0.001, from: b, to: a, sport: 80, dport: 40000, flags: [.syn, .ack]))
        table.drain()
        #expect(out.frames.count == 1)
        #expect(out.frames.first?.source.description == "2001:db8::2")
    }
}
