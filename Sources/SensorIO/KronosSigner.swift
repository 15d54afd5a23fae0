import Crypto
import SensorCore

/// Turns frames into Kronos wire lines: compact FlowFrame JSON, `\n`-terminated, and with a key,
/// prefixed with `<hex>:` where `<hex>` is the lowercase hex HMAC-SHA256 of the JSON bytes.
///
/// Sendable by hand: `SymmetricKey` is immutable once made but not marked Sendable by Crypto.
public struct KronosSigner: @unchecked Sendable {
    /// The longest line Kronos accepts, newline included.
    public static let maximumLineBytes = 8192

    public let encoder: FrameEncoder
    private let key: SymmetricKey?

    public init(encoder: FrameEncoder, key: KronosKey?) {
        self.encoder = encoder
        self.key = key?.symmetricKey
    }

    public var signs: Bool { key != nil }

    /// Appends one whole line (newline included) to `out`.
    public func appendLine(_ frame: FlowFrame, to out: inout [UInt8]) {
        guard let key else {
            encoder.encode(frame, into: &out)
            out.append(UInt8(ascii: "\n"))
            return
        }
        var json: [UInt8] = []
        json.reserveCapacity(512)
        encoder.encode(frame, into: &json)
        Self.appendSignature(of: json, key: key, to: &out)
        out.append(UInt8(ascii: ":"))
        out.append(contentsOf: json)
        out.append(UInt8(ascii: "\n"))
    }

    /// One whole line for `frame`.
    public func line(_ frame: FlowFrame) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(600)
        appendLine(frame, to: &out)
        return out
    }

    /// The lowercase hex HMAC-SHA256 of `message`.
    public static func signature(of message: [UInt8], key: KronosKey) -> String {
        var out: [UInt8] = []
        appendSignature(of: message, key: key.symmetricKey, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendSignature(of message: [UInt8], key: SymmetricKey, to out: inout [UInt8]) {
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: key)
        let hex = Array("0123456789abcdef".utf8)
        for byte in mac {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        }
    }

    /// Checks a `<hex>:<json>` line body (no newline) against `key`; returns the JSON on success.
    public static func verify(_ line: ArraySlice<UInt8>, key: KronosKey) -> ArraySlice<UInt8>? {
        guard let (mac, json) = splitSigned(line) else { return nil }
        let valid = HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: json, using: key.symmetricKey)
        return valid ? json : nil
    }

    /// Splits `<64 lowercase hex>:<rest>` into the MAC bytes and the rest; nil when unsigned.
    public static func splitSigned(_ line: ArraySlice<UInt8>) -> (mac: [UInt8], json: ArraySlice<UInt8>)? {
        guard line.count > 65, line[line.startIndex + 64] == UInt8(ascii: ":") else { return nil }
        var mac: [UInt8] = []
        mac.reserveCapacity(32)
        var i = line.startIndex
        while i < line.startIndex + 64 {
            guard let high = hexValue(line[i]), let low = hexValue(line[i + 1]) else { return nil }
            mac.append(high << 4 | low)
            i += 2
        }
        return (mac, line[(line.startIndex + 65)...])
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
