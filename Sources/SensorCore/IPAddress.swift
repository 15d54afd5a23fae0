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
        appendText(to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends `description`'s text to `out` without building a String.
    public func appendText(to out: inout [UInt8]) {
        if !isIPv6 {
            withUnsafeBytes(of: high) { Self.appendDottedQuad($0, to: &out) }
            return
        }
        withUnsafeBytes(of: (high, low)) { bytes in
            var groups: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16) =
                (0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &groups) { g in
                for i in 0..<8 {
                    g.storeBytes(of: UInt16(bytes[2 * i]) << 8 | UInt16(bytes[2 * i + 1]), toByteOffset: 2 * i, as: UInt16.self)
                }
            }
            withUnsafeBytes(of: groups) { raw in
                let group = { (i: Int) in raw.load(fromByteOffset: 2 * i, as: UInt16.self) }
                // IPv4-mapped: ::ffff:a.b.c.d
                if (0..<5).allSatisfy({ group($0) == 0 }) && group(5) == 0xFFFF {
                    out.append(contentsOf: "::ffff:".utf8)
                    Self.appendDottedQuad(UnsafeRawBufferPointer(rebasing: bytes[12..<16]), to: &out)
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
                        out.append(contentsOf: "::".utf8)
                        i += bestLength
                        continue
                    }
                    if i > 0 && i != bestStart + bestLength { out.append(UInt8(ascii: ":")) }
                    Self.appendHex(group(i), to: &out)
                    i += 1
                }
            }
        }
    }

    private static func appendDottedQuad(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        for i in 0..<4 {
            if i > 0 { out.append(UInt8(ascii: ".")) }
            let b = bytes[i]
            if b >= 100 { out.append(UInt8(ascii: "0") &+ b / 100) }
            if b >= 10 { out.append(UInt8(ascii: "0") &+ b / 10 % 10) }
            out.append(UInt8(ascii: "0") &+ b % 10)
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func appendHex(_ value: UInt16, to out: inout [UInt8]) {
        var started = false
        for shift in stride(from: 12, through: 0, by: -4) {
            let nibble = Int(value >> UInt16(shift) & 0xF)
            if nibble != 0 || started || shift == 0 {
                out.append(hexDigits[nibble])
                started = true
            }
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        let l = (lhs.isIPv6 ? 1 : 0, lhs.high.bigEndian, lhs.low.bigEndian)
        let r = (rhs.isIPv6 ? 1 : 0, rhs.high.bigEndian, rhs.low.bigEndian)
        return l < r
    }
}
