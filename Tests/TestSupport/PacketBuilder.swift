// Hand-built packets for the parser tests and the differential test (shared by both test targets).

public enum PacketBuilder {
    public static func be16(_ value: Int) -> [UInt8] { [UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)] }

    public static func tcp(
        _ sourcePort: Int, _ destinationPort: Int, flags: UInt8 = 0x18, options: [UInt8] = [],
        payload: [UInt8] = []
    ) -> [UInt8] {
        precondition(options.count % 4 == 0)
        let dataOffset = (20 + options.count) / 4
        var header = be16(sourcePort) + be16(destinationPort)
        header += [0, 0, 0, 1, 0, 0, 0, 2]  // seq, ack
        header += [UInt8(dataOffset << 4), flags] + be16(65535) + [0, 0, 0, 0]
        return header + options + payload
    }

    public static func udp(_ sourcePort: Int, _ destinationPort: Int, payload: [UInt8] = []) -> [UInt8] {
        be16(sourcePort) + be16(destinationPort) + be16(8 + payload.count) + [0, 0] + payload
    }

    /// IPv4 with optional options; `totalLength` overrides tot_len.
    public static func ipv4(
        protocol proto: UInt8, source: [UInt8] = [198, 51, 100, 1], destination: [UInt8] = [203, 0, 113, 2],
        options: [UInt8] = [], fragmentOffset: Int = 0, moreFragments: Bool = false,
        totalLength: Int? = nil, version: UInt8 = 4, ihl: Int? = nil, l4: [UInt8]
    ) -> [UInt8] {
        precondition(options.count % 4 == 0)
        let headerWords = ihl ?? (5 + options.count / 4)
        let total = totalLength ?? (20 + options.count + l4.count)
        let fragment = (moreFragments ? 0x2000 : 0) | (fragmentOffset & 0x1FFF)
        var header: [UInt8] = [version << 4 | UInt8(headerWords), 0] + be16(total)
        header += [0x12, 0x34] + be16(fragment) + [64, proto, 0, 0]
        header += source + destination
        return header + options + l4
    }

    /// IPv6; `extensions` are (type, bytes) in order, each bytes block without its next-header byte.
    public static func ipv6(
        next: UInt8, source: [UInt8] = v6(1), destination: [UInt8] = v6(2),
        extensions: [(UInt8, [UInt8])] = [], payloadLength: Int? = nil, l4: [UInt8]
    ) -> [UInt8] {
        var chain: [UInt8] = []
        for (index, ext) in extensions.enumerated() {
            let following = index + 1 < extensions.count ? extensions[index + 1].0 : next
            chain += [following] + ext.1
        }
        let first = extensions.first?.0 ?? next
        let length = payloadLength ?? (chain.count + l4.count)
        var header: [UInt8] = [0x60, 0, 0, 0] + be16(length) + [first, 64]
        header += source + destination
        return header + chain + l4
    }

    /// 2001:db8::N
    public static func v6(_ last: UInt8) -> [UInt8] { [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [last] }

    /// Hop-by-hop / destination options / routing body: 8 * (units + 1) bytes total with the
    /// next-header byte, which the builder prepends.
    public static func optionsHeader(units: Int) -> [UInt8] {
        [UInt8(units)] + [UInt8](repeating: 1, count: 6 + units * 8)
    }

    /// AH body: (length + 2) * 4 bytes total.
    public static func authenticationHeader(length: Int) -> [UInt8] {
        [UInt8(length)] + [UInt8](repeating: 7, count: (length + 2) * 4 - 2)
    }

    /// Fragment header body (7 bytes after next-header).
    public static func fragmentHeader(offset: Int, more: Bool) -> [UInt8] {
        [0] + be16(offset << 3 | (more ? 1 : 0)) + [0, 0, 0, 42]
    }

    /// `vlans` are the tags' TPIDs, outermost first; `vlanIDs` their VLAN IDs (100 where not given).
    public static func ethernet(
        type: Int = 0x0800, vlans: [Int] = [], vlanIDs: [Int] = [], padTo: Int = 0, _ packet: [UInt8]
    ) -> [UInt8] {
        var frame: [UInt8] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]
        for (i, tpid) in vlans.enumerated() {
            // The priority bits set too: only the low 12 bits of the TCI are the ID.
            frame += be16(tpid) + be16(0xA000 | (i < vlanIDs.count ? vlanIDs[i] : 100))
        }
        frame += be16(type) + packet
        while frame.count < padTo { frame.append(0) }
        return frame
    }

    /// Linux cooked v1: packet type, ARPHRD, address length, 8-byte address, protocol.
    public static func sll(type: Int = 0x0800, _ packet: [UInt8]) -> [UInt8] {
        [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0] + be16(type) + packet
    }

    /// Linux cooked v2: protocol, reserved, ifindex, ARPHRD, packet type, address length, address.
    public static func sll2(type: Int = 0x0800, _ packet: [UInt8]) -> [UInt8] {
        be16(type) + [0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0] + packet
    }

    /// PPP: RFC 1662's address and control bytes when `hdlc`, the protocol in one byte when
    /// `compressed`.
    public static func ppp(
        protocol pppProtocol: Int = 0x0021, hdlc: Bool = true, compressed: Bool = false, _ packet: [UInt8]
    ) -> [UInt8] {
        (hdlc ? [0xFF, 0x03] : []) + (compressed ? [UInt8(pppProtocol)] : be16(pppProtocol)) + packet
    }

    /// Cisco HDLC: unicast address, control 0, EtherType.
    public static func ciscoHDLC(type: Int = 0x0800, _ packet: [UInt8]) -> [UInt8] {
        [0x0F, 0x00] + be16(type) + packet
    }

    /// An 802.11 data frame (subtype 0, Data) from a station to its AP, LLC/SNAP before the
    /// packet. `qos` makes it QoS data with QoS control (`amsdu` sets its A-MSDU bit), `order`
    /// adds HT control, `wds` a fourth address; `fragment` is the fragment number.
    public static func ieee80211(
        type: Int = 0x0800, subtype: UInt8 = 0, qos: Bool = false, amsdu: Bool = false, order: Bool = false,
        wds: Bool = false, protected: Bool = false, fragment: UInt8 = 0, oui: [UInt8] = [0, 0, 0],
        _ packet: [UInt8]
    ) -> [UInt8] {
        let control: UInt8 = (qos ? subtype | 0x08 : subtype) << 4 | 0x08  // type 2: data
        var flags: UInt8 = wds ? 0x03 : 0x01  // to DS (and from DS)
        if protected { flags |= 0x40 }
        if order { flags |= 0x80 }
        var frame: [UInt8] = [control, flags, 0x2C, 0x00]  // frame control, duration
        frame += [2, 0, 0, 0, 0, 1] + [2, 0, 0, 0, 0, 2] + [2, 0, 0, 0, 0, 3]
        frame += [fragment, 0x10]  // sequence control, little-endian: fragment, sequence number 1
        if wds { frame += [2, 0, 0, 0, 0, 4] }
        if qos { frame += [amsdu ? 0x80 : 0x00, 0x00] }
        if order { frame += [0, 0, 0, 0] }
        return frame + [0xAA, 0xAA, 0x03] + oui + be16(type) + packet
    }

    /// PPI: version 0, flags 0, the header's length (8 + `fields`) and the link type of `frame`,
    /// little-endian.
    public static func ppi(dlt: Int = 1, fields: [UInt8] = [], _ frame: [UInt8]) -> [UInt8] {
        let length = 8 + fields.count
        return [0, 0, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(dlt & 0xFF), UInt8(dlt >> 8 & 0xFF), 0, 0]
            + fields + frame
    }

    /// A PPI 802.11-Common field (type 2, 20 bytes of zeros).
    public static let ppi80211Common: [UInt8] = [2, 0, 20, 0] + [UInt8](repeating: 0, count: 20)

    // MARK: - Tunnels

    public static func be32(_ value: UInt32) -> [UInt8] { be16(Int(value >> 16)) + be16(Int(value & 0xFFFF)) }

    /// GRE (RFC 2784/2890), version 0 unless given: checksum, key and sequence number when asked.
    public static func gre(
        protocol type: Int, checksum: Bool = false, key: UInt32? = nil, sequence: UInt32? = nil,
        routing: Bool = false, version: UInt8 = 0, _ inner: [UInt8]
    ) -> [UInt8] {
        var flags: UInt8 = 0
        if checksum { flags |= 0x80 }
        if routing { flags |= 0x40 }
        if key != nil { flags |= 0x20 }
        if sequence != nil { flags |= 0x10 }
        var header: [UInt8] = [flags, version] + be16(type)
        if checksum { header += [0, 0, 0, 0] }
        if let key { header += be32(key) }
        if let sequence { header += be32(sequence) }
        return header + inner
    }

    /// ERSPAN type II header (8 bytes: version 1, VLAN, session ID) before the mirrored frame.
    public static func erspan2(session: Int, _ frame: [UInt8]) -> [UInt8] {
        be16(0x1000 | 100) + be16(session & 0x3FF) + [0, 0, 0, 1] + frame
    }

    /// ERSPAN type III header (12 bytes: version 2, session ID, timestamp, SGT, frame type and the
    /// O bit), then the 8-byte platform subheader when `platform`.
    public static func erspan3(session: Int, frameType: UInt8 = 0, platform: Bool = false, _ frame: [UInt8]) -> [UInt8] {
        var header = be16(0x2000 | 100) + be16(session & 0x3FF) + [0, 0, 0x10, 0] + [0, 0]
        header += [frameType << 2, platform ? 1 : 0]
        if platform { header += [0x08, 0, 0, 0, 0, 0, 0, 0] }
        return header + frame
    }

    /// VXLAN (RFC 7348): flags (I), VNI, before an Ethernet frame.
    public static func vxlan(vni: UInt32, flags: UInt8 = 0x08, _ frame: [UInt8]) -> [UInt8] {
        [flags, 0, 0, 0] + Array(be32(vni << 8)) + frame
    }

    /// Geneve (RFC 8926): version, options (a multiple of 4 bytes), protocol type, VNI.
    public static func geneve(
        vni: UInt32, protocol type: Int = 0x6558, options: [UInt8] = [], version: UInt8 = 0, _ inner: [UInt8]
    ) -> [UInt8] {
        precondition(options.count % 4 == 0)
        return [version << 6 | UInt8(options.count / 4), 0] + be16(type) + be32(vni << 8) + options + inner
    }

    /// GTP-U (3GPP TS 29.281): version 1, PT 1, `type` (255: G-PDU), TEID; the 4-byte optional
    /// part when `sequence` or extension headers are given (each extension's bytes, its length
    /// byte first, its last byte left for the next type, which the builder sets).
    public static func gtpu(
        teid: UInt32, type: UInt8 = 0xFF, sequence: Bool = false, extensions: [[UInt8]] = [], _ packet: [UInt8]
    ) -> [UInt8] {
        var flags: UInt8 = 0x30
        if sequence { flags |= 0x02 }
        if !extensions.isEmpty { flags |= 0x04 }
        var body: [UInt8] = []
        if sequence || !extensions.isEmpty {
            body += [0, 1, 0, extensions.isEmpty ? 0 : 0x85]
            for (index, var ext) in extensions.enumerated() {
                ext[ext.count - 1] = index + 1 < extensions.count ? 0x85 : 0
                body += ext
            }
        }
        body += packet
        return [flags, type] + be16(body.count) + be32(teid) + body
    }

    /// CAPWAP data header (RFC 5415), 8 bytes (HLEN 2): an 802.3 frame, or a native 802.11 one
    /// (T set, WBID 1); `fragment` and `keepAlive` set F and K.
    public static func capwap(
        native80211: Bool = false, wbid: UInt32 = 1, fragment: Bool = false, keepAlive: Bool = false,
        _ frame: [UInt8]
    ) -> [UInt8] {
        var word: UInt32 = 2 << 19 | wbid << 9
        if native80211 { word |= 1 << 8 }
        if fragment { word |= 0x80 }
        if keepAlive { word |= 0x08 }
        return be32(word) + [0, 0, 0, 0] + frame
    }

    public static func bytes(_ count: Int, start: UInt8 = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: Int(start) + $0) }
    }
}
