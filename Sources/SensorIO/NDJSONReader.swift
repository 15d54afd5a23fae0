import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// A line of an NDJSON file that is not a FlowFrame: `file:line: what is wrong`.
public struct NDJSONLineError: Error, CustomStringConvertible, Equatable {
    public var path: String
    /// 1-based.
    public var line: UInt64
    public var message: String

    public init(path: String, line: UInt64, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String { "\(path):\(line): \(message)" }
}

/// Reads FlowFrames from an NDJSON file (or stdin, `-`), one JSON object per line.
///
/// Blank lines are skipped; a line ending in `\r\n` is read without the `\r`. Each other line must
/// be a FlowFrame object (see `FlowFrameJSON`); a line that is not is reported with its number and
/// the reading goes on.
public final class NDJSONReader {
    public let path: String
    /// Lines read so far, blank ones included.
    public private(set) var linesRead: UInt64 = 0

    private let fd: Int32
    private let ownsDescriptor: Bool

    public init(path: String) throws {
        self.path = path
        if path == "-" {
            fd = STDIN_FILENO
            ownsDescriptor = false
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw IOError("cannot open \(path)", errno: errno) }
            ownsDescriptor = true
        }
    }

    deinit {
        if ownsDescriptor { close(fd) }
    }

    /// Calls `body` with each non-blank line's frame or error, in order. Throws an `IOError` when
    /// the file cannot be read, or what `body` throws (to stop early).
    public func forEachFrame(_ body: (Result<FlowFrame, NDJSONLineError>) throws -> Void) throws {
        try forEachLine { number, line in
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
            do {
                try body(.success(FlowFrameJSON.parse(line)))
            } catch let error as FrameParseError {
                try body(.failure(NDJSONLineError(path: path, line: number, message: error.message)))
            }
        }
    }

    private func forEachLine(_ body: (UInt64, ArraySlice<UInt8>) throws -> Void) throws {
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError("cannot read \(path)", errno: errno)
            }
            if n == 0 { break }
            var start = 0
            for i in 0..<n where chunk[i] == 0x0A {
                pending.append(contentsOf: chunk[start..<i])
                try emit(&pending, body)
                start = i + 1
            }
            pending.append(contentsOf: chunk[start..<n])
        }
        if !pending.isEmpty { try emit(&pending, body) }
    }

    private func emit(_ line: inout [UInt8], _ body: (UInt64, ArraySlice<UInt8>) throws -> Void) throws {
        linesRead += 1
        var end = line.count
        if end > 0, line[end - 1] == 0x0D { end -= 1 }
        try body(linesRead, line[0..<end])
        line.removeAll(keepingCapacity: true)
    }
}

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
        var seen = Set<String>()
        var source: IPAddress?
        var destination: IPAddress?
        var sourcePort: UInt16?
        var destinationPort: UInt16?
        var transport: FlowProtocol?
        var bytesIn: UInt64?
        var bytesOut: UInt64?
        var duration: Double?
        var payload: [UInt8]??
        var frame = FlowFrame(
            source: IPAddress(ipv4: 0, 0, 0, 0), destination: IPAddress(ipv4: 0, 0, 0, 0), sourcePort: 0,
            destinationPort: 0, transport: .tcp, bytesIn: 0, bytesOut: 0, duration: 0, payload: nil)
        for (key, value) in members {
            guard seen.insert(key).inserted else { throw FrameParseError("key \"\(Echo.escaped(key, limit: 64))\" appears twice") }
            switch key {
            case "src_ip": source = try address(key, value)
            case "dst_ip": destination = try address(key, value)
            case "src_port": sourcePort = UInt16(try integer(key, value, max: UInt64(UInt16.max)))
            case "dst_port": destinationPort = UInt16(try integer(key, value, max: UInt64(UInt16.max)))
            case "protocol":
                let text = try string(key, value)
                guard let parsed = FlowProtocol(rawValue: text) else {
                    throw FrameParseError("key \"protocol\": expected \"TCP\", \"UDP\" or \"OTHER\", got \(value.summary)")
                }
                transport = parsed
            case "bytes_in": bytesIn = try integer(key, value)
            case "bytes_out": bytesOut = try integer(key, value)
            case "duration":
                guard case .number(let text) = value, let seconds = Double(text), seconds.isFinite, seconds >= 0 else {
                    throw FrameParseError("key \"duration\": expected a number of seconds >= 0, got \(value.summary)")
                }
                duration = seconds
            case "payload":
                switch value {
                case .null: payload = .some(nil)
                case .string(let text):
                    guard let bytes = Base64.decode(text), isCanonicalBase64(text, bytes: bytes) else {
                        throw FrameParseError("key \"payload\": not valid base64: \(value.summary)")
                    }
                    // The FlowFrame contract: a snapshot of 1 to 128 bytes, or null for none.
                    guard !bytes.isEmpty else {
                        throw FrameParseError("key \"payload\": empty (a frame without payload has null)")
                    }
                    guard bytes.count <= PacketParser.snapshotMax else {
                        throw FrameParseError(
                            "key \"payload\": \(bytes.count) bytes, a FlowFrame snapshot holds at most "
                                + "\(PacketParser.snapshotMax)")
                    }
                    payload = .some(bytes)
                default:
                    throw FrameParseError("key \"payload\": expected a base64 string or null, got \(value.summary)")
                }
            case "packets_in": frame.packetsIn = try integer(key, value)
            case "packets_out": frame.packetsOut = try integer(key, value)
            case "first_seen": frame.firstSeen = try epochMicroseconds(key, value)
            case "last_seen": frame.lastSeen = try epochMicroseconds(key, value)
            case "tcp_flags":
                let text = try string(key, value)
                guard text.allSatisfy({ "SAFPRUEC".contains($0) }) else {
                    throw FrameParseError("key \"tcp_flags\": expected letters of SAFPRUEC, got \(value.summary)")
                }
                frame.tcpFlags = TCPFlags(letters: text)
            case "end_reason":
                let text = try string(key, value)
                guard let reason = EndReason(rawValue: text) else {
                    let names = EndReason.allCases.map(\.rawValue).joined(separator: ", ")
                    throw FrameParseError("key \"end_reason\": expected one of \(names), got \(value.summary)")
                }
                frame.endReason = reason
            case "interface": frame.interface = try string(key, value)
            case "label":
                switch value {
                case .null: frame.label = nil
                case .string(let text): frame.label = text
                default: throw FrameParseError("key \"label\": expected a string or null, got \(value.summary)")
                }
            default:
                throw FrameParseError("unknown key \"\(Echo.escaped(key, limit: 64))\"")
            }
        }
        guard let source else { throw missing("src_ip") }
        guard let destination else { throw missing("dst_ip") }
        guard let sourcePort else { throw missing("src_port") }
        guard let destinationPort else { throw missing("dst_port") }
        guard let transport else { throw missing("protocol") }
        guard let bytesIn else { throw missing("bytes_in") }
        guard let bytesOut else { throw missing("bytes_out") }
        guard let duration else { throw missing("duration") }
        guard let payload else { throw missing("payload") }
        frame.source = source
        frame.destination = destination
        frame.sourcePort = sourcePort
        frame.destinationPort = destinationPort
        frame.transport = transport
        frame.bytesIn = bytesIn
        frame.bytesOut = bytesOut
        frame.duration = duration
        frame.payload = payload
        return frame
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

/// A parsed JSON value. Numbers keep their text, so integers and doubles are read exactly.
enum JSONValue: Equatable {
    case string(String)
    case number(String)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.bool(let a), .bool(let b)): a == b
        case (.null, .null): true
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    var kind: String {
        switch self {
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The value for an error message: short scalars in full, the kind otherwise.
    var summary: String {
        switch self {
        case .string(let text):
            return "\"\(Echo.escaped(text, limit: 40))\""
        case .number(let text): return text
        case .bool(let value): return value ? "true" : "false"
        case .null: return "null"
        case .array, .object: return kind
        }
    }

    static func parse(_ bytes: [UInt8]) throws(FrameParseError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        return try parser.document()
    }
}

/// A strict RFC 8259 parser for one document (a line).
struct JSONParser {
    let bytes: [UInt8]
    var position = 0
    let maxDepth = 64

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func document() throws(FrameParseError) -> JSONValue {
        skipSpace()
        let value = try parseValue(depth: 0)
        skipSpace()
        guard position == bytes.count else { throw failure("unexpected text after the JSON value") }
        return value
    }

    private func failure(_ what: String) -> FrameParseError {
        FrameParseError("not JSON: \(what) at column \(position + 1)")
    }

    private mutating func skipSpace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    private mutating func parseValue(depth: Int) throws(FrameParseError) -> JSONValue {
        guard position < bytes.count else { throw failure("unexpected end of line") }
        guard depth < maxDepth else { throw failure("nested too deep") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw failure("unexpected character")
        }
    }

    private mutating func literal(_ word: String) throws(FrameParseError) {
        let utf8 = Array(word.utf8)
        guard bytes.count - position >= utf8.count, Array(bytes[position..<position + utf8.count]) == utf8 else {
            throw failure("unexpected character")
        }
        position += utf8.count
    }

    private mutating func parseObject(depth: Int) throws(FrameParseError) -> JSONValue {
        position += 1
        var members: [(String, JSONValue)] = []
        skipSpace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipSpace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw failure("expected a key")
            }
            let key = try parseString()
            skipSpace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw failure("expected ':'") }
            position += 1
            skipSpace()
            members.append((key, try parseValue(depth: depth + 1)))
            skipSpace()
            guard position < bytes.count else { throw failure("unexpected end of line") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            } else {
                throw failure("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(FrameParseError) -> JSONValue {
        position += 1
        var elements: [JSONValue] = []
        skipSpace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipSpace()
            elements.append(try parseValue(depth: depth + 1))
            skipSpace()
            guard position < bytes.count else { throw failure("unexpected end of line") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            } else {
                throw failure("expected ',' or ']'")
            }
        }
    }

    private mutating func parseString() throws(FrameParseError) -> String {
        position += 1  // the opening quote
        var out: [UInt8] = []
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                guard let text = String(validating: out, as: UTF8.self) else {
                    throw failure("a string is not valid UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { throw failure("unexpected end of line") }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"),
                            bytes[position + 1] == UInt8(ascii: "u")
                        else { throw failure("unpaired surrogate") }
                        position += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw failure("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw failure("unpaired surrogate")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw failure("bad \\u escape") }
                    out.append(contentsOf: String(Character(unicode)).utf8)
                default:
                    position -= 1
                    throw failure("bad escape")
                }
            case 0..<0x20:
                throw failure("control character in a string")
            default:
                out.append(byte)
                position += 1
            }
        }
        throw failure("unterminated string")
    }

    private mutating func hex4() throws(FrameParseError) -> UInt32 {
        guard bytes.count - position >= 4 else { throw failure("bad \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw failure("bad \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    private mutating func parseNumber() throws(FrameParseError) -> String {
        let start = position
        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count, isDigit(bytes[position]) else { throw failure("bad number") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if position < bytes.count, isDigit(bytes[position]) { throw failure("bad number (leading zero)") }
        } else {
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard position < bytes.count, isDigit(bytes[position]) else { throw failure("bad number") }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < bytes.count, isDigit(bytes[position]) else { throw failure("bad number") }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }
}
