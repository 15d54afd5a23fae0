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
        out.reserveCapacity(out.count + 512)
        out.append(contentsOf: #"{"src_ip":""#.utf8)
        frame.source.appendText(to: &out)
        out.append(contentsOf: #"","dst_ip":""#.utf8)
        frame.destination.appendText(to: &out)
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
            appendFlagLetters(frame.tcpFlags, to: &out)
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

    /// Decimal digits, no allocation (the hot path encodes a dozen integers per frame).
    private func appendInteger(_ value: UInt64, to out: inout [UInt8]) {
        if value < 10 {
            out.append(UInt8(ascii: "0") &+ UInt8(value))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: UInt64.max has 20 digits
        withUnsafeMutableBytes(of: &digits) { buffer in
            var v = value
            var i = buffer.count
            while v > 0 {
                i -= 1
                buffer[i] = UInt8(ascii: "0") &+ UInt8(v % 10)
                v /= 10
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[i...]))
        }
    }

    /// Epoch microseconds as seconds with six decimals: `1764072000.004211`.
    private func appendMicroseconds(_ micros: Int64, to out: inout [UInt8]) {
        if micros < 0 { out.append(UInt8(ascii: "-")) }
        let magnitude = micros.magnitude
        appendInteger(magnitude / 1_000_000, to: &out)
        out.append(UInt8(ascii: "."))
        var fraction = magnitude % 1_000_000
        var digits: UInt64 = 0  // six ASCII digits in the low bytes, first digit first
        withUnsafeMutableBytes(of: &digits) { buffer in
            for i in (0..<6).reversed() {
                buffer[i] = UInt8(ascii: "0") &+ UInt8(fraction % 10)
                fraction /= 10
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<6]))
        }
    }

    /// `TCPFlags.letters` without building a string: the letters in the order `SAFPRUEC`.
    private func appendFlagLetters(_ flags: TCPFlags, to out: inout [UInt8]) {
        if flags.contains(.syn) { out.append(UInt8(ascii: "S")) }
        if flags.contains(.ack) { out.append(UInt8(ascii: "A")) }
        if flags.contains(.fin) { out.append(UInt8(ascii: "F")) }
        if flags.contains(.psh) { out.append(UInt8(ascii: "P")) }
        if flags.contains(.rst) { out.append(UInt8(ascii: "R")) }
        if flags.contains(.urg) { out.append(UInt8(ascii: "U")) }
        if flags.contains(.ece) { out.append(UInt8(ascii: "E")) }
        if flags.contains(.cwr) { out.append(UInt8(ascii: "C")) }
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
        let length = (bytes.count + 2) / 3 * 4
        guard length > 0 else { return }
        let start = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: "="), count: length))  // padding stays
        alphabet.withUnsafeBufferPointer { alphabet in
            bytes.withUnsafeBufferPointer { bytes in
                out.withUnsafeMutableBufferPointer { out in
                    var i = 0
                    var o = start
                    while i + 3 <= bytes.count {
                        let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                        out[o] = alphabet[Int(n >> 18 & 63)]
                        out[o + 1] = alphabet[Int(n >> 12 & 63)]
                        out[o + 2] = alphabet[Int(n >> 6 & 63)]
                        out[o + 3] = alphabet[Int(n & 63)]
                        i += 3
                        o += 4
                    }
                    let rest = bytes.count - i
                    if rest > 0 {
                        let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
                        out[o] = alphabet[Int(n >> 18 & 63)]
                        out[o + 1] = alphabet[Int(n >> 12 & 63)]
                        if rest == 2 { out[o + 2] = alphabet[Int(n >> 6 & 63)] }
                    }
                }
            }
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
