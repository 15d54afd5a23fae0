import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// Why a line is not a FlowFrame.
public struct FrameParseError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A FlowFrame from one JSON object, checked strictly: the nine frame keys are required, the
/// `--extended` keys and `label` are optional, any other key, a repeated key or a value of the
/// wrong type is an error. Whitespace between tokens is allowed (`json.dumps` writes `", "` and
/// `": "`).
///
/// Values round-trip through `FrameEncoder`: `duration` is kept as the double the text denotes
/// (printed by the encoder in its shortest form), IPv4 addresses as given (IPv6 addresses are
/// written back in RFC 5952 form), `payload` as its bytes.
public enum FlowFrameJSON {
    public static func parse(_ line: some Collection<UInt8>) throws(FrameParseError) -> FlowFrame {
        let value = try JSONValue.parse(Array(line))
        guard case .object(let members) = value else {
            throw FrameParseError("not a JSON object (\(value.kind))")
        }
        var fields = Fields()
        var seen = Set<String>()
        for (key, value) in members {
            guard seen.insert(key).inserted else {
                throw FrameParseError("key \"\(Echo.escaped(key, limit: 64))\" appears twice")
            }
            try fields.read(key, value)
        }
        return try fields.frame()
    }

    /// The keys read so far: the nine a frame must have, each until it is there; the optional
    /// ones straight into `optional`.
    private struct Fields {
        var source: IPAddress?
        var destination: IPAddress?
        var sourcePort: UInt16?
        var destinationPort: UInt16?
        var transport: FlowProtocol?
        var bytesIn: UInt64?
        var bytesOut: UInt64?
        var duration: Double?
        var payload: [UInt8]??
        var tunnel: Tunnel.Kind?
        var tunnelSource: IPAddress?
        var tunnelDestination: IPAddress?
        var tunnelID: UInt32?
        var optional = FlowFrame(
            source: IPAddress(ipv4: 0, 0, 0, 0), destination: IPAddress(ipv4: 0, 0, 0, 0), sourcePort: 0,
            destinationPort: 0, transport: .tcp, bytesIn: 0, bytesOut: 0, duration: 0, payload: nil)

        mutating func read(_ key: String, _ value: JSONValue) throws(FrameParseError) {
            switch key {
            case "src_ip": source = try address(key, value)
            case "dst_ip": destination = try address(key, value)
            case "src_port": sourcePort = UInt16(try integer(key, value, max: UInt64(UInt16.max)))
            case "dst_port": destinationPort = UInt16(try integer(key, value, max: UInt64(UInt16.max)))
            case "protocol": transport = try flowProtocol(value)
            case "bytes_in": bytesIn = try integer(key, value)
            case "bytes_out": bytesOut = try integer(key, value)
            case "duration": duration = try seconds(value)
            case "payload": payload = .some(try snapshot(value))
            default: try readOptional(key, value)
            }
        }

        /// The `--extended` keys and `label`.
        private mutating func readOptional(_ key: String, _ value: JSONValue) throws(FrameParseError) {
            switch key {
            case "packets_in": optional.packetsIn = try integer(key, value)
            case "packets_out": optional.packetsOut = try integer(key, value)
            case "first_seen": optional.firstSeen = try epochMicroseconds(key, value)
            case "last_seen": optional.lastSeen = try epochMicroseconds(key, value)
            case "tcp_flags": optional.tcpFlags = try tcpFlags(value)
            case "end_reason": optional.endReason = try endReason(value)
            case "interface": optional.interface = try string(key, value)
            case "vlan": optional.vlan = UInt16(try integer(key, value, max: 4095))
            case "tunnel": tunnel = try tunnelKind(value)
            case "tunnel_src": tunnelSource = try address(key, value)
            case "tunnel_dst": tunnelDestination = try address(key, value)
            case "tunnel_id": tunnelID = UInt32(try integer(key, value, max: UInt64(UInt32.max)))
            case "label": optional.label = try label(value)
            default: throw FrameParseError("unknown key \"\(Echo.escaped(key, limit: 64))\"")
            }
        }

        /// The tunnel keys go together: `tunnel`, `tunnel_src` and `tunnel_dst`, `tunnel_id` with
        /// them or not at all.
        func tunnelOfFrame() throws(FrameParseError) -> Tunnel? {
            guard let tunnel else {
                if tunnelSource != nil || tunnelDestination != nil || tunnelID != nil {
                    throw FrameParseError("tunnel_src, tunnel_dst and tunnel_id come only with \"tunnel\"")
                }
                return nil
            }
            guard let tunnelSource else { throw missing("tunnel_src") }
            guard let tunnelDestination else { throw missing("tunnel_dst") }
            return Tunnel(kind: tunnel, outerSource: tunnelSource, outerDestination: tunnelDestination, id: tunnelID)
        }

        /// The frame, once every required key has been read.
        func frame() throws(FrameParseError) -> FlowFrame {
            guard let source else { throw missing("src_ip") }
            guard let destination else { throw missing("dst_ip") }
            guard let sourcePort else { throw missing("src_port") }
            guard let destinationPort else { throw missing("dst_port") }
            guard let transport else { throw missing("protocol") }
            guard let bytesIn else { throw missing("bytes_in") }
            guard let bytesOut else { throw missing("bytes_out") }
            guard let duration else { throw missing("duration") }
            guard let payload else { throw missing("payload") }
            var frame = optional
            frame.tunnel = try tunnelOfFrame()
            frame.source = source
            frame.destination = destination
            frame.sourcePort = sourcePort
            frame.destinationPort = destinationPort
            frame.transport = transport
            frame.protocolNumber = transport.number
            frame.bytesIn = bytesIn
            frame.bytesOut = bytesOut
            frame.duration = duration
            frame.payload = payload
            return frame
        }
    }

    // MARK: - Values

    private static func tunnelKind(_ value: JSONValue) throws(FrameParseError) -> Tunnel.Kind {
        guard let kind = Tunnel.Kind(name: try string("tunnel", value)) else {
            let names = Tunnel.Kind.allCases.map { "\"\($0.name)\"" }.joined(separator: ", ")
            throw FrameParseError("key \"tunnel\": expected one of \(names), got \(value.summary)")
        }
        return kind
    }

    private static func flowProtocol(_ value: JSONValue) throws(FrameParseError) -> FlowProtocol {
        guard let parsed = FlowProtocol(rawValue: try string("protocol", value)) else {
            throw FrameParseError("key \"protocol\": expected \"TCP\", \"UDP\" or \"OTHER\", got \(value.summary)")
        }
        return parsed
    }

    private static func seconds(_ value: JSONValue) throws(FrameParseError) -> Double {
        guard case .number(let text) = value, let seconds = Double(text), seconds.isFinite, seconds >= 0 else {
            throw FrameParseError("key \"duration\": expected a number of seconds >= 0, got \(value.summary)")
        }
        return seconds
    }

    /// The FlowFrame contract: a snapshot of 1 to 128 bytes in canonical base64, or null for none.
    private static func snapshot(_ value: JSONValue) throws(FrameParseError) -> [UInt8]? {
        switch value {
        case .null:
            return nil
        case .string(let text):
            guard let bytes = Base64.decode(text), isCanonicalBase64(text, bytes: bytes) else {
                throw FrameParseError("key \"payload\": not valid base64: \(value.summary)")
            }
            guard !bytes.isEmpty else {
                throw FrameParseError("key \"payload\": empty (a frame without payload has null)")
            }
            guard bytes.count <= PacketParser.snapshotMax else {
                throw FrameParseError(
                    "key \"payload\": \(bytes.count) bytes, a FlowFrame snapshot holds at most "
                        + "\(PacketParser.snapshotMax)")
            }
            return bytes
        default:
            throw FrameParseError("key \"payload\": expected a base64 string or null, got \(value.summary)")
        }
    }

    private static func tcpFlags(_ value: JSONValue) throws(FrameParseError) -> TCPFlags {
        let text = try string("tcp_flags", value)
        guard text.allSatisfy({ "SAFPRUEC".contains($0) }) else {
            throw FrameParseError("key \"tcp_flags\": expected letters of SAFPRUEC, got \(value.summary)")
        }
        return TCPFlags(letters: text)
    }

    private static func endReason(_ value: JSONValue) throws(FrameParseError) -> EndReason {
        let text = try string("end_reason", value)
        guard let reason = EndReason(rawValue: text) else {
            let names = EndReason.allCases.map(\.rawValue).joined(separator: ", ")
            throw FrameParseError("key \"end_reason\": expected one of \(names), got \(value.summary)")
        }
        return reason
    }

    private static func label(_ value: JSONValue) throws(FrameParseError) -> String? {
        switch value {
        case .null: return nil
        case .string(let text): return text
        default: throw FrameParseError("key \"label\": expected a string or null, got \(value.summary)")
        }
    }

    private static func missing(_ key: String) -> FrameParseError {
        FrameParseError("missing key \"\(key)\"")
    }

    private static func string(_ key: String, _ value: JSONValue) throws(FrameParseError) -> String {
        guard case .string(let text) = value else {
            throw FrameParseError("key \"\(key)\": expected a string, got \(value.summary)")
        }
        return text
    }

    private static func address(_ key: String, _ value: JSONValue) throws(FrameParseError) -> IPAddress {
        guard case .string(let text) = value, let address = IPAddress(text) else {
            throw FrameParseError("key \"\(key)\": expected an IPv4 or IPv6 address, got \(value.summary)")
        }
        return address
    }

    /// A JSON integer (no fraction, no exponent, no sign) up to `max`.
    private static func integer(
        _ key: String, _ value: JSONValue, max: UInt64 = .max
    ) throws(FrameParseError) -> UInt64 {
        guard case .number(let text) = value, let parsed = UInt64(text), parsed <= max else {
            let range = max == .max ? "an integer >= 0" : "an integer 0–\(max)"
            throw FrameParseError("key \"\(key)\": expected \(range), got \(value.summary)")
        }
        return parsed
    }

    /// Epoch seconds with up to six decimals, as `FrameEncoder` writes them, to microseconds.
    private static func epochMicroseconds(_ key: String, _ value: JSONValue) throws(FrameParseError) -> Int64 {
        guard case .number(let text) = value else {
            throw FrameParseError("key \"\(key)\": expected epoch seconds, got \(value.summary)")
        }
        let negative = text.hasPrefix("-")
        let digits = negative ? text.dropFirst() : Substring(text)
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count <= 2, let whole = Int64(parts[0]), parts.count == 1 || parts[1].count <= 6,
            parts.count == 1 || parts[1].allSatisfy(\.isASCII) && parts[1].allSatisfy(\.isNumber)
        {
            var fraction: Int64 = 0
            if parts.count == 2 {
                fraction = Int64(parts[1] + String(repeating: "0", count: 6 - parts[1].count)) ?? 0
            }
            let (scaled, overflow) = whole.multipliedReportingOverflow(by: 1_000_000)
            let (micros, carry) = scaled.addingReportingOverflow(fraction)
            if !overflow && !carry { return negative ? -micros : micros }
        }
        guard let seconds = Double(text), seconds.isFinite, seconds.magnitude < 9e12 else {
            throw FrameParseError("key \"\(key)\": expected epoch seconds, got \(value.summary)")
        }
        return Int64((seconds * 1e6).rounded())
    }

    /// Rejects base64 that decodes but is not what an encoder writes (bad length, stray padding).
    private static func isCanonicalBase64(_ text: String, bytes: [UInt8]) -> Bool {
        Base64.encode(bytes) == text
    }
}
