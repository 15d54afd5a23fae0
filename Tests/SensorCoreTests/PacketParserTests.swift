import TestSupport
import Testing

@testable import SensorCore

private typealias B = PacketBuilder

/// What the parser made of a frame, with the snapshot copied out.
private struct Parsed {
    var event: PacketEvent
    var snapshot: [UInt8]
    var flags: PacketParser.Flags
}

private func parse(
    _ frame: [UInt8], link: PacketParser.LinkType = .ethernet, originalLength: Int? = nil
) -> PacketParser.Result {
    frame.withUnsafeBytes {
        PacketParser.parse($0, originalLength: originalLength ?? frame.count, linkType: link, timestamp: 7)
    }
}

private func packet(
    _ frame: [UInt8], link: PacketParser.LinkType = .ethernet, originalLength: Int? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> Parsed {
    let result = parse(frame, link: link, originalLength: originalLength)
    guard case .packet(let event, let snapshot, let flags) = result else {
        Issue.record("expected a packet, got \(result)", sourceLocation: sourceLocation)
        throw ParseFailure()
    }
    return Parsed(event: event, snapshot: Array(frame[snapshot]), flags: flags)
}

private struct ParseFailure: Error {}

@Suite("PacketParser")
struct PacketParserTests {
    let payload = B.bytes(300, start: 0x41)

    @Test func ethernetIPv4TCP() throws {
        let l4 = B.tcp(40112, 80, flags: 0x18, payload: Array(payload[0..<37]))
        let p = try packet(B.ethernet(B.ipv4(protocol: 6, l4: l4)))
        #expect(p.event.source == IPAddress("198.51.100.1"))
        #expect(p.event.destination == IPAddress("203.0.113.2"))
        #expect(p.event.sourcePort == 40112)
        #expect(p.event.destinationPort == 80)
        #expect(p.event.transport == 6)
        #expect(p.event.tcpFlags == [.psh, .ack])
        #expect(p.event.payloadLength == 37)
        #expect(p.event.timestamp == 7)
        #expect(p.event.interface == 0)
        #expect(p.snapshot == Array(payload[0..<37]))
        #expect(p.flags == [])
    }

    @Test func tcpOptionsMoveThePayload() throws {
        let l4 = B.tcp(1, 2, flags: 0x02, options: [2, 4, 5, 0xb4, 1, 1, 4, 2], payload: [9, 8, 7])
        let p = try packet(B.ethernet(B.ipv4(protocol: 6, l4: l4)))
        #expect(p.event.tcpFlags == [.syn])
        #expect(p.event.payloadLength == 3)
        #expect(p.snapshot == [9, 8, 7])
    }

    @Test func tcpDataOffsetBelowFiveCountsAsTwentyBytes() throws {
        var l4 = B.tcp(1, 2, payload: [1, 2, 3, 4])
        l4[12] = 0x20  // data offset 2 words: invalid, the BPF program takes 20 bytes
        let p = try packet(B.ethernet(B.ipv4(protocol: 6, l4: l4)))
        #expect(p.event.payloadLength == 4)
        #expect(p.snapshot == [1, 2, 3, 4])
    }

    @Test func snapshotStopsAt128Bytes() throws {
        let p = try packet(B.ethernet(B.ipv4(protocol: 17, l4: B.udp(5000, 53, payload: payload))))
        #expect(p.event.payloadLength == 300)
        #expect(p.snapshot == Array(payload[0..<128]))
    }

    @Test func singleAndDoubleVLANTags() throws {
        let ip = B.ipv4(protocol: 17, l4: B.udp(1234, 53, payload: [1, 2]))
        let q = try packet(B.ethernet(vlans: [0x8100], ip))
        #expect(q.event.sourcePort == 1234 && q.event.payloadLength == 2 && q.snapshot == [1, 2])
        #expect(q.event.vlan == 100)
        let qinq = try packet(B.ethernet(vlans: [0x88A8, 0x8100], vlanIDs: [4001, 10], ip))
        var inner = qinq.event
        inner.vlan = q.event.vlan
        #expect(inner == q.event && qinq.event.vlan == 4001)  // the outermost tag's ID
        #expect(qinq.snapshot == [1, 2])
        #expect(try packet(B.ethernet(ip)).event.vlan == 0)
        // A third tag is more than the BPF program walks: the EtherType it ends on is a VLAN one.
        #expect(parse(B.ethernet(vlans: [0x88A8, 0x8100, 0x8100], ip)) == .notIP)
    }

    @Test func pppoeAndMPLSCarryIP() throws {
        let ip = B.ipv4(protocol: 17, l4: B.udp(1234, 53, payload: [1, 2]))
        let reference = try packet(B.ethernet(ip)).event
        func pppoe(_ ppp: Int) -> [UInt8] { [0x11, 0, 0x12, 0x34] + B.be16(ip.count + 2) + B.be16(ppp) }
        // PPPoE behind two VLAN tags, as in nDPI's dns capture.
        let inPPPoE = try packet(B.ethernet(type: 0x8864, vlans: [0x8100, 0x8100], vlanIDs: [7, 8], pppoe(0x21) + ip))
        var event = inPPPoE.event
        #expect(event.vlan == 7)
        event.vlan = 0
        #expect(event == reference)
        let v6 = B.ipv6(next: 17, l4: B.udp(1, 2, payload: [3]))
        let v6PPPoE = try packet(B.ethernet(type: 0x8864, [0x11, 0, 0, 1] + B.be16(v6.count + 2) + B.be16(0x57) + v6))
        #expect(v6PPPoE.event.source.isIPv6 && v6PPPoE.event.payloadLength == 1)
        #expect(parse(B.ethernet(type: 0x8864, pppoe(0xC021) + ip)) == .notIP)  // LCP
        #expect(parse(B.ethernet(type: 0x8864, [0x11, 0, 0x12])) == .notIP)  // cut short
        // MPLS: one label, three labels, the bottom-of-stack bit ending the stack.
        let label: [UInt8] = [0x00, 0x01, 0x00, 0x40], bottom: [UInt8] = [0x00, 0x02, 0x01, 0x40]
        #expect(try packet(B.ethernet(type: 0x8847, bottom + ip)).event == reference)
        #expect(try packet(B.ethernet(type: 0x8848, label + label + bottom + ip)).event == reference)
        #expect(try packet(B.ethernet(type: 0x8847, bottom + v6)).event.source.isIPv6)
        #expect(parse(B.ethernet(type: 0x8847, Array(repeating: label, count: 7).flatMap { $0 } + ip)) == .notIP)
        #expect(parse(B.ethernet(type: 0x8847, bottom + [0x00, 0x00] + ip)) == .notIP)  // not IP after
    }

    /// Each tunnel gives the inner packet, exactly as the same packet bare would be, with the
    /// tunnel's kind, ID and outer addresses beside it.
    @Test func tunnelsGiveTheInnerPacket() throws {
        let inner = B.ipv4(
            protocol: 17, source: [203, 0, 113, 10], destination: [203, 0, 113, 20],
            l4: B.udp(5555, 6666, payload: B.bytes(40, start: 0x61)))
        let innerV6 = B.ipv6(next: 6, source: B.v6(10), destination: B.v6(20), l4: B.tcp(1, 2, flags: 0x02, payload: [1, 2, 3]))
        let bare = try packet(B.ethernet(inner))
        let bareV6 = try packet(B.ethernet(type: 0x86DD, innerV6))
        let outerSource = IPAddress("198.51.100.1")!
        let outerDestination = IPAddress("203.0.113.2")!
        func overUDP(_ port: Int, _ body: [UInt8]) -> [UInt8] {
            B.ethernet(B.ipv4(protocol: 17, l4: B.udp(49152, port, payload: body)))
        }
        let cases: [(String, [UInt8], Parsed, Tunnel.Kind, UInt32?)] = [
            ("ipip", B.ethernet(B.ipv4(protocol: 4, l4: inner)), bare, .ipip, nil),
            ("sit", B.ethernet(B.ipv4(protocol: 41, l4: innerV6)), bareV6, .sit, nil),
            ("gre", B.ethernet(B.ipv4(protocol: 47, l4: B.gre(protocol: 0x0800, key: 0xDEAD_BEEF, inner))), bare, .gre, 0xDEAD_BEEF),
            ("gretap", B.ethernet(B.ipv4(protocol: 47, l4: B.gre(protocol: 0x6558, B.ethernet(inner)))), bare, .gre, nil),
            ("erspan I", B.ethernet(B.ipv4(protocol: 47, l4: B.gre(protocol: 0x88BE, B.ethernet(inner)))), bare, .erspan, nil),
            (
                "erspan II",
                B.ethernet(B.ipv4(protocol: 47, l4: B.gre(protocol: 0x88BE, sequence: 1, B.erspan2(session: 5, B.ethernet(inner))))),
                bare, .erspan, 5
            ),
            (
                "erspan III",
                B.ethernet(
                    B.ipv4(protocol: 47, l4: B.gre(protocol: 0x22EB, sequence: 1, B.erspan3(session: 700, platform: true, B.ethernet(inner))))),
                bare, .erspan, 700
            ),
            ("vxlan", overUDP(4789, B.vxlan(vni: 42, B.ethernet(inner))), bare, .vxlan, 42),
            ("geneve", overUDP(6081, B.geneve(vni: 99, options: B.bytes(8), B.ethernet(type: 0x86DD, innerV6))), bareV6, .geneve, 99),
            ("gtpu", overUDP(2152, B.gtpu(teid: 0x1234, extensions: [[1, 0x10, 9, 0]], inner)), bare, .gtpu, 0x1234),
            ("capwap", overUDP(5247, B.capwap(B.ethernet(inner))), bare, .capwap, nil),
            ("capwap 802.11", overUDP(5247, B.capwap(native80211: true, B.ieee80211(qos: true, inner))), bare, .capwap, nil),
        ]
        for (name, frame, expected, kind, id) in cases {
            let p = try packet(frame)
            var event = p.event
            #expect(event.tunnel == Tunnel(kind: kind, outerSource: outerSource, outerDestination: outerDestination, id: id), "\(name)")
            event.tunnel = nil
            #expect(event == expected.event, "\(name)")
            #expect(p.snapshot == expected.snapshot && p.flags == [], "\(name)")
        }
        // An IPv6 underlay keeps its addresses whole.
        let overV6 = try packet(B.ethernet(type: 0x86DD, B.ipv6(next: 4, l4: inner)))
        #expect(overV6.event.tunnel?.outerSource == IPAddress("2001:db8::1") && overV6.event.source == bare.event.source)
    }

    /// A tunnel header or inner IP header that cannot be read leaves the outer packet, flagged; a
    /// tunnel carrying no IP is not IP; a non-first fragment is not decapsulated at all.
    @Test func unreadableTunnelsGiveTheOuterPacket() throws {
        let inner = B.ipv4(protocol: 17, source: [203, 0, 113, 10], destination: [203, 0, 113, 20], l4: B.udp(1, 2))
        let outerCases: [(String, [UInt8])] = [
            ("gre version 1", B.ethernet(B.ipv4(protocol: 47, l4: B.gre(protocol: 0x880B, version: 1, B.bytes(20))))),
            ("vxlan without I", B.ethernet(B.ipv4(protocol: 17, l4: B.udp(1, 4789, payload: B.vxlan(vni: 1, flags: 0, B.ethernet(inner)))))),
            ("inner cut", B.ethernet(B.ipv4(protocol: 4, l4: Array(inner.prefix(12))))),
            ("gtpu echo", B.ethernet(B.ipv4(protocol: 17, l4: B.udp(2152, 2152, payload: B.gtpu(teid: 0, type: 1, sequence: true, []))))),
        ]
        for (name, frame) in outerCases {
            let p = try packet(frame)
            #expect(p.flags == [.tunnelOuter] && p.event.tunnel == nil, "\(name)")
            #expect(p.event.source == IPAddress("198.51.100.1") && p.event.destination == IPAddress("203.0.113.2"), "\(name)")
        }
        let arp = B.ethernet(type: 0x0806, B.bytes(28))
        #expect(parse(B.ethernet(B.ipv4(protocol: 17, l4: B.udp(1, 4789, payload: B.vxlan(vni: 1, arp))))) == .notIP)
        let fragment = try packet(B.ethernet(B.ipv4(protocol: 4, fragmentOffset: 10, l4: inner)))
        #expect(fragment.flags == [.fragment] && fragment.event.tunnel == nil && fragment.event.transport == 4)
    }

    @Test func ipv4OptionsAreSkipped() throws {
        let ip = B.ipv4(protocol: 6, options: [0x94, 0x04, 0, 0, 1, 1, 1, 0], l4: B.tcp(22, 50000, payload: [0xAA]))
        let p = try packet(B.ethernet(ip))
        #expect(p.event.sourcePort == 22 && p.event.destinationPort == 50000)
        #expect(p.event.payloadLength == 1)
        #expect(p.snapshot == [0xAA])
    }

    @Test func ethernetPaddingIsTrimmedByTotalLength() throws {
        // A 2-byte UDP payload in a frame padded to the 60-byte Ethernet minimum.
        let frame = B.ethernet(padTo: 60, B.ipv4(protocol: 17, l4: B.udp(1, 2, payload: [5, 6])))
        #expect(frame.count == 60)
        let p = try packet(frame)
        #expect(p.event.payloadLength == 2)
        #expect(p.snapshot == [5, 6])
        // A TCP pure ACK (no payload) padded likewise.
        let ack = try packet(B.ethernet(padTo: 60, B.ipv4(protocol: 6, l4: B.tcp(1, 2, flags: 0x10))))
        #expect(ack.event.payloadLength == 0)
        #expect(ack.snapshot.isEmpty)
    }

    @Test func totalLengthZeroMeansTheRestOfTheFrame() throws {
        let p = try packet(B.ethernet(B.ipv4(protocol: 17, totalLength: 0, l4: B.udp(1, 2, payload: [1, 2, 3]))))
        #expect(p.event.payloadLength == 3)
    }

    @Test func anIPLengthBeyondThePacketIsMalformed() throws {
        // Not cut by a snaplen (captured = original): tot_len / payload_len say more than is there.
        let udp = B.udp(1, 2, payload: [1, 2, 3])
        #expect(parse(B.ethernet(B.ipv4(protocol: 17, totalLength: 1000, l4: udp))) == .malformed)
        #expect(parse(B.ethernet(B.ipv4(protocol: 17, totalLength: 32, l4: udp))) == .malformed)
        #expect(parse(B.ethernet(type: 0x86DD, B.ipv6(next: 17, payloadLength: 12, l4: udp))) == .malformed)
        #expect(parse(B.ethernet(B.ipv4(protocol: 17, totalLength: 1000, l4: udp)), originalLength: 1013) == .malformed)
        // Exactly the packet, or less (link padding): a packet.
        #expect(try packet(B.ethernet(B.ipv4(protocol: 17, totalLength: 31, l4: udp))).event.payloadLength == 3)
        #expect(try packet(B.ethernet(B.ipv4(protocol: 17, totalLength: 30, l4: udp))).event.payloadLength == 2)
        let v6 = try packet(B.ethernet(type: 0x86DD, B.ipv6(next: 17, payloadLength: 11, l4: udp)))
        #expect(v6.event.payloadLength == 3)
        // Within the original length of a packet the snaplen cut: the original payload length.
        let cut = try packet(B.ethernet(B.ipv4(protocol: 17, totalLength: 1000, l4: udp)), originalLength: 1014)
        #expect(cut.event.payloadLength == 1000 - 28)
        #expect(cut.snapshot == [1, 2, 3])
    }

    @Test func nonFirstIPv4FragmentHasNoPorts() throws {
        // The second fragment of a UDP datagram: its bytes look like a UDP header, but are not one.
        let data = B.udp(9999, 8888, payload: B.bytes(40))
        let p = try packet(B.ethernet(B.ipv4(protocol: 17, fragmentOffset: 185, l4: data)))
        #expect(p.flags == .fragment)
        #expect(p.event.transport == 17)
        #expect(p.event.sourcePort == 0 && p.event.destinationPort == 0)
        #expect(p.event.tcpFlags == [])
        #expect(p.event.payloadLength == UInt32(data.count))
        #expect(p.snapshot == data)
    }

    @Test func firstIPv4FragmentIsParsedAsADatagram() throws {
        let p = try packet(
            B.ethernet(B.ipv4(protocol: 17, moreFragments: true, l4: B.udp(4000, 53, payload: B.bytes(64)))))
        #expect(p.flags == [])
        #expect(p.event.sourcePort == 4000 && p.event.destinationPort == 53)
        #expect(p.event.payloadLength == 64)
    }

    @Test func ipv6TCP() throws {
        let p = try packet(B.ethernet(type: 0x86DD, B.ipv6(next: 6, l4: B.tcp(443, 40000, flags: 0x11, payload: [1]))))
        #expect(p.event.source == IPAddress("2001:db8::1"))
        #expect(p.event.destination == IPAddress("2001:db8::2"))
        #expect(p.event.source.isIPv6)
        #expect(p.event.sourcePort == 443 && p.event.destinationPort == 40000)
        #expect(p.event.tcpFlags == [.fin, .ack])
        #expect(p.event.payloadLength == 1)
    }

    @Test func ipv6ExtensionHeadersAreSkipped() throws {
        let ext: [(UInt8, [UInt8])] = [
            (0, B.optionsHeader(units: 0)), (43, B.optionsHeader(units: 1)), (51, B.authenticationHeader(length: 4)),
            (60, B.optionsHeader(units: 2)),
        ]
        let p = try packet(
            B.ethernet(type: 0x86DD, B.ipv6(next: 17, extensions: ext, l4: B.udp(53, 5353, payload: [4, 2]))))
        #expect(p.event.transport == 17)
        #expect(p.event.sourcePort == 53 && p.event.destinationPort == 5353)
        #expect(p.event.payloadLength == 2)
        #expect(p.snapshot == [4, 2])
    }

    @Test func moreThanSixIPv6ExtensionHeadersStopTheWalk() throws {
        let ext = (0..<7).map { _ in (UInt8(60), B.optionsHeader(units: 0)) }
        let l4 = B.udp(1, 2, payload: [3])
        let p = try packet(B.ethernet(type: 0x86DD, B.ipv6(next: 17, extensions: ext, l4: l4)))
        // The walk ends on the seventh header: its type is the "protocol", it and what follows payload.
        #expect(p.event.transport == 60)
        #expect(p.event.sourcePort == 0)
        #expect(p.event.payloadLength == UInt32(8 + l4.count))
    }

    @Test func ipv6Fragments() throws {
        let first = try packet(
            B.ethernet(
                type: 0x86DD,
                B.ipv6(
                    next: 17, extensions: [(44, B.fragmentHeader(offset: 0, more: true))],
                    l4: B.udp(7, 8, payload: B.bytes(16)))))
        #expect(first.flags == [])
        #expect(first.event.sourcePort == 7 && first.event.payloadLength == 16)
        let later = try packet(
            B.ethernet(
                type: 0x86DD,
                B.ipv6(next: 17, extensions: [(44, B.fragmentHeader(offset: 181, more: false))], l4: B.bytes(24))))
        #expect(later.flags == .fragment)
        #expect(later.event.transport == 17)
        #expect(later.event.sourcePort == 0 && later.event.destinationPort == 0)
        #expect(later.event.payloadLength == 24)
        #expect(later.snapshot == B.bytes(24))
    }

    @Test func ipv6PaddingIsTrimmedByPayloadLength() throws {
        let frame = B.ethernet(type: 0x86DD, padTo: 100, B.ipv6(next: 17, l4: B.udp(1, 2, payload: [1])))
        let p = try packet(frame)
        #expect(p.event.payloadLength == 1)
    }

    @Test func otherProtocolsHaveNoPortsAndTheirWholeL4PartIsPayload() throws {
        let icmp: [UInt8] = [8, 0, 0xf7, 0xff, 0, 1, 0, 1] + B.bytes(56)
        let p = try packet(B.ethernet(B.ipv4(protocol: 1, l4: icmp)))
        #expect(p.event.transport == 1)
        #expect(p.event.sourcePort == 0 && p.event.destinationPort == 0)
        #expect(p.event.payloadLength == 64)
        #expect(p.snapshot == icmp)
    }

    @Test func truncatedL4HeadersGivePortsZero() throws {
        // tot_len leaves room for 10 bytes of TCP header: truncated, nothing counts as payload.
        let tcp = try packet(B.ethernet(B.ipv4(protocol: 6, totalLength: 30, l4: B.tcp(1, 2, payload: [1, 2]))))
        #expect(tcp.flags == .truncated)
        #expect(tcp.event.sourcePort == 0 && tcp.event.destinationPort == 0 && tcp.event.tcpFlags == [])
        #expect(tcp.event.payloadLength == 0)
        #expect(tcp.snapshot.isEmpty)
        let udp = try packet(B.ethernet(B.ipv4(protocol: 17, l4: [0, 53, 0, 53, 0])))
        #expect(udp.flags == .truncated)
        #expect(udp.event.sourcePort == 0)
        #expect(udp.event.payloadLength == 0)
        // An IHL that points past the datagram: the L4 header is beyond its end.
        let longIHL = try packet(B.ethernet(B.ipv4(protocol: 17, totalLength: 0, ihl: 15, l4: B.udp(1, 2))))
        #expect(longIHL.flags == .truncated)
        #expect(longIHL.event.payloadLength == 0)
    }

    @Test func snaplenCutKeepsTheOriginalPayloadLength() throws {
        let frame = B.ethernet(B.ipv4(protocol: 6, l4: B.tcp(80, 40000, payload: B.bytes(1400))))
        let cut = Array(frame[0..<(14 + 20 + 20 + 10)])
        let p = try packet(cut, originalLength: frame.count)
        #expect(p.event.payloadLength == 1400)
        #expect(p.event.sourcePort == 80)
        #expect(p.snapshot == B.bytes(10))
        // Cut inside the TCP header: the header cannot be read, so it counts as truncated.
        let inHeader = try packet(Array(frame[0..<40]), originalLength: frame.count)
        #expect(inHeader.flags == .truncated)
        #expect(inHeader.event.sourcePort == 0)
        // Cut inside the IP header: no record, like an IP header beyond the packet.
        #expect(parse(Array(frame[0..<30]), originalLength: frame.count) == .malformed)
    }

    @Test func malformedAndNonIPFrames() {
        let udp = B.udp(1, 2, payload: [1])
        #expect(parse(B.ethernet(type: 0x0806, B.bytes(28))) == .notIP)  // ARP
        #expect(parse(B.bytes(13)) == .notIP)  // shorter than an Ethernet header
        #expect(parse(B.ethernet(B.ipv4(protocol: 17, version: 5, l4: udp))) == .malformed)
        #expect(parse(B.ethernet(B.ipv4(protocol: 17, ihl: 4, l4: udp))) == .malformed)
        #expect(parse(B.ethernet(B.ipv4(protocol: 17, totalLength: 19, l4: udp))) == .malformed)
        #expect(parse(B.ethernet(Array(B.ipv4(protocol: 17, l4: udp)[0..<19]))) == .malformed)
        #expect(parse(B.ethernet(type: 0x86DD, Array(B.ipv6(next: 17, l4: udp)[0..<39]))) == .malformed)
        var v6 = B.ipv6(next: 17, l4: udp)
        v6[0] = 0x40
        #expect(parse(B.ethernet(type: 0x86DD, v6)) == .malformed)
        // An IPv6 extension header beyond the end of the frame.
        #expect(parse(B.ethernet(type: 0x86DD, B.ipv6(next: 0, l4: []))) == .malformed)
    }

    @Test func otherLinkTypes() throws {
        let ip = B.ipv4(protocol: 17, l4: B.udp(1111, 2222, payload: [1, 2, 3]))
        let reference = try packet(B.ethernet(ip))
        for (frame, link) in [
            (B.sll(ip), PacketParser.LinkType.linuxSLL), (B.sll2(ip), .linuxSLL2), (ip, .raw), (ip, .rawDLT12),
            (ip, .rawDLT14), ([2, 0, 0, 0] + ip, .null), ([0, 0, 0, 2] + ip, .loop),
        ] {
            let p = try packet(frame, link: link)
            #expect(p.event == reference.event, "\(link)")
            #expect(p.snapshot == reference.snapshot, "\(link)")
        }
        let v6 = B.ipv6(next: 6, l4: B.tcp(1, 2, payload: [9]))
        let v6Reference = try packet(B.ethernet(type: 0x86DD, v6))
        #expect(try packet(v6, link: .raw).event == v6Reference.event)
        #expect(try packet(B.sll(type: 0x86DD, v6), link: .linuxSLL).event == v6Reference.event)
        #expect(try packet(B.sll2(type: 0x86DD, v6), link: .linuxSLL2).event == v6Reference.event)
        #expect(try packet([30, 0, 0, 0] + v6, link: .null).event == v6Reference.event)
        #expect(parse(B.sll(type: 0x0806, B.bytes(28)), link: .linuxSLL) == .notIP)
        #expect(parse([0x50] + B.bytes(30), link: .raw) == .notIP)
        #expect(parse([], link: .raw) == .notIP)
        #expect(parse(B.bytes(10), link: .linuxSLL2) == .notIP)
    }

    @Test func pppCiscoHDLC80211PPIAndRawIPOfOneVersion() throws {
        let ip = B.ipv4(protocol: 17, l4: B.udp(1111, 2222, payload: [1, 2, 3]))
        let reference = try packet(B.ethernet(ip))
        let cases: [(String, [UInt8], PacketParser.LinkType)] = [
            ("PPP in HDLC framing", B.ppp(ip), .ppp),
            ("PPP", B.ppp(hdlc: false, ip), .ppp),
            ("PPP, compressed protocol", B.ppp(compressed: true, ip), .ppp),
            ("PPP, no framing, compressed", B.ppp(hdlc: false, compressed: true, ip), .ppp),
            ("Cisco HDLC", B.ciscoHDLC(ip), .ciscoHDLC),
            ("Cisco HDLC, VLAN", B.ciscoHDLC(type: 0x8100, [0, 100, 0x08, 0x00] + ip), .ciscoHDLC),
            ("IPV4", ip, .ipv4),
            ("802.11 data", B.ieee80211(ip), .ieee80211),
            ("802.11 QoS data", B.ieee80211(qos: true, ip), .ieee80211),
            ("802.11 QoS data, HT control", B.ieee80211(qos: true, order: true, ip), .ieee80211),
            ("802.11 4 addresses, QoS", B.ieee80211(qos: true, wds: true, ip), .ieee80211),
            ("802.11 Data+CF-Ack", B.ieee80211(subtype: 1, ip), .ieee80211),
            ("802.11 802.1H SNAP", B.ieee80211(oui: [0, 0, 0xF8], ip), .ieee80211),
            ("PPI, Ethernet", B.ppi(B.ethernet(ip)), .ppi),
            ("PPI with a field, Ethernet", B.ppi(fields: B.ppi80211Common, B.ethernet(vlans: [0x8100], ip)), .ppi),
            ("PPI, 802.11", B.ppi(dlt: 105, fields: B.ppi80211Common, B.ieee80211(qos: true, ip)), .ppi),
        ]
        for (name, frame, link) in cases {
            let p = try packet(frame, link: link)
            // The two tagged ones carry VLAN 100 (what the builder tags with); else as the reference.
            var event = p.event
            #expect(event.vlan == (name.contains("VLAN") || name.contains("with a field") ? 100 : 0), "\(name)")
            event.vlan = 0
            #expect(event == reference.event, "\(name)")
            #expect(p.snapshot == reference.snapshot, "\(name)")
        }
        let v6 = B.ipv6(next: 6, l4: B.tcp(1, 2, payload: [9]))
        let v6Reference = try packet(B.ethernet(type: 0x86DD, v6))
        for (name, frame, link) in [
            ("PPP", B.ppp(protocol: 0x0057, v6), PacketParser.LinkType.ppp),
            ("PPP, compressed", B.ppp(protocol: 0x57, compressed: true, v6), .ppp),
            ("Cisco HDLC", B.ciscoHDLC(type: 0x86DD, v6), .ciscoHDLC), ("IPV6", v6, .ipv6),
            ("802.11", B.ieee80211(type: 0x86DD, v6), .ieee80211),
            ("PPI, 802.11", B.ppi(dlt: 105, B.ieee80211(type: 0x86DD, v6)), .ppi),
        ] {
            let p = try packet(frame, link: link)
            #expect(p.event == v6Reference.event && p.snapshot == v6Reference.snapshot, "IPv6 over \(name)")
        }
        // Raw IP of one version: the other version is a malformed header, not another packet.
        #expect(parse(v6, link: .ipv4) == .malformed)
        #expect(parse(ip, link: .ipv6) == .malformed)
        #expect(parse([], link: .ipv4) == .malformed)
    }

    @Test func framesWithoutReadableIPAreNotIP() {
        let ip = B.ipv4(protocol: 17, l4: B.udp(1111, 2222, payload: [1, 2, 3]))
        let cases: [(String, [UInt8], PacketParser.LinkType)] = [
            ("PPP LCP", B.ppp(protocol: 0xC021, B.bytes(20)), .ppp),
            ("PPP IPCP", B.ppp(protocol: 0x8021, B.bytes(20)), .ppp),
            ("PPP, compressed protocol, cut", [0xFF, 0x03], .ppp),
            ("PPP, protocol cut", [0xFF, 0x03, 0x00], .ppp),
            ("Cisco HDLC SLARP", B.ciscoHDLC(type: 0x8035, B.bytes(20)), .ciscoHDLC),
            ("Cisco HDLC, cut", [0x0F, 0x00, 0x08], .ciscoHDLC),
            ("802.11 Null", B.ieee80211(subtype: 4, ip), .ieee80211),
            ("802.11 QoS Null", B.ieee80211(subtype: 4, qos: true, ip), .ieee80211),
            ("802.11 protected", B.ieee80211(protected: true, ip), .ieee80211),
            ("802.11 A-MSDU", B.ieee80211(qos: true, amsdu: true, ip), .ieee80211),
            ("802.11 second fragment", B.ieee80211(fragment: 1, ip), .ieee80211),
            ("802.11 other OUI", B.ieee80211(oui: [0, 0x0B, 0x85], ip), .ieee80211),
            ("802.11 ARP", B.ieee80211(type: 0x0806, B.bytes(28)), .ieee80211),
            ("802.11 beacon", [0x80, 0x00] + B.bytes(60), .ieee80211),
            ("802.11 version 1", [0x09] + Array(B.ieee80211(ip).dropFirst()), .ieee80211),
            ("802.11, cut in the header", Array(B.ieee80211(qos: true, ip).prefix(25)), .ieee80211),
            ("802.11, cut in LLC/SNAP", Array(B.ieee80211(ip).prefix(30)), .ieee80211),
            ("PPI, USER0 inside", B.ppi(dlt: 147, B.ethernet(ip)), .ppi),
            ("PPI, PPI inside", B.ppi(dlt: 192, B.ppi(B.ethernet(ip))), .ppi),
            ("PPI version 1", [1] + Array(B.ppi(B.ethernet(ip)).dropFirst()), .ppi),
            ("PPI length 4", [0, 0, 4, 0] + Array(B.ppi(B.ethernet(ip)).dropFirst(4)), .ppi),
            ("PPI length beyond the frame", [0, 0, 0xFF, 0x0F] + Array(B.ppi(B.ethernet(ip)).dropFirst(4)), .ppi),
            ("PPI, cut", [0, 0, 8, 0, 1, 0], .ppi),
        ]
        for (name, frame, link) in cases {
            #expect(parse(frame, link: link) == .notIP, "\(name)")
        }
    }

    @Test func linkTypeNamesAndSummary() {
        #expect(PacketParser.LinkType.summary == "NULL (0), EN10MB (1), PPP (9), RAW (12/14/101), C_HDLC (104), "
            + "IEEE802_11 (105), LOOP (108), LINUX_SLL (113), PPI (192), IPV4 (228), IPV6 (229), LINUX_SLL2 (276)")
    }

    @Test func garbageNeverCrashes() {
        // Every prefix of a few packets, and random bytes, on every link type.
        var generator = SystemRandomNumberGenerator()
        var frames: [[UInt8]] = [
            B.ethernet(vlans: [0x8100], B.ipv4(protocol: 6, options: [1, 1, 1, 1], l4: B.tcp(1, 2, payload: [1]))),
            B.ethernet(
                type: 0x86DD,
                B.ipv6(
                    next: 17,
                    extensions: [(0, B.optionsHeader(units: 3)), (44, B.fragmentHeader(offset: 0, more: true))],
                    l4: B.udp(1, 2))),
        ]
        for _ in 0..<200 {
            frames.append(
                (0..<Int.random(in: 0..<120, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator)
                })
        }
        for frame in frames {
            for end in 0...frame.count {
                for link in PacketParser.LinkType.allCases {
                    let result = parse(Array(frame[0..<end]), link: link, originalLength: Int.random(in: 0..<2000))
                    if case .packet(_, let snapshot, _) = result {
                        #expect(snapshot.lowerBound >= 0 && snapshot.upperBound <= end && snapshot.count <= 128)
                    }
                }
            }
        }
    }
}
