/// One observed packet, as both parsers (the BPF program and the pcap parser) describe it.
///
/// The payload snapshot is not part of the event: it travels beside it as a borrowed buffer, so
/// the hot path copies it only for the few packets whose payload a flow keeps.
public struct PacketEvent: Equatable, Sendable {
    /// Wall-clock time in nanoseconds since the Unix epoch.
    public var timestamp: Int64
    /// The interface index (live) or 0 (files).
    public var interface: UInt32
    public var source: IPAddress
    public var destination: IPAddress
    /// Host order; 0 for protocols without ports and for non-first fragments.
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// The IP protocol number of the L4 header (6 TCP, 17 UDP, ...).
    public var transport: UInt8
    public var tcpFlags: TCPFlags
    /// The full L4 payload length, whatever part of it was snapshotted.
    public var payloadLength: UInt32
    /// The outermost 802.1Q/802.1ad tag's VLAN ID; 0 untagged. Part of the flow key: the same
    /// addresses on two VLANs are two flows.
    public var vlan: UInt16
    /// The tunnel the packet was taken out of (the other fields describe the inner packet); nil
    /// for a packet that was not in one.
    public var tunnel: Tunnel?

    public init(
        timestamp: Int64, interface: UInt32 = 0, source: IPAddress, destination: IPAddress,
        sourcePort: UInt16, destinationPort: UInt16, transport: UInt8,
        tcpFlags: TCPFlags = [], payloadLength: UInt32, vlan: UInt16 = 0, tunnel: Tunnel? = nil
    ) {
        self.timestamp = timestamp
        self.interface = interface
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.transport = transport
        self.tcpFlags = tcpFlags
        self.payloadLength = payloadLength
        self.vlan = vlan
        self.tunnel = tunnel
    }
}
