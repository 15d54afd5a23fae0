/// RFC 4648 base64 with padding.
public enum Base64 {
    static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    /// The padded length of `count` bytes' encoding.
    public static func encodedLength(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    public static func encode(_ bytes: [UInt8], into out: inout [UInt8]) {
        bytes.withUnsafeBytes { raw in
            ByteWriter.append(to: &out, bound: encodedLength(raw.count)) { encode(raw, to: &$0) }
        }
    }

    static func encode(_ bytes: UnsafeRawBufferPointer, to w: inout ByteWriter) {
        let alphabet = Self.alphabet.utf8Start
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            // Four characters in one store (little-endian: the first character lowest).
            w.write(
                UInt32(alphabet[Int(n >> 18 & 63)]) | UInt32(alphabet[Int(n >> 12 & 63)]) << 8
                    | UInt32(alphabet[Int(n >> 6 & 63)]) << 16 | UInt32(alphabet[Int(n & 63)]) << 24)
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            w.write(alphabet[Int(n >> 18 & 63)])
            w.write(alphabet[Int(n >> 12 & 63)])
            w.write(rest == 2 ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            w.write(UInt8(ascii: "="))
        }
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        encode(bytes, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded or unpadded base64; nil on any other character.
    public static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var accumulator: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            let value: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(c - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(c - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            accumulator = accumulator << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return out
    }
}
