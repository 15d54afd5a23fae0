import Crypto
import SensorCore

/// Turns frames into Kronos wire lines: compact FlowFrame JSON, `\n`-terminated, and with a key,
/// prefixed with `<hex>:` where `<hex>` is the lowercase hex HMAC-SHA256 of the JSON bytes.
///
/// Sendable by hand: `KeyedHMAC` holds SHA-256 states that are only read after `init`.
public struct KronosSigner: @unchecked Sendable {
    /// The longest line Kronos accepts, newline included.
    public static let maximumLineBytes = 8192

    public let encoder: FrameEncoder
    /// Keyed once: the key pads are hashed here, not again for every line.
    private let keyed: KeyedHMAC?

    public init(encoder: FrameEncoder, key: KronosKey?) {
        self.encoder = encoder
        self.keyed = key.map { KeyedHMAC(key: $0.bytes) }
    }

    public var signs: Bool { keyed != nil }

    /// Appends one whole line (newline included) to `out`. Signed lines are built in place: room
    /// for `<hex>:`, the JSON after it, then the MAC of the JSON written into that room.
    public func appendLine(_ frame: FlowFrame, to out: inout [UInt8]) {
        guard let keyed else {
            encoder.encode(frame, into: &out)
            out.append(UInt8(ascii: "\n"))
            return
        }
        let prefixStart = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: ":"), count: Self.hexLength + 1))
        let jsonStart = out.count
        encoder.encode(frame, into: &out)
        out.withUnsafeMutableBytes { raw in
            let mac = keyed.authenticationCode(for: UnsafeRawBufferPointer(rebasing: raw[jsonStart...]))
            mac.withUnsafeBytes { Self.writeHex($0, to: raw.baseAddress! + prefixStart) }
        }
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
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: key.symmetricKey)
        return String(unsafeUninitializedCapacity: hexLength) { buffer in
            mac.withUnsafeBytes { writeHex($0, to: UnsafeMutableRawPointer(buffer.baseAddress!)) }
            return hexLength
        }
    }

    static let hexLength = 2 * SHA256.byteCount

    /// Writes the lowercase hex digits of `bytes` at `destination`.
    private static func writeHex(_ bytes: UnsafeRawBufferPointer, to destination: UnsafeMutableRawPointer) {
        for (i, byte) in bytes.enumerated() {
            destination.storeBytes(of: hexDigit(byte >> 4), toByteOffset: 2 * i, as: UInt8.self)
            destination.storeBytes(of: hexDigit(byte & 0xF), toByteOffset: 2 * i + 1, as: UInt8.self)
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble
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

/// HMAC-SHA256 (RFC 2104) keyed once: two SHA-256 states that have absorbed the key's inner and
/// outer pads. swift-crypto's `HMAC` keeps the same two states, but its only public update is
/// generic over `DataProtocol`, which in the bench profile cost more than the hashing itself;
/// `SHA256.update(bufferPointer:)` is not generic. The tests hold this to RFC 4231 and to `HMAC`.
struct KeyedHMAC {
    private let inner: SHA256
    private let outer: SHA256

    init(key: [UInt8]) {
        let blockSize = SHA256.blockByteCount
        var block = key.count > blockSize ? Array(SHA256.hash(data: key)) : key
        block += repeatElement(0, count: blockSize - block.count)
        var inner = SHA256()
        inner.update(data: block.map { $0 ^ 0x36 })
        var outer = SHA256()
        outer.update(data: block.map { $0 ^ 0x5c })
        self.inner = inner
        self.outer = outer
    }

    /// The MAC of `message`. Works on copies of the keyed states: swift-crypto's digest state is
    /// copy-on-write (`isKnownUniquelyReferenced` before each update), so the copies' updates
    /// get private contexts and the stored states are only read, from any thread.
    func authenticationCode(for message: UnsafeRawBufferPointer) -> SHA256Digest {
        var inner = self.inner
        inner.update(bufferPointer: message)
        var outer = self.outer
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize()
    }
}
