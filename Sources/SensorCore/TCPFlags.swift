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
