/// IP protocol numbers (IANA; `IPPROTO_*` in <linux/in.h> and <linux/in6.h>) the parsers name.
public enum IPProtocolNumber {
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
    /// Tunnels the parsers decapsulate: IPv4 in IP, IPv6 in IP, GRE.
    public static let ipip: UInt8 = 4
    public static let ipv6: UInt8 = 41
    public static let gre: UInt8 = 47
    /// IPv6 extension headers the parsers skip.
    public static let hopByHop: UInt8 = 0
    public static let routing: UInt8 = 43
    public static let fragment: UInt8 = 44
    public static let authentication: UInt8 = 51
    public static let destinationOptions: UInt8 = 60
}
