import Foundation
import Testing

@testable import SensorCore

@Suite("Frame encoding")
struct FrameEncoderTests {
    let frame = FlowFrame(
        source: IPAddress(ipv4: 198, 51, 100, 1), destination: IPAddress(ipv4: 198, 51, 100, 2),
        sourcePort: 40112, destinationPort: 80, transport: .tcp, bytesIn: 37, bytesOut: 512,
        duration: 0.004211, payload: Array("GET / ".utf8), packetsIn: 5, packetsOut: 4,
        firstSeen: 1_764_072_000_000_001, lastSeen: 1_764_072_000_004_212, tcpFlags: [.syn, .ack, .fin, .psh],
        endReason: .fin, interface: "eth\"0")

    @Test("compact JSON, keys in wire order")
    func compact() {
        #expect(
            FrameEncoder().string(frame)
                == #"{"src_ip":"198.51.100.1","dst_ip":"198.51.100.2","src_port":40112,"dst_port":80,"protocol":"TCP","bytes_in":37,"bytes_out":512,"duration":0.004211,"payload":"R0VUIC8g"}"#
        )
    }

    @Test("extended fields follow payload; label is last")
    func extended() {
        var labeled = frame
        labeled.label = "benign"
        labeled.payload = nil
        let text = FrameEncoder(extended: true).string(labeled)
        #expect(
            text.hasSuffix(
                #""payload":null,"packets_in":5,"packets_out":4,"first_seen":1764072000.000001,"last_seen":1764072000.004212,"tcp_flags":"SAFP","end_reason":"fin","interface":"eth\"0","label":"benign"}"#
            ))
        let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect(object?["interface"] as? String == "eth\"0")
        #expect(object?["duration"] as? Double == 0.004211)
    }

    @Test("IPv6 is RFC 5952 text")
    func ipv6Text() {
        let cases = [
            "2001:db8:0:0:0:0:0:1": "2001:db8::1", "2001:DB8:0:0:1:0:0:1": "2001:db8::1:0:0:1",
            "2001:db8:0:1:1:1:1:1": "2001:db8:0:1:1:1:1:1", "::ffff:198.51.100.7": "::ffff:198.51.100.7",
        ]
        let more = [
            "::": "::", "::1": "::1", "1::": "1::", "::1:2": "::1:2", "1:0:0:2:0:0:0:3": "1:0:0:2::3",
            "0:1:0:1:0:1:0:1": "0:1:0:1:0:1:0:1", "2001:db8:0:0:1:0:0:0": "2001:db8:0:0:1::",
            "fe80:0:0:0:abcd:ef01:2:30": "fe80::abcd:ef01:2:30", "::a00:1": "::a00:1",
        ]
        for (input, expected) in cases.merging(more, uniquingKeysWith: { a, _ in a }) {
            #expect(IPAddress(input)?.description == expected, "\(input)")
        }
        #expect(IPAddress("198.51.100.300") == nil)
    }

    @Test("IPv6 text agrees with inet_ntop where inet_ntop follows RFC 5952")
    func ipv6AgainstLibc() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<5000 {
            var bytes = [UInt8](repeating: 0, count: 16)
            for i in 0..<16 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                // Many zero groups, so that runs and ties are common.
                bytes[i] = state >> 61 < 4 ? 0 : UInt8(truncatingIfNeeded: state >> 33)
            }
            bytes[0] |= 0x20  // not ::/96, where glibc prints a dotted quad
            let address = bytes.withUnsafeBytes { IPAddress(bytes: $0) }
            var text = [CChar](repeating: 0, count: 64)
            _ = inet_ntop(AF_INET6, bytes, &text, 64)
            #expect(address.description == String(cString: text))
        }
    }

    @Test("base64 round-trips every length")
    func base64() {
        for length in 0...130 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let encoded = Base64.encode(bytes)
            #expect(encoded == Data(bytes).base64EncodedString())
            #expect(Base64.decode(encoded) == bytes)
        }
        #expect(Base64.decode("a$b") == nil)
    }

    @Test("TCP flag letters round-trip")
    func flags() {
        #expect(TCPFlags(letters: "SAFPRUEC").letters == "SAFPRUEC")
        #expect(TCPFlags([.fin, .syn]).letters == "SF")
    }
}

@Suite("End reasons")
struct EndReasonTests {
    @Test("index is the position in allCases")
    func index() {
        #expect(EndReason.allCases.map(\.index) == Array(EndReason.allCases.indices))
    }
}
