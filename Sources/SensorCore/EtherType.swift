/// EtherTypes (`ETH_P_*` in <linux/if_ether.h>) the parsers name.
public enum EtherType {
    /// ETH_P_IP.
    public static let ipv4: UInt16 = 0x0800
    /// ETH_P_IPV6.
    public static let ipv6: UInt16 = 0x86DD
    /// ETH_P_8021Q: an 802.1Q VLAN tag follows.
    public static let vlan: UInt16 = 0x8100
    /// ETH_P_8021AD: an 802.1ad (QinQ) service tag follows.
    public static let serviceVLAN: UInt16 = 0x88A8
    /// ETH_P_PPP_SES: a PPPoE session frame (RFC 2516) follows.
    public static let pppoeSession: UInt16 = 0x8864
    /// ETH_P_MPLS_UC / ETH_P_MPLS_MC: an MPLS label stack follows.
    public static let mplsUnicast: UInt16 = 0x8847
    public static let mplsMulticast: UInt16 = 0x8848
    /// ETH_P_TEB: transparent Ethernet bridging, an Ethernet frame follows (GRE, Geneve).
    public static let transparentBridging: UInt16 = 0x6558
    /// ETH_P_ERSPAN: ERSPAN type I or II over GRE; ETH_P_ERSPAN2: type III.
    public static let erspan: UInt16 = 0x88BE
    public static let erspan3: UInt16 = 0x22EB
}
