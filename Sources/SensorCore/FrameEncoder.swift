/// Writes a `FlowFrame` as one compact JSON object, keys in the wire order:
/// `src_ip dst_ip src_port dst_port protocol bytes_in bytes_out duration payload`, then with
/// `extended` `packets_in packets_out first_seen last_seen tcp_flags end_reason interface`, then
/// `label` when the frame has one.
public struct FrameEncoder: Sendable {
    public var extended: Bool

    public init(extended: Bool = false) {
        self.extended = extended
    }

    /// Appends the JSON object (no newline) to `out`.
    public func encode(_ frame: FlowFrame, into out: inout [UInt8]) {
        out.append(contentsOf: #"{"src_ip":""#.utf8)
        out.append(contentsOf: frame.source.description.utf8)
        out.append(contentsOf: #"","dst_ip":""#.utf8)
        out.append(contentsOf: frame.destination.description.utf8)
        out.append(contentsOf: #"","src_port":"#.utf8)
        appendInteger(UInt64(frame.sourcePort), to: &out)
        out.append(contentsOf: #","dst_port":"#.utf8)
        appendInteger(UInt64(frame.destinationPort), to: &out)
        out.append(contentsOf: #","protocol":""#.utf8)
        out.append(contentsOf: frame.transport.rawValue.utf8)
        out.append(contentsOf: #"","bytes_in":"#.utf8)
        appendInteger(frame.bytesIn, to: &out)
        out.append(contentsOf: #","bytes_out":"#.utf8)
        appendInteger(frame.bytesOut, to: &out)
        out.append(contentsOf: #","duration":"#.utf8)
        out.append(contentsOf: frame.duration.description.utf8)
        out.append(contentsOf: #","payload":"#.utf8)
        if let payload = frame.payload {
            out.append(UInt8(ascii: "\""))
            Base64.encode(payload, into: &out)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: "null".utf8)
        }
        if extended {
            out.append(contentsOf: #","packets_in":"#.utf8)
            appendInteger(frame.packetsIn, to: &out)
            out.append(contentsOf: #","packets_out":"#.utf8)
            appendInteger(frame.packetsOut, to: &out)
            out.append(contentsOf: #","first_seen":"#.utf8)
            appendMicroseconds(frame.firstSeen, to: &out)
            out.append(contentsOf: #","last_seen":"#.utf8)
            appendMicroseconds(frame.lastSeen, to: &out)
            out.append(contentsOf: #","tcp_flags":""#.utf8)
            out.append(contentsOf: frame.tcpFlags.letters.utf8)
            out.append(contentsOf: #"","end_reason":""#.utf8)
            out.append(contentsOf: frame.endReason.rawValue.utf8)
            out.append(contentsOf: #"","interface":"#.utf8)
            appendString(frame.interface, to: &out)
        }
        if let label = frame.label {
            out.append(contentsOf: #","label":"#.utf8)
            appendString(label, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The JSON object as a string (tests, logs).
    public func string(_ frame: FlowFrame) -> String {
        var bytes: [UInt8] = []
        encode(frame, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private func appendInteger(_ value: UInt64, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)  // a small string: no allocation
    }

    /// Epoch microseconds as seconds with six decimals: `1764072000.004211`.
    private func appendMicroseconds(_ micros: Int64, to out: inout [UInt8]) {
        if micros < 0 { out.append(UInt8(ascii: "-")) }
        let magnitude = micros.magnitude
        appendInteger(magnitude / 1_000_000, to: &out)
        out.append(UInt8(ascii: "."))
        var fraction = magnitude % 1_000_000
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: 6)
        for i in (0..<6).reversed() {
            digits[i] = UInt8(ascii: "0") + UInt8(fraction % 10)
            fraction /= 10
        }
        out.append(contentsOf: digits)
    }

    private func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// RFC 4648 base64 with padding.
public enum Base64 {
    private static let alphabet = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8], into out: inout [UInt8]) {
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
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
