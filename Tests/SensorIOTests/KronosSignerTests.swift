import Crypto
import Foundation
import SensorCore
import Testing

@testable import SensorIO

@Suite("Kronos line signing")
struct KronosSignerTests {
    /// RFC 4231 HMAC-SHA256 test vectors (cases 1, 2, 6): an independent check of the MAC.
    @Test(arguments: [
        ([UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        ([UInt8](repeating: 0xaa, count: 131),
         Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    ])
    func rfc4231Vectors(key: [UInt8], message: [UInt8], expected: String) {
        #expect(KronosSigner.signature(of: message, key: KronosKey(bytes: key)) == expected)
        // The keyed-once HMAC the signer uses, twice on the same state: the first use must not
        // change what the second sees.
        let keyed = KeyedHMAC(key: key)
        for _ in 0..<2 {
            let mac = message.withUnsafeBytes { keyed.authenticationCode(for: $0) }
            #expect(mac.map { String(format: "%02x", $0) }.joined() == expected)
        }
    }

    /// Keys shorter than, equal to and longer than the 64-byte block (hashed first), messages
    /// around the block and padding boundaries: the same MAC as swift-crypto's `HMAC`.
    @Test func keyedHMACMatchesSwiftCrypto() {
        for keyLength in [1, 20, 63, 64, 65, 200] {
            let key = (0..<keyLength).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let keyed = KeyedHMAC(key: key)
            for messageLength in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1_000] {
                let message = (0..<messageLength).map { UInt8(truncatingIfNeeded: $0 &* 13) }
                let ours = message.withUnsafeBytes { keyed.authenticationCode(for: $0) }
                let theirs = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))
                #expect(Array(ours) == Array(theirs), "key \(keyLength) B, message \(messageLength) B")
            }
        }
    }

    /// One signer, many lines, some of them twice, from two threads at once: each line carries
    /// the MAC a fresh `HMAC` computes for its JSON, so the shared keyed state is never changed.
    @Test func reusedSignerSignsEveryLineAsAFreshHMAC() {
        let key = KronosKey(bytes: Array("a shared Kronos key".utf8))
        let signer = KronosSigner(encoder: FrameEncoder(), key: key)
        let frames = (0..<200).map { KronosTest.frame($0 % 150) }
        let results = UnsafeMutableBufferPointer<[UInt8]>.allocate(capacity: 2 * frames.count)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        let base = UncheckedSendable(results)
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            var out: [UInt8] = []
            for (i, frame) in frames.enumerated() {
                out.removeAll(keepingCapacity: true)
                signer.appendLine(frame, to: &out)
                base.value[half * frames.count + i] = out
            }
        }
        for (i, frame) in frames.enumerated() {
            let json = FrameEncoder().string(frame)
            let expected = Array((KronosSigner.signature(of: Array(json.utf8), key: key) + ":" + json + "\n").utf8)
            #expect(results[i] == expected && results[frames.count + i] == expected, "line \(i)")
        }
    }

    @Test func unsignedLineIsTheCompactJSONAndANewline() {
        let frame = KronosTest.frame(7)
        let signer = KronosSigner(encoder: FrameEncoder(), key: nil)
        let line = signer.line(frame)
        #expect(line == Array((FrameEncoder().string(frame) + "\n").utf8))
        #expect(!signer.signs)
    }

    @Test func signedLineIsHexColonJSON() throws {
        let key = KronosKey(bytes: Array("Jefe".utf8))
        let frame = KronosTest.frame(42)
        let json = FrameEncoder().string(frame)
        let line = String(decoding: KronosSigner(encoder: FrameEncoder(), key: key).line(frame), as: UTF8.self)
        let expected = KronosSigner.signature(of: Array(json.utf8), key: key)
        #expect(line == expected + ":" + json + "\n")
        #expect(expected.count == 64 && expected == expected.lowercased())

        let body = Array(line.utf8.dropLast())[...]
        #expect(KronosSigner.verify(body, key: key).map { Array($0) } == Array(json.utf8))
        #expect(KronosSigner.verify(body, key: KronosKey(bytes: Array("other".utf8))) == nil)
        var tampered = Array(body)
        tampered[tampered.count - 2] ^= 1
        #expect(KronosSigner.verify(tampered[...], key: key) == nil)
        #expect(KronosSigner.verify(Array(json.utf8)[...], key: key) == nil)
    }
}

/// Hands a value to `concurrentPerform` (each iteration writes its own slots).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
