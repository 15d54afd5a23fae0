import CSensorABI

/// Parses a captured link-layer frame into the `PacketEvent` and payload snapshot the BPF program
/// (bpf/dps.bpf.c) would produce for the same bytes. The rules are the BPF program's, step for
/// step, so that files and live capture give the same flows; a differential test runs both over
/// real captures and compares every field.
///
/// - Link layer: Ethernet (with up to two 802.1Q/802.1ad tags), Linux cooked capture (SLL, SLL2),
///   raw IP, BSD loopback, PPP, Cisco HDLC, 802.11 data frames (bare or behind a PPI header) and
///   PPI before Ethernet (`LinkType`). Anything but IPv4/IPv6 is `.notIP`; so is an 802.11 frame
///   whose IP cannot be read (not a data frame, encrypted, an A-MSDU, a non-first fragment).
/// - IPv4: options skipped; `tot_len` trims link padding (0 means "the rest of the packet"). A
///   non-first fragment (offset != 0) has no L4 header: ports 0, flags 0, the whole rest of the
///   datagram is payload, `isFragment` set. A first fragment is parsed like a whole datagram.
/// - IPv6: up to 6 extension headers (hop-by-hop, routing, destination options, AH, fragment) are
///   skipped; a fragment header with a non-zero offset makes it a non-first fragment as above.
/// - Tunnels, one level deep (`tunnel_of`, `tunnel_header`, `decapsulate`): IPIP, sit, GRE,
///   ERSPAN, VXLAN, Geneve, GTP-U and CAPWAP data (`Tunnel.Kind`). The event then describes the
///   inner packet (bounded by the outer datagram) and `tunnel` the outer one. A tunnel header or
///   inner IP header that cannot be read leaves the outer packet, flagged `tunnelOuter`; an inner
///   frame that holds no IP is `.notIP`.
/// - TCP: ports, flags, data offset (at least 20). UDP: ports, 8-byte header. Other protocols:
///   ports 0 and the whole L4 part is payload. A TCP/UDP header that does not fit in the datagram
///   is "truncated": ports 0, flags 0, payload 0.
/// - An IP header that is cut short or invalid (wrong version, IHL < 5, tot_len < IHL) is
///   `.malformed`: the BPF program makes no record for it either. So is an IP length (IPv4
///   `tot_len`, IPv6 40 + `payload_len`) that reaches beyond the packet: the datagram cannot be
///   longer than the packet that carried it, so the header is corrupt (the kernel's `ip_rcv`
///   drops such packets too).
///
/// Lengths. The BPF program measures the packet by `skb->len`; here that is `originalLength`, the
/// length the packet had on the wire (a pcap record's `len`), while the bytes that can be read are
/// those of `frame` (its `caplen` bytes). So when a capture's snaplen cut a packet, `payloadLength`
/// is still the full L4 payload length from the IP header, and the snapshot holds only the payload
/// bytes that were captured (up to 128); an IP length beyond `originalLength` is malformed, as
/// above. A header that lies beyond the captured bytes is treated as the BPF program treats a
/// header beyond the packet's end: an IP header -> `.malformed`, a TCP/UDP header -> truncated
/// (ports 0). The caller vouches for `originalLength` (`PcapSource` refuses impossible ones).
public enum PacketParser {
    /// Link-layer header types (pcap LINKTYPE_/DLT_ values) the parser reads.
    public enum LinkType: Int32, Sendable, CaseIterable {
        /// DLT_NULL: BSD loopback, a 4-byte address family in the capturing host's byte order.
        case null = 0
        /// DLT_EN10MB.
        case ethernet = 1
        /// DLT_RAW as defined on most platforms (12) and on OpenBSD (14); LINKTYPE_RAW is 101.
        case rawDLT12 = 12
        case rawDLT14 = 14
        case raw = 101
        /// DLT_LOOP: like DLT_NULL, in network byte order.
        case loop = 108
        /// DLT_LINUX_SLL: Linux cooked capture v1, 16-byte header, protocol at offset 14.
        case linuxSLL = 113
        /// DLT_LINUX_SLL2: Linux cooked capture v2, 20-byte header, protocol at offset 0.
        case linuxSLL2 = 276
        // Later additions go last: the fuzzers' seeds name link types by their place here.
        /// LINKTYPE_PPP: PPP (RFC 1661), after the HDLC-like address and control bytes 0xFF 0x03
        /// (RFC 1662) when present; a 2-byte protocol, or 1 byte when compressed (odd).
        case ppp = 9
        /// LINKTYPE_C_HDLC: Cisco HDLC, address, control and a 2-byte EtherType.
        case ciscoHDLC = 104
        /// LINKTYPE_IEEE802_11: 802.11 frames; IP is read from data frames' LLC/SNAP header.
        case ieee80211 = 105
        /// LINKTYPE_PPI: a little-endian Per-Packet Information header (its length at offset 2,
        /// the link type after it at offset 4) before an Ethernet or 802.11 frame.
        case ppi = 192
        /// LINKTYPE_IPV4 / LINKTYPE_IPV6: raw IP of one version.
        case ipv4 = 228
        case ipv6 = 229

        /// libpcap's name (`pcap_datalink_val_to_name`).
        public var name: String {
            switch self {
            case .null: "NULL"
            case .ethernet: "EN10MB"
            case .rawDLT12, .rawDLT14, .raw: "RAW"
            case .loop: "LOOP"
            case .linuxSLL: "LINUX_SLL"
            case .linuxSLL2: "LINUX_SLL2"
            case .ppp: "PPP"
            case .ciscoHDLC: "C_HDLC"
            case .ieee80211: "IEEE802_11"
            case .ppi: "PPI"
            case .ipv4: "IPV4"
            case .ipv6: "IPV6"
            }
        }

        /// Every link type read, by name with its values, in value order:
        /// `NULL (0), EN10MB (1), ..., RAW (12/14/101), ...`.
        public static var summary: String {
            var names: [String] = []
            var values: [String: [Int32]] = [:]
            for type in allCases.sorted(by: { $0.rawValue < $1.rawValue }) {
                if values[type.name] == nil { names.append(type.name) }
                values[type.name, default: []].append(type.rawValue)
            }
            return names.map { name in
                "\(name) (\(values[name]!.map(String.init).joined(separator: "/")))"
            }.joined(separator: ", ")
        }
    }

    /// What the parser made of one frame. The three cases match the BPF program's outcomes: a
    /// record, `DPS_CTR_NOT_IP`, `DPS_CTR_MALFORMED`.
    public enum Result: Equatable, Sendable {
        /// `snapshot` is the range of `frame` holding the first (up to 128) bytes of L4 payload.
        case packet(PacketEvent, snapshot: Range<Int>, flags: Flags)
        case notIP
        case malformed
    }

    /// The record's `DPS_F_*` flags.
    public struct Flags: OptionSet, Hashable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// A non-first IPv4/IPv6 fragment: no L4 header, ports 0.
        public static let fragment = Flags(rawValue: 0x01)
        /// The TCP/UDP header did not fit in the datagram: ports and flags 0, payload 0.
        public static let truncated = Flags(rawValue: 0x02)
        /// A tunnel packet that could not be decapsulated: the event describes its outer packet.
        public static let tunnelOuter = Flags(rawValue: 0x04)
    }

    /// The largest snapshot, `DPS_SNAPSHOT_MAX` of the record the BPF program writes.
    public static let snapshotMax = Int(DPS_SNAPSHOT_MAX)

    static let maxVLANTags = 2
    static let maxMPLSLabels = 6
    static let maxIPv6ExtensionHeaders = 6

    /// Parses one frame, in the BPF program's steps: the link layer (`parse_ethernet`), the IP
    /// header (`parse_ipv4` / `parse_ipv6`), the transport header (`parse_l4`), then the payload
    /// length and snapshot as `observe` takes them.
    ///
    /// - Parameters:
    ///   - frame: the captured bytes, starting at the link-layer header.
    ///   - originalLength: the frame's length on the wire (pcap `len`); values below `frame.count`
    ///     are taken as `frame.count`.
    ///   - timestamp: nanoseconds since the Unix epoch, copied into the event.
    public static func parse(
        _ frame: UnsafeRawBufferPointer, originalLength: Int, linkType: LinkType,
        timestamp: Int64, interface: UInt32 = 0
    ) -> Result {
        let reader = Bytes(frame)
        guard let (etherType, l3, vlan) = parseLink(reader, linkType) else { return .notIP }
        let skbLength = max(originalLength, frame.count)
        let blank = PacketEvent(
            timestamp: timestamp, interface: interface, source: IPAddress(high: 0, low: 0, isIPv6: false),
            destination: IPAddress(high: 0, low: 0, isIPv6: false), sourcePort: 0, destinationPort: 0,
            transport: 0, payloadLength: 0, vlan: vlan)
        var event = blank
        let outer: Parsed?
        switch etherType {
        case EtherType.ipv4: outer = parseIPv4(reader, at: l3, limit: skbLength, into: &event)
        case EtherType.ipv6: outer = parseIPv6(reader, at: l3, limit: skbLength, into: &event)
        default: return .notIP
        }
        guard var ip = outer else { return .malformed }
        var flags: Flags = []
        var payloadOffset = parseL4(reader, ip, into: &event, flags: &flags)
        if let kind = tunnelKind(ip, event, flags) {
            var inner = blank
            switch decapsulate(reader, kind, at: payloadOffset, limit: ip.ipEnd, into: &inner) {
            case .inner(let innerIP, let kind, let id):
                flags = []
                payloadOffset = parseL4(reader, innerIP, into: &inner, flags: &flags)
                inner.tunnel = Tunnel(kind: kind, outerSource: event.source, outerDestination: event.destination, id: id)
                event = inner
                ip = innerIP
            case .notIP:
                return .notIP
            case .unreadable:
                flags.insert(.tunnelOuter)
            }
        }
        let payloadLength = payloadOffset < ip.ipEnd ? ip.ipEnd - payloadOffset : 0
        event.payloadLength = UInt32(truncatingIfNeeded: payloadLength)
        // The snapshot: what the BPF program would copy, less what the capture did not keep.
        let wanted = min(payloadLength, snapshotMax)
        let captured = max(0, min(wanted, frame.count - payloadOffset))
        let snapshot = captured > 0 ? payloadOffset..<(payloadOffset + captured) : 0..<0
        return .packet(event, snapshot: snapshot, flags: flags)
    }

    /// What the IP step leaves for the transport step: the C program's `struct parsed` (the L4
    /// protocol is already in the event).
    struct Parsed {
        /// Offset of the L4 header.
        var l4Offset: Int
        /// Offset one past the IP datagram (the packet's length, less link padding).
        var ipEnd: Int
        /// A non-first fragment: no L4 header.
        var fragment: Bool
    }

    /// The link layer: the EtherType of what follows and where it starts; nil when the frame is
    /// too short for its link header or carries no IP that can be read (not IP). Ethernet is
    /// `parse_ethernet`; the other link types are those pcaps bring.
    @inline(__always)
    static func parseLink(_ reader: Bytes, _ linkType: LinkType) -> (etherType: UInt16, l3: Int, vlan: UInt16)? {
        switch linkType {
        case .ethernet:
            return parseEthernet(reader, at: 0)
        case .linuxSLL:
            guard reader.has(0, 16) else { return nil }
            return skipVLANTags(reader, etherType: reader.u16(14), at: 16)
        case .linuxSLL2:
            guard reader.has(0, 20) else { return nil }
            return skipVLANTags(reader, etherType: reader.u16(0), at: 20)
        case .raw, .rawDLT12, .rawDLT14:
            guard reader.has(0, 1) else { return nil }
            return (etherTypeOfVersion(reader.u8(0) >> 4), 0, 0)
        case .null, .loop:
            guard reader.has(0, 4) else { return nil }
            let family =
                linkType == .loop ? UInt32(bigEndian: reader.u32Raw(0)) : UInt32(littleEndian: reader.u32Raw(0))
            // The capturing host's order for DLT_NULL: accept either order of the small value.
            switch family > 0xFFFF ? family.byteSwapped : family {
            case 2: return (EtherType.ipv4, 4, 0)  // AF_INET
            case 24, 28, 30: return (EtherType.ipv6, 4, 0)  // AF_INET6 on the BSDs and macOS
            default: return nil
            }
        case .ipv4:
            return (EtherType.ipv4, 0, 0)
        case .ipv6:
            return (EtherType.ipv6, 0, 0)
        case .ppp:
            // RFC 1662's address and control bytes, when there; then the protocol, one byte when
            // compressed (RFC 1661: an odd first byte), else two.
            var offset = reader.has(0, 2) && reader.u8(0) == 0xFF && reader.u8(1) == 0x03 ? 2 : 0
            guard reader.has(offset, 1) else { return nil }
            var pppProtocol = UInt16(reader.u8(offset))
            if pppProtocol & 1 == 0 {
                guard reader.has(offset, 2) else { return nil }
                pppProtocol = reader.u16(offset)
                offset += 2
            } else {
                offset += 1
            }
            switch pppProtocol {
            case 0x21: return (EtherType.ipv4, offset, 0)
            case 0x57: return (EtherType.ipv6, offset, 0)
            default: return nil  // LCP, IPCP, compressed TCP/IP, ...
            }
        case .ciscoHDLC:
            guard reader.has(0, 4) else { return nil }
            return skipVLANTags(reader, etherType: reader.u16(2), at: 4)
        case .ieee80211:
            return parse80211(reader, at: 0)
        case .ppi:
            // pph_version 0, pph_flags, pph_len (LE, the whole PPI header), pph_dlt (LE).
            guard reader.has(0, 8), reader.u8(0) == 0 else { return nil }
            let length = Int(reader.u16LE(2))
            guard length >= 8 else { return nil }
            switch reader.u32LE(4) {
            case UInt32(LinkType.ethernet.rawValue): return parseEthernet(reader, at: length)
            case UInt32(LinkType.ieee80211.rawValue): return parse80211(reader, at: length)
            default: return nil
            }
        }
    }

    /// An Ethernet header at `base`, then `skipVLANTags`.
    @inline(__always)
    static func parseEthernet(_ reader: Bytes, at base: Int) -> (etherType: UInt16, l3: Int, vlan: UInt16)? {
        guard reader.has(base, 14) else { return nil }
        return skipVLANTags(reader, etherType: reader.u16(base + 12), at: base + 14)
    }

    /// An 802.11 frame at `base`: the EtherType in the LLC/SNAP header of a data frame's body.
    /// Nil (not IP) for what holds no readable IP: management and control frames, data frames
    /// without a body (Null, QoS Null), protected (encrypted) bodies, A-MSDUs (several packets
    /// in subframes), fragments after the first (no LLC header), bodies without LLC/SNAP.
    static func parse80211(_ reader: Bytes, at base: Int) -> (etherType: UInt16, l3: Int, vlan: UInt16)? {
        guard let (etherType, offset) = ieee80211Body(reader, at: base) else { return nil }
        return skipVLANTags(reader, etherType: etherType, at: offset)
    }

    /// `parse_80211`: the EtherType of an 802.11 data frame's LLC/SNAP header and where what it
    /// names starts.
    static func ieee80211Body(_ reader: Bytes, at base: Int) -> (etherType: UInt16, offset: Int)? {
        guard reader.has(base, 24) else { return nil }
        // Frame control: version (bits 0-1), type (2-3), subtype (4-7); then the flags byte.
        let control = reader.u8(base)
        let flags = reader.u8(base + 1)
        let isData = control & 0x0F == 0x08  // version 0, type 2
        let hasBody = control & 0x40 == 0  // subtypes 4-7 and 12-15 carry no data
        let isProtected = flags & 0x40 != 0
        let fragmentNumber = reader.u8(base + 22) & 0x0F  // sequence control, little-endian
        guard isData, hasBody, !isProtected, fragmentNumber == 0 else { return nil }
        var offset = base + 24
        if flags & 0x03 == 0x03 { offset += 6 }  // to and from DS: a fourth address
        if control & 0x80 != 0 {  // QoS data: QoS control, then HT control when Order is set
            guard reader.has(offset, 2), reader.u8(offset) & 0x80 == 0 else { return nil }  // A-MSDU
            offset += 2
            if flags & 0x80 != 0 { offset += 4 }
        }
        // LLC/SNAP: AA AA 03, OUI 00 00 00 (RFC 1042) or 00 00 F8 (802.1H), EtherType.
        guard reader.has(offset, 8), reader.u8(offset) == 0xAA, reader.u8(offset + 1) == 0xAA,
            reader.u8(offset + 2) == 0x03, reader.u8(offset + 3) == 0, reader.u8(offset + 4) == 0,
            reader.u8(offset + 5) == 0 || reader.u8(offset + 5) == 0xF8
        else { return nil }
        return (reader.u16(offset + 6), offset + 8)
    }

    /// Up to `maxVLANTags` 802.1Q/802.1ad tags, as `parse_ethernet` walks them (the outermost
    /// one's VLAN ID, 0 untagged), then a PPPoE session header or an MPLS label stack (up to
    /// `maxMPLSLabels`) before IP.
    @inline(__always)
    static func skipVLANTags(_ reader: Bytes, etherType: UInt16, at offset: Int) -> (etherType: UInt16, l3: Int, vlan: UInt16)? {
        var (etherType, l3, vlan) = (etherType, offset, UInt16(0))
        var tags = 0
        while tags < maxVLANTags, etherType == EtherType.vlan || etherType == EtherType.serviceVLAN {
            guard reader.has(l3, 4) else { return nil }
            if tags == 0 { vlan = reader.u16(l3) & 0x0FFF }  // the outermost tag's ID
            etherType = reader.u16(l3 + 2)  // after the TCI
            l3 += 4
            tags += 1
        }
        switch etherType {
        case EtherType.pppoeSession:
            // Version/type, code, session id, length, then the PPP protocol; IP inside is read,
            // other PPP protocols (LCP, ...) stay not IP.
            guard reader.has(l3, 8) else { return nil }
            switch reader.u16(l3 + 6) {
            case 0x0021: return (EtherType.ipv4, l3 + 8, vlan)
            case 0x0057: return (EtherType.ipv6, l3 + 8, vlan)
            default: return (etherType, l3, vlan)
            }
        case EtherType.mplsUnicast, EtherType.mplsMulticast:
            // Labels up to the bottom-of-stack bit, then IP when the first nibble says 4 or 6.
            for _ in 0..<maxMPLSLabels {
                guard reader.has(l3, 4) else { return nil }
                let bottom = reader.u8(l3 + 2) & 1 == 1
                l3 += 4
                guard !bottom else {
                    guard reader.has(l3, 1) else { return nil }
                    switch reader.u8(l3) >> 4 {
                    case 4: return (EtherType.ipv4, l3, vlan)
                    case 6: return (EtherType.ipv6, l3, vlan)
                    default: return (etherType, l3, vlan)
                    }
                }
            }
            return nil
        default:
            return (etherType, l3, vlan)
        }
    }

    /// `parse_ipv4`: addresses and protocol into `event`; nil when the header is cut short or
    /// invalid, or its length reaches beyond the packet (malformed), which ends at `limit` (the
    /// packet's length, or the outer datagram's end for a tunnel's inner packet).
    @inline(__always)
    static func parseIPv4(_ reader: Bytes, at l3: Int, limit: Int, into event: inout PacketEvent) -> Parsed? {
        guard reader.has(l3, 20) else { return nil }
        let versionIHL = reader.u8(l3)
        let headerLength = Int(versionIHL & 0x0F) * 4
        let total = Int(reader.u16(l3 + 2))
        guard versionIHL >> 4 == 4, headerLength >= 20, total == 0 || total >= headerLength else { return nil }
        // tot_len trims link padding; 0 (TSO, big packets) means "the rest of the packet"; beyond
        // the packet it is corrupt.
        guard total == 0 || l3 + total <= limit else { return nil }
        event.source = IPAddress(high: UInt64(reader.u32Raw(l3 + 12)), low: 0, isIPv6: false)
        event.destination = IPAddress(high: UInt64(reader.u32Raw(l3 + 16)), low: 0, isIPv6: false)
        event.transport = reader.u8(l3 + 9)
        let ipEnd = total != 0 ? l3 + total : limit
        return Parsed(l4Offset: l3 + headerLength, ipEnd: ipEnd, fragment: reader.u16(l3 + 6) & 0x1FFF != 0)
    }

    /// `parse_ipv6`: addresses into `event`, up to `maxIPv6ExtensionHeaders` extension headers
    /// skipped, the protocol after them into `event`; nil when a header is cut short or the
    /// payload length reaches beyond the packet (malformed).
    @inline(__always)
    static func parseIPv6(_ reader: Bytes, at l3: Int, limit: Int, into event: inout PacketEvent) -> Parsed? {
        guard reader.has(l3, 40), reader.u8(l3) >> 4 == 6 else { return nil }
        event.source = IPAddress(high: reader.u64Raw(l3 + 8), low: reader.u64Raw(l3 + 16), isIPv6: true)
        event.destination = IPAddress(high: reader.u64Raw(l3 + 24), low: reader.u64Raw(l3 + 32), isIPv6: true)
        let payloadLength = Int(reader.u16(l3 + 4))
        let end = l3 + 40 + payloadLength
        // As tot_len: 0 (jumbograms, big packets) is "the rest of the packet", beyond it corrupt.
        guard payloadLength == 0 || end <= limit else { return nil }
        var parsed = Parsed(l4Offset: l3 + 40, ipEnd: payloadLength != 0 ? end : limit, fragment: false)
        var next = reader.u8(l3 + 6)
        headers: for _ in 0..<maxIPv6ExtensionHeaders {
            let offset = parsed.l4Offset
            switch next {
            case IPProtocolNumber.hopByHop, IPProtocolNumber.routing, IPProtocolNumber.destinationOptions:
                guard reader.has(offset, 2) else { return nil }
                next = reader.u8(offset)
                parsed.l4Offset += (Int(reader.u8(offset + 1)) + 1) * 8  // 8-octet units beyond the first
            case IPProtocolNumber.authentication:
                guard reader.has(offset, 2) else { return nil }
                next = reader.u8(offset)
                parsed.l4Offset += (Int(reader.u8(offset + 1)) + 2) * 4  // 4-octet units, minus 2
            case IPProtocolNumber.fragment:
                guard reader.has(offset, 4) else { return nil }
                next = reader.u8(offset)
                if reader.u16(offset + 2) & 0xFFF8 != 0 { parsed.fragment = true }
                parsed.l4Offset += 8
            default:
                break headers
            }
        }
        event.transport = next
        return parsed
    }

    // MARK: - Tunnels

    /// `tunnel_of`: the tunnel the outer packet's protocol or UDP destination port names (either
    /// port for CAPWAP); none for a non-first fragment or a cut UDP header.
    @inline(__always)
    static func tunnelKind(_ ip: Parsed, _ event: PacketEvent, _ flags: Flags) -> Tunnel.Kind? {
        guard !ip.fragment else { return nil }
        switch event.transport {
        case IPProtocolNumber.ipip: return .ipip
        case IPProtocolNumber.ipv6: return .sit
        case IPProtocolNumber.gre: return .gre
        case IPProtocolNumber.udp where !flags.contains(.truncated):
            switch event.destinationPort {
            case Ports.vxlan: return .vxlan
            case Ports.geneve: return .geneve
            case Ports.gtpu: return .gtpu
            case Ports.capwapData: return .capwap
            default: return event.sourcePort == Ports.capwapData ? .capwap : nil
            }
        default: return nil
        }
    }

    enum Ports {
        static let vxlan: UInt16 = 4789
        static let geneve: UInt16 = 6081
        static let gtpu: UInt16 = 2152
        static let capwapData: UInt16 = 5247
    }

    static let maxGTPExtensions = 4

    /// What a tunnel header is followed by (`DPS_NEXT_*`).
    enum Next {
        /// What the EtherType names (`EtherType.transparentBridging`: an Ethernet frame).
        case etherType(UInt16)
        /// IP, its version in the first nibble.
        case ip
        case ieee80211
    }

    /// What `decapsulate` found (`DPS_DECAP_*`).
    enum Decapsulated {
        /// The inner IP packet: its L4 header's place, the tunnel's kind and ID.
        case inner(Parsed, kind: Tunnel.Kind, id: UInt32?)
        /// The tunnel carries no IP (ARP, ...), or its inner link header is cut: not IP, as such
        /// a frame on the wire is.
        case notIP
        /// The tunnel header or the inner IP header cannot be read: the outer packet is recorded.
        case unreadable
    }

    /// `decapsulate`: the inner packet of a `kind` tunnel whose header starts at `offset` of the
    /// outer datagram ending at `limit`, parsed into `event` (addresses, protocol) as the outer
    /// one was. What follows the tunnel header is judged as a frame on the wire would be; but an
    /// inner IP header that cannot be read (a tunnel packet fragmented, cut) leaves the outer
    /// packet to be recorded.
    static func decapsulate(
        _ reader: Bytes, _ kind: Tunnel.Kind, at offset: Int, limit: Int, into event: inout PacketEvent
    ) -> Decapsulated {
        guard let header = tunnelHeader(reader, kind, at: offset, limit: limit) else { return .unreadable }
        var (etherType, at) = (UInt16(0), header.offset)
        switch header.next {
        case .ieee80211:
            guard let body = ieee80211Body(reader, at: at) else { return .notIP }
            (etherType, at) = body
        case .ip:
            guard reader.has(at, 1) else { return .notIP }
            etherType = etherTypeOfVersion(reader.u8(at) >> 4)
        case .etherType(EtherType.transparentBridging):
            guard reader.has(at, 14) else { return .notIP }
            (etherType, at) = (reader.u16(at + 12), at + 14)
        case .etherType(let type):
            etherType = type
        }
        // Inner VLAN tags are skipped: the event keeps the outer one.
        guard let (innerType, l3, _) = skipVLANTags(reader, etherType: etherType, at: at) else { return .notIP }
        let ip: Parsed?
        switch innerType {
        case EtherType.ipv4: ip = parseIPv4(reader, at: l3, limit: limit, into: &event)
        case EtherType.ipv6: ip = parseIPv6(reader, at: l3, limit: limit, into: &event)
        default: return .notIP
        }
        guard let ip else { return .unreadable }
        return .inner(ip, kind: header.kind, id: header.id)
    }

    /// `tunnel_header`: where what the tunnel carries starts, what it is, the tunnel's kind (GRE
    /// may turn out ERSPAN) and ID; nil when the header cannot be read or is not one of the kind.
    static func tunnelHeader(_ reader: Bytes, _ kind: Tunnel.Kind, at offset: Int, limit: Int)
        -> (offset: Int, next: Next, kind: Tunnel.Kind, id: UInt32?)?
    {
        switch kind {
        case .ipip:
            return (offset, .etherType(EtherType.ipv4), kind, nil)
        case .sit:
            return (offset, .etherType(EtherType.ipv6), kind, nil)
        case .gre, .erspan:
            // RFC 2784/2890: C R K S flags, version 0; then checksum, key, sequence as flagged.
            guard offset + 4 <= limit, reader.has(offset, 4) else { return nil }
            let flags = reader.u8(offset)
            guard flags & 0x40 == 0, reader.u8(offset + 1) & 0x07 == 0 else { return nil }  // routing, version
            let (hasKey, hasSequence) = (flags & 0x20 != 0, flags & 0x10 != 0)
            let keyOffset = offset + 4 + (flags & 0x80 != 0 ? 4 : 0)
            let end = keyOffset + (hasKey ? 4 : 0) + (hasSequence ? 4 : 0)
            guard end <= limit else { return nil }
            var key: UInt32?
            if hasKey {
                guard reader.has(keyOffset, 4) else { return nil }
                key = reader.u32(keyOffset)
            }
            let protocolType = reader.u16(offset + 2)
            switch protocolType {
            case EtherType.erspan where !hasSequence:
                // ERSPAN type I: no header, the mirrored frame.
                return (end, .etherType(EtherType.transparentBridging), .erspan, nil)
            case EtherType.erspan, EtherType.erspan3:
                // Type II: 8 bytes, version 1; type III: 12 bytes, version 2, frame type 0
                // (Ethernet), and an 8-byte platform subheader when O is set. The ID is the
                // 10-bit session ID.
                let three = protocolType == EtherType.erspan3
                guard end + 12 <= limit, reader.has(end, 12), reader.u8(end) >> 4 == (three ? 2 : 1) else { return nil }
                var length = 8
                if three {
                    guard (reader.u8(end + 10) >> 2) & 0x1F == 0 else { return nil }
                    length = reader.u8(end + 11) & 1 != 0 ? 20 : 12
                }
                let session = UInt32(reader.u16(end + 2) & 0x3FF)
                return (end + length, .etherType(EtherType.transparentBridging), .erspan, session)
            default:
                return (end, .etherType(protocolType), .gre, key)
            }
        case .vxlan, .geneve, .gtpu, .capwap:
            // The UDP tunnels: the shortest header is 8 bytes.
            guard offset + 8 <= limit, reader.has(offset, 8) else { return nil }
            let first = reader.u8(offset)
            switch kind {
            case .vxlan:
                // RFC 7348: flags (I set), reserved, VNI, reserved; an Ethernet frame.
                guard first & 0x08 != 0 else { return nil }
                return (offset + 8, .etherType(EtherType.transparentBridging), kind, reader.u24(offset + 4))
            case .geneve:
                // RFC 8926: version 0, options length (4-byte units), protocol type, VNI.
                let end = offset + 8 + Int(first & 0x3F) * 4
                guard first >> 6 == 0, end <= limit else { return nil }
                return (end, .etherType(reader.u16(offset + 2)), kind, reader.u24(offset + 4))
            case .gtpu:
                // 3GPP TS 29.281: version 1, PT 1, message G-PDU (255), TEID; 4 more bytes when
                // E, S or PN is set, then extension headers while E says so (length in 4-byte
                // units, the next type in their last byte).
                guard first >> 5 == 1, first & 0x10 != 0, reader.u8(offset + 1) == 0xFF else { return nil }
                var end = offset + 8
                if first & 0x07 != 0 {
                    guard end + 4 <= limit, reader.has(end, 4) else { return nil }
                    end += 4
                    var next = first & 0x04 != 0 ? reader.u8(end - 1) : 0
                    for _ in 0..<maxGTPExtensions where next != 0 {
                        guard end + 1 <= limit, reader.has(end, 1), reader.u8(end) != 0 else { return nil }
                        end += Int(reader.u8(end)) * 4
                        guard end <= limit, reader.has(end - 1, 1) else { return nil }
                        next = reader.u8(end - 1)
                    }
                    guard next == 0 else { return nil }
                }
                return (end, .ip, kind, reader.u32(offset + 4))
            default:
                // CAPWAP data (RFC 5415): preamble 0, HLEN (4-byte units), RID, WBID, T F L W M K
                // flags. An 802.3 frame (T 0) or a native 802.11 one (T 1, WBID 1); not a
                // fragment (F) or a keep-alive (K).
                let word = reader.u32(offset)
                let length = Int((word >> 19) & 0x1F) * 4
                let native = (word >> 8) & 1 == 1
                guard first == 0, length >= 8, word & 0x88 == 0, offset + length <= limit else { return nil }
                guard !native || (word >> 9) & 0x1F == 1 else { return nil }
                return (offset + length, native ? .ieee80211 : .etherType(EtherType.transparentBridging), kind, nil)
            }
        }
    }

    /// `parse_l4`: ports and TCP flags into `event`; returns where the payload starts. A header
    /// that does not fit in the datagram is truncated (ports 0, payload 0); other protocols keep
    /// ports 0 and their whole L4 part is payload.
    @inline(__always)
    static func parseL4(_ reader: Bytes, _ ip: Parsed, into event: inout PacketEvent, flags: inout Flags) -> Int {
        let l4 = ip.l4Offset
        if ip.fragment {
            flags.insert(.fragment)
            return l4
        }
        if event.transport == IPProtocolNumber.tcp {
            guard l4 + 20 <= ip.ipEnd, reader.has(l4, 14) else {
                flags.insert(.truncated)
                return ip.ipEnd
            }
            event.sourcePort = reader.u16(l4)
            event.destinationPort = reader.u16(l4 + 2)
            event.tcpFlags = TCPFlags(rawValue: reader.u8(l4 + 13))
            let dataOffset = Int(reader.u8(l4 + 12) >> 4) * 4
            return l4 + max(dataOffset, 20)
        }
        if event.transport == IPProtocolNumber.udp {
            guard l4 + 8 <= ip.ipEnd, reader.has(l4, 4) else {
                flags.insert(.truncated)
                return ip.ipEnd
            }
            event.sourcePort = reader.u16(l4)
            event.destinationPort = reader.u16(l4 + 2)
            return l4 + 8
        }
        return l4
    }

    static func etherTypeOfVersion(_ version: UInt8) -> UInt16 {
        switch version {
        case 4: EtherType.ipv4
        case 6: EtherType.ipv6
        default: 0
        }
    }

    /// Bounds-checked big-endian reads; callers check `has` first.
    struct Bytes {
        let base: UnsafeRawBufferPointer

        @inline(__always) init(_ base: UnsafeRawBufferPointer) { self.base = base }

        @inline(__always) func has(_ offset: Int, _ count: Int) -> Bool {
            offset >= 0 && count >= 0 && offset <= base.count - count
        }

        @inline(__always) func u8(_ offset: Int) -> UInt8 { base[offset] }

        @inline(__always) func u16(_ offset: Int) -> UInt16 {
            UInt16(base[offset]) << 8 | UInt16(base[offset + 1])
        }

        @inline(__always) func u24(_ offset: Int) -> UInt32 {
            UInt32(base[offset]) << 16 | UInt32(base[offset + 1]) << 8 | UInt32(base[offset + 2])
        }

        @inline(__always) func u32(_ offset: Int) -> UInt32 {
            UInt32(base[offset]) << 24 | u24(offset + 1)
        }

        /// Little-endian fields (PPI).
        @inline(__always) func u16LE(_ offset: Int) -> UInt16 {
            UInt16(base[offset]) | UInt16(base[offset + 1]) << 8
        }

        @inline(__always) func u32LE(_ offset: Int) -> UInt32 {
            UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        }

        /// Four bytes in memory order (what `IPAddress` holds).
        @inline(__always) func u32Raw(_ offset: Int) -> UInt32 {
            base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        }

        @inline(__always) func u64Raw(_ offset: Int) -> UInt64 {
            base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        }
    }
}
