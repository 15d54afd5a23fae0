import CSensorABI

/// The tunnel a packet was taken out of: both parsers decapsulate one level (see
/// `PacketParser`), and the event then describes the inner packet, this the outer one.
public struct Tunnel: Hashable, Sendable {
    /// The encapsulations read (`DPS_TUNNEL_*`).
    public enum Kind: UInt8, Sendable, CaseIterable {
        /// IP protocol 4: IPv4 inside IPv4 or IPv6.
        case ipip = 1
        /// IP protocol 41: IPv6 inside IPv4 (6in4) or IPv6.
        case sit = 2
        /// GRE version 0 carrying IPv4, IPv6, MPLS or an Ethernet frame (gretap); `id` is its key.
        case gre = 3
        /// ERSPAN type I, II or III over GRE; `id` is the session ID (types II and III).
        case erspan = 4
        /// VXLAN, UDP port 4789; `id` is the VNI.
        case vxlan = 5
        /// Geneve, UDP port 6081; `id` is the VNI.
        case geneve = 6
        /// GTP-U, UDP port 2152, G-PDU messages; `id` is the TEID.
        case gtpu = 7
        /// CAPWAP data, UDP port 5247: 802.3 or 802.11 frames.
        case capwap = 8

        /// The name frames carry (`"tunnel"`).
        public var name: String {
            switch self {
            case .ipip: "ipip"
            case .sit: "sit"
            case .gre: "gre"
            case .erspan: "erspan"
            case .vxlan: "vxlan"
            case .geneve: "geneve"
            case .gtpu: "gtpu"
            case .capwap: "capwap"
            }
        }

        public init?(name: String) {
            guard let kind = Self.allCases.first(where: { $0.name == name }) else { return nil }
            self = kind
        }
    }

    public var kind: Kind
    /// The outer packet's addresses, as it was sent.
    public var outerSource: IPAddress
    public var outerDestination: IPAddress
    /// The VNI, GRE key, ERSPAN session ID or TEID, where the tunnel header has one.
    public var id: UInt32?

    public init(kind: Kind, outerSource: IPAddress, outerDestination: IPAddress, id: UInt32? = nil) {
        self.kind = kind
        self.outerSource = outerSource
        self.outerDestination = outerDestination
        self.id = id
    }

    /// What the tunnel adds to the flow key: the virtual network of VXLAN and Geneve (their VNI),
    /// so that two tenants' overlapping addresses are two flows, as two VLANs are; 0 for the
    /// others, whose IDs differ by direction (GTP-U TEIDs) or name no network.
    var segment: UInt32 {
        switch kind {
        case .vxlan, .geneve: 1 << 24 | (id ?? 0)
        default: 0
        }
    }
}
