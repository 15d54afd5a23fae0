/// One flow, or one active-timeout period of a long flow: what Kronos and the training files see.
///
/// `source` is the initiator. `bytesIn` and `packetsIn` are what the initiator sent, `bytesOut`
/// and `packetsOut` what the responder sent; bytes are L4 payload bytes.
public struct FlowFrame: Equatable, Sendable {
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var transport: FlowProtocol
    /// The IP protocol number (IANA: 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6...): what `transport` is
    /// when it is `.other`. Not in the NDJSON frame (its `protocol` is TCP, UDP or OTHER); a frame
    /// read back from NDJSON has 6, 17 or 0. The IPFIX exporter sends it as `protocolIdentifier`.
    public var protocolNumber: UInt8
    public var bytesIn: UInt64
    public var bytesOut: UInt64
    /// Seconds from the first to the last packet of the frame.
    public var duration: Double
    /// Up to 128 bytes of the first payload (see `FlowTable`); nil in continuation frames.
    public var payload: [UInt8]?

    // Extended fields (`--extended`).
    public var packetsIn: UInt64
    public var packetsOut: UInt64
    /// Microseconds since the Unix epoch.
    public var firstSeen: Int64
    public var lastSeen: Int64
    public var tcpFlags: TCPFlags
    public var endReason: EndReason
    public var interface: String
    /// The outermost VLAN tag's ID; 0 untagged.
    public var vlan: UInt16
    /// The tunnel the flow's packets were taken out of (its first packet's outer header); nil
    /// for a flow seen bare.
    public var tunnel: Tunnel?

    /// Which flow the frame belongs to (`flowID`), and its place among that flow's frames
    /// (`frameIndex`, 0 for the first, then one per active-timeout continuation or late period
    /// after a close): lets a later stage (labeling) treat active-timeout continuations like the
    /// first frame.
    public var flowID: UInt64
    public var frameIndex: UInt32
    /// Set by the labeling stage; written last when present.
    public var label: String?

    public init(
        source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16,
        transport: FlowProtocol, bytesIn: UInt64, bytesOut: UInt64, duration: Double,
        payload: [UInt8]?, packetsIn: UInt64 = 0, packetsOut: UInt64 = 0, firstSeen: Int64 = 0,
        lastSeen: Int64 = 0, tcpFlags: TCPFlags = [], endReason: EndReason = .shutdown,
        interface: String = "", flowID: UInt64 = 0, frameIndex: UInt32 = 0, label: String? = nil,
        protocolNumber: UInt8? = nil, vlan: UInt16 = 0, tunnel: Tunnel? = nil
    ) {
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.transport = transport
        self.protocolNumber = protocolNumber ?? transport.number
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.duration = duration
        self.payload = payload
        self.packetsIn = packetsIn
        self.packetsOut = packetsOut
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.tcpFlags = tcpFlags
        self.endReason = endReason
        self.interface = interface
        self.vlan = vlan
        self.tunnel = tunnel
        self.flowID = flowID
        self.frameIndex = frameIndex
        self.label = label
    }
}

public enum FlowProtocol: String, Sendable, CaseIterable {
    case tcp = "TCP"
    case udp = "UDP"
    case other = "OTHER"

    public init(number: UInt8) {
        switch number {
        case IPProtocolNumber.tcp: self = .tcp
        case IPProtocolNumber.udp: self = .udp
        default: self = .other
        }
    }

    /// The IP protocol number of TCP and UDP; 0 for `.other`, which stands for every other one.
    public var number: UInt8 {
        switch self {
        case .tcp: IPProtocolNumber.tcp
        case .udp: IPProtocolNumber.udp
        case .other: 0
        }
    }
}

/// Why a frame was emitted.
public enum EndReason: String, Sendable, CaseIterable, BitwiseCopyable {
    case fin, rst, idle, active, evicted, shutdown

    /// The position in `allCases`, without searching it.
    public var index: Int {
        switch self {
        case .fin: 0
        case .rst: 1
        case .idle: 2
        case .active: 3
        case .evicted: 4
        case .shutdown: 5
        }
    }
}
