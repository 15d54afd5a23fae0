#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address held as 16 raw bytes in network order (IPv4 in the first four).
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The first and last eight bytes, loaded in memory order.
    public var high: UInt64
    public var low: UInt64
    public var isIPv6: Bool

    public init(high: UInt64, low: UInt64, isIPv6: Bool) {
        self.high = high
        self.low = low
        self.isIPv6 = isIPv6
    }

    /// From raw network-order bytes: 4 for IPv4, 16 for IPv6.
    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == 4 || bytes.count == 16)
        if bytes.count == 4 {
            high = UInt64(bytes.loadUnaligned(as: UInt32.self))
            low = 0
            isIPv6 = false
        } else {
            high = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
            low = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            isIPv6 = true
        }
    }

    public init(ipv4 a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self = withUnsafeBytes(of: (a, b, c, d)) { IPAddress(bytes: $0) }
    }

    /// Parses dotted-decimal IPv4 or RFC 4291 IPv6 text.
    public init?(_ text: String) {
        var storage = (UInt64(0), UInt64(0))
        let parsed = withUnsafeMutableBytes(of: &storage) { raw -> IPAddress? in
            if inet_pton(AF_INET, text, raw.baseAddress) == 1 {
                return IPAddress(bytes: UnsafeRawBufferPointer(rebasing: raw[0..<4]))
            }
            if inet_pton(AF_INET6, text, raw.baseAddress) == 1 {
                return IPAddress(bytes: UnsafeRawBufferPointer(raw))
            }
            return nil
        }
        guard let parsed else { return nil }
        self = parsed
    }

    /// Dotted decimal, or RFC 5952 text (lowercase, longest zero run of two or more as `::`).
    public var description: String {
        var raw = (high, low)
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        withUnsafeBytes(of: &raw) { bytes in
            _ = inet_ntop(isIPv6 ? AF_INET6 : AF_INET, bytes.baseAddress, &text, socklen_t(text.count))
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Appends `description`'s text to `out` without building a String: IPv4 digit by digit,
    /// IPv6 through `inet_ntop` into a stack buffer (RFC 5952 either way).
    public func appendText(to out: inout [UInt8]) {
        if !isIPv6 {
            withUnsafeBytes(of: high) { bytes in
                for i in 0..<4 {
                    if i > 0 { out.append(UInt8(ascii: ".")) }
                    let b = bytes[i]
                    if b >= 100 { out.append(UInt8(ascii: "0") &+ b / 100) }
                    if b >= 10 { out.append(UInt8(ascii: "0") &+ b / 10 % 10) }
                    out.append(UInt8(ascii: "0") &+ b % 10)
                }
            }
            return
        }
        var raw = (high, low)
        var text: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)  // 48 >= 46
        withUnsafeBytes(of: &raw) { bytes in
            withUnsafeMutableBytes(of: &text) { buffer in
                let chars = buffer.baseAddress!.assumingMemoryBound(to: CChar.self)
                guard inet_ntop(AF_INET6, bytes.baseAddress, chars, socklen_t(buffer.count)) != nil else { return }
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<strlen(chars)]))
            }
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        let l = (lhs.isIPv6 ? 1 : 0, lhs.high.bigEndian, lhs.low.bigEndian)
        let r = (rhs.isIPv6 ? 1 : 0, rhs.high.bigEndian, rhs.low.bigEndian)
        return l < r
    }
}
