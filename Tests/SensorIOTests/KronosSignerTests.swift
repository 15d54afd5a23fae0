import Foundation
import SensorCore
import SensorIO
import Testing

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
