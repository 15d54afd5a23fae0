/// Both directions of a conversation map to one key: endpoint `a` is the lower of the two
/// (address, port) pairs. The interface is part of the key, so a packet seen on two interfaces of
/// a router is two flows, one per interface, never one flow counted twice; so is the VLAN ID, so
/// the same addresses on two VLANs (or a trunk mirrored twice) are two flows, and so is the
/// virtual network of a VXLAN or Geneve tunnel (`Tunnel.segment`).
struct FlowKey: Equatable, BitwiseCopyable {
    // Stored flat (48 bytes, not the 56 two `IPAddress`es take with their padding): the key is
    // held in every entry, a million times over.
    private var aHigh: UInt64
    private var aLow: UInt64
    private var bHigh: UInt64
    private var bLow: UInt64
    var interface: UInt32
    var aPort: UInt16
    var bPort: UInt16
    var segment: UInt32
    /// The VLAN ID in the low 12 bits; bit 15 set when `a` is IPv6, bit 14 when `b` is (one byte
    /// less keeps the entry that holds the key at 136 bytes).
    private var vlanAndVersions: UInt16
    var transport: UInt8

    init(
        a: IPAddress, b: IPAddress, aPort: UInt16, bPort: UInt16, transport: UInt8, interface: UInt32,
        vlan: UInt16 = 0, segment: UInt32 = 0
    ) {
        aHigh = a.high
        aLow = a.low
        bHigh = b.high
        bLow = b.low
        self.interface = interface
        self.aPort = aPort
        self.bPort = bPort
        self.transport = transport
        self.segment = segment
        vlanAndVersions = vlan & 0x0FFF | (a.isIPv6 ? 0x8000 : 0) | (b.isIPv6 ? 0x4000 : 0)
    }

    var a: IPAddress { IPAddress(high: aHigh, low: aLow, isIPv6: vlanAndVersions & 0x8000 != 0) }
    var b: IPAddress { IPAddress(high: bHigh, low: bLow, isIPv6: vlanAndVersions & 0x4000 != 0) }
    var vlan: UInt16 { vlanAndVersions & 0x0FFF }

    /// The key as six words, for hashing.
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) {
        (
            aHigh, aLow, bHigh, bLow, UInt64(interface) << 32 | UInt64(aPort) << 16 | UInt64(bPort),
            UInt64(segment) << 32 | UInt64(vlanAndVersions) << 8 | UInt64(transport)
        )
    }

    /// The key of `event`'s flow, and which endpoint sent it.
    static func canonical(_ event: PacketEvent) -> (FlowKey, side: FlowSide) {
        let segment = event.tunnel?.segment ?? 0
        let sourceFirst =
            event.source < event.destination
            || (event.source == event.destination && event.sourcePort <= event.destinationPort)
        if sourceFirst {
            return (
                FlowKey(
                    a: event.source, b: event.destination, aPort: event.sourcePort,
                    bPort: event.destinationPort, transport: event.transport,
                    interface: event.interface, vlan: event.vlan, segment: segment), .a
            )
        }
        return (
            FlowKey(
                a: event.destination, b: event.source, aPort: event.destinationPort,
                bPort: event.sourcePort, transport: event.transport, interface: event.interface,
                vlan: event.vlan, segment: segment), .b
        )
    }
}
