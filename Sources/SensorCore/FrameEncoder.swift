/// Writes a `FlowFrame` as one compact JSON object, keys in the wire order:
/// `src_ip dst_ip src_port dst_port protocol bytes_in bytes_out duration payload`, then with
/// `extended` `packets_in packets_out first_seen last_seen tcp_flags end_reason interface vlan`
/// and, for a flow taken out of a tunnel, `tunnel tunnel_src tunnel_dst` (and `tunnel_id` where
/// the tunnel has one), then `label` when the frame has one.
public struct FrameEncoder: Sendable {
    public var extended: Bool

    public init(extended: Bool = false) {
        self.extended = extended
    }

    /// Appends the JSON object (no newline) to `out`.
    public func encode(_ frame: FlowFrame, into out: inout [UInt8]) {
        ByteWriter.append(to: &out, bound: Self.bound(frame)) { w in write(frame, to: &w) }
    }

    /// The JSON object as a string (tests, logs).
    public func string(_ frame: FlowFrame) -> String {
        var bytes: [UInt8] = []
        encode(frame, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An upper bound of the encoded size: 800 covers the keys and every number and address at
    /// its longest; an escaped string can grow sixfold (`\u00XX`).
    private static func bound(_ frame: FlowFrame) -> Int {
        800 + Base64.encodedLength(frame.payload?.count ?? 0)
            + 6 * (frame.interface.utf8.count + (frame.label?.utf8.count ?? 0))
    }

    private func write(_ frame: FlowFrame, to w: inout ByteWriter) {
        w.write(#"{"src_ip":""#)
        frame.source.write(to: &w)
        w.write(#"","dst_ip":""#)
        frame.destination.write(to: &w)
        w.write(#"","src_port":"#)
        w.writeDecimal(UInt64(frame.sourcePort))
        w.write(#","dst_port":"#)
        w.writeDecimal(UInt64(frame.destinationPort))
        w.write(#","protocol":""#)
        w.writeUTF8(frame.transport.rawValue)
        w.write(#"","bytes_in":"#)
        w.writeDecimal(frame.bytesIn)
        w.write(#","bytes_out":"#)
        w.writeDecimal(frame.bytesOut)
        w.write(#","duration":"#)
        writeDuration(frame.duration, to: &w)
        w.write(#","payload":"#)
        if let payload = frame.payload {
            w.write(UInt8(ascii: "\""))
            payload.withUnsafeBytes { Base64.encode($0, to: &w) }
            w.write(UInt8(ascii: "\""))
        } else {
            w.write("null")
        }
        if extended {
            w.write(#","packets_in":"#)
            w.writeDecimal(frame.packetsIn)
            w.write(#","packets_out":"#)
            w.writeDecimal(frame.packetsOut)
            w.write(#","first_seen":"#)
            writeMicroseconds(frame.firstSeen, to: &w)
            w.write(#","last_seen":"#)
            writeMicroseconds(frame.lastSeen, to: &w)
            w.write(#","tcp_flags":""#)
            writeFlagLetters(frame.tcpFlags, to: &w)
            w.write(#"","end_reason":""#)
            w.writeUTF8(frame.endReason.rawValue)
            w.write(#"","interface":"#)
            writeString(frame.interface, to: &w)
            w.write(#","vlan":"#)
            w.writeDecimal(UInt64(frame.vlan))
            if let tunnel = frame.tunnel {
                w.write(#","tunnel":""#)
                w.writeUTF8(tunnel.kind.name)
                w.write(#"","tunnel_src":""#)
                tunnel.outerSource.write(to: &w)
                w.write(#"","tunnel_dst":""#)
                tunnel.outerDestination.write(to: &w)
                w.write(UInt8(ascii: "\""))
                if let id = tunnel.id {
                    w.write(#","tunnel_id":"#)
                    w.writeDecimal(UInt64(id))
                }
            }
        }
        if let label = frame.label {
            w.write(#","label":"#)
            writeString(label, to: &w)
        }
        w.write(UInt8(ascii: "}"))
    }

    /// `seconds.description`: Swift's shortest text that reads back as the same Double (Python
    /// prints the same). The common case skips the general algorithm: a whole number of
    /// microseconds, whose shortest text is those microseconds' own digits (two decimals of at
    /// most 15 significant digits are never the same Double, so no shorter text reads back as
    /// this value): `0.004211`, `12.0`, and below 0.0001 s in exponent form, `7e-06`, `2.5e-05`.
    private func writeDuration(_ seconds: Double, to w: inout ByteWriter) {
        let micros = (seconds * 1_000_000).rounded()
        if micros >= 1, micros < 1e15, Double(Int64(micros)) / 1_000_000 == seconds {
            let n = UInt64(micros)
            if n < 10 {
                w.writeDecimal(n)
                w.write("e-06")
                return
            }
            if n < 100 {
                w.writeDecimal(n / 10)
                if n % 10 != 0 {
                    w.write(UInt8(ascii: "."))
                    w.writeDecimal(n % 10)
                }
                w.write("e-05")
                return
            }
            w.writeDecimal(n / 1_000_000)
            w.write(UInt8(ascii: "."))
            var fraction = n % 1_000_000
            if fraction == 0 {
                w.write(UInt8(ascii: "0"))
            } else {
                var width = 6
                while fraction % 10 == 0 {
                    fraction /= 10
                    width -= 1
                }
                w.writeDecimal(fraction, width: width)
            }
            return
        }
        w.writeUTF8(seconds.description)
    }

    /// Epoch microseconds as seconds with six decimals: `1764072000.004211`.
    private func writeMicroseconds(_ micros: Int64, to w: inout ByteWriter) {
        if micros < 0 { w.write(UInt8(ascii: "-")) }
        let magnitude = micros.magnitude
        w.writeDecimal(magnitude / 1_000_000)
        w.write(UInt8(ascii: "."))
        w.writeDecimal(magnitude % 1_000_000, width: 6)
    }

    /// `TCPFlags.letters` without building a string: the letters in the order `SAFPRUEC`.
    private func writeFlagLetters(_ flags: TCPFlags, to w: inout ByteWriter) {
        if flags.contains(.syn) { w.write(UInt8(ascii: "S")) }
        if flags.contains(.ack) { w.write(UInt8(ascii: "A")) }
        if flags.contains(.fin) { w.write(UInt8(ascii: "F")) }
        if flags.contains(.psh) { w.write(UInt8(ascii: "P")) }
        if flags.contains(.rst) { w.write(UInt8(ascii: "R")) }
        if flags.contains(.urg) { w.write(UInt8(ascii: "U")) }
        if flags.contains(.ece) { w.write(UInt8(ascii: "E")) }
        if flags.contains(.cwr) { w.write(UInt8(ascii: "C")) }
    }

    private func writeString(_ text: String, to w: inout ByteWriter) {
        w.write(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\""): w.write(#"\""#)
                case UInt8(ascii: "\\"): w.write(#"\\"#)
                case 0x0A: w.write(#"\n"#)
                case 0x0D: w.write(#"\r"#)
                case 0x09: w.write(#"\t"#)
                case 0..<0x20:
                    let hex: StaticString = "0123456789abcdef"
                    w.write(#"\u00"#)
                    w.write(hex.utf8Start[Int(byte >> 4)])
                    w.write(hex.utf8Start[Int(byte & 0xF)])
                default: w.write(byte)
                }
            }
        }
        w.write(UInt8(ascii: "\""))
    }
}
