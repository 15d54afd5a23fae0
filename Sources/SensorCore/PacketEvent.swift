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

    public init(
        timestamp: Int64, interface: UInt32 = 0, source: IPAddress, destination: IPAddress,
        sourcePort: UInt16, destinationPort: UInt16, transport: UInt8,
        tcpFlags: TCPFlags = [], payloadLength: UInt32
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
    }
}

public enum IPProtocolNumber {
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
}

/// TCP header flags, bit for bit as in the header's 14th byte.
public struct TCPFlags: OptionSet, Hashable, Sendable, BitwiseCopyable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)
    public static let urg = TCPFlags(rawValue: 0x20)
    public static let ece = TCPFlags(rawValue: 0x40)
    public static let cwr = TCPFlags(rawValue: 0x80)

    /// Letters in a fixed order, one per flag present: `"SAFP"` is SYN, ACK, FIN, PSH.
    public var letters: String {
        let order: [(TCPFlags, Character)] = [
            (.syn, "S"), (.ack, "A"), (.fin, "F"), (.psh, "P"), (.rst, "R"), (.urg, "U"),
            (.ece, "E"), (.cwr, "C"),
        ]
        return String(order.compactMap { contains($0.0) ? $0.1 : nil })
    }

    public init(letters: String) {
        var flags: TCPFlags = []
        for letter in letters {
            switch letter {
            case "S": flags.insert(.syn)
            case "A": flags.insert(.ack)
            case "F": flags.insert(.fin)
            case "P": flags.insert(.psh)
            case "R": flags.insert(.rst)
            case "U": flags.insert(.urg)
            case "E": flags.insert(.ece)
            case "C": flags.insert(.cwr)
            default: break
            }
        }
        self = flags
    }
}
