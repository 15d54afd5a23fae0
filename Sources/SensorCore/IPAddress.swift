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

    /// Dotted decimal, or RFC 5952 text (lowercase, no leading zeros, the longest run of two or
    /// more zero groups as `::`, the first on a tie; dotted quad only for IPv4-mapped addresses).
    public var description: String {
        var text: [UInt8] = []
        ByteWriter.append(to: &text, bound: 64) { write(to: &$0) }
        return String(decoding: text, as: UTF8.self)
    }

    /// Writes `description`'s text (at most 45 bytes) without building a String.
    func write(to w: inout ByteWriter) {
        if !isIPv6 {
            withUnsafeBytes(of: high) { Self.writeDottedQuad($0, to: &w) }
            return
        }
        withUnsafeBytes(of: (high, low)) { bytes in
            let group = { (i: Int) in UInt16(bytes[2 * i]) << 8 | UInt16(bytes[2 * i + 1]) }
            // IPv4-mapped: ::ffff:a.b.c.d
            if (0..<5).allSatisfy({ group($0) == 0 }) && group(5) == 0xFFFF {
                w.write("::ffff:")
                Self.writeDottedQuad(UnsafeRawBufferPointer(rebasing: bytes[12..<16]), to: &w)
                return
            }
            var (bestStart, bestLength, start) = (-1, 0, -1)
            for i in 0...8 {
                if i < 8 && group(i) == 0 {
                    if start < 0 { start = i }
                } else if start >= 0 {
                    if i - start > bestLength { (bestStart, bestLength) = (start, i - start) }
                    start = -1
                }
            }
            if bestLength < 2 { (bestStart, bestLength) = (-1, 0) }
            var i = 0
            while i < 8 {
                if i == bestStart {
                    w.write("::")
                    i += bestLength
                    continue
                }
                if i > 0 && i != bestStart + bestLength { w.write(UInt8(ascii: ":")) }
                w.writeHexGroup(group(i))
                i += 1
            }
        }
    }

    private static func writeDottedQuad(_ bytes: UnsafeRawBufferPointer, to w: inout ByteWriter) {
        for i in 0..<4 {
            if i > 0 { w.write(UInt8(ascii: ".")) }
            w.writeDecimal(UInt64(bytes[i]))
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        let l = (lhs.isIPv6 ? 1 : 0, lhs.high.bigEndian, lhs.low.bigEndian)
        let r = (rhs.isIPv6 ? 1 : 0, rhs.high.bigEndian, rhs.low.bigEndian)
        return l < r
    }
}
