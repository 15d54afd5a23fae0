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
                #""payload":null,"packets_in":5,"packets_out":4,"first_seen":1764072000.000001,"last_seen":1764072000.004212,"tcp_flags":"SAFP","end_reason":"fin","interface":"eth\"0","vlan":0,"label":"benign"}"#
            ))
        let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect(object?["interface"] as? String == "eth\"0")
        #expect(object?["duration"] as? Double == 0.004211)
    }

    @Test("numbers at their extremes and strings of control characters stay exact")
    func extremes() {
        var big = frame
        big.source = IPAddress("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")!
        big.destination = IPAddress("::ffff:255.255.255.255")!
        (big.sourcePort, big.destinationPort) = (65535, 0)
        (big.bytesIn, big.bytesOut, big.packetsIn, big.packetsOut) = (.max, 10, 99, 100)
        (big.firstSeen, big.lastSeen) = (-1_500_000, .max)
        big.duration = -2.2250738585072014e-308
        big.payload = Array(repeating: 0xFF, count: 128)
        big.tcpFlags = TCPFlags(rawValue: 0xFF)
        big.interface = String(repeating: "\u{01}\n", count: 40)
        big.label = String(repeating: "\\", count: 100)
        let text = FrameEncoder(extended: true).string(big)
        let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect(object?["src_ip"] as? String == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        #expect(object?["dst_ip"] as? String == "::ffff:255.255.255.255")
        #expect(text.contains(#""src_port":65535,"dst_port":0,"#))
        #expect(text.contains(#""bytes_in":18446744073709551615,"bytes_out":10,"#))
        #expect(text.contains(#""duration":-2.2250738585072014e-308,"#))
        #expect(text.contains(#""packets_in":99,"packets_out":100,"#))
        #expect(text.contains(#""first_seen":-1.500000,"last_seen":9223372036854.775807,"#))
        #expect(text.contains(#""tcp_flags":"SAFPRUEC""#))
        #expect(object?["payload"] as? String == String(repeating: "/", count: 170) + "8=")
        #expect(object?["interface"] as? String == big.interface)
        #expect(object?["label"] as? String == big.label)
    }

    @Test("durations are written as Swift's shortest round-trip text")
    func durations() {
        var state: UInt64 = 99
        var micros = Array(0..<20_000) + [99_999, 100_000, 999_999, 1_000_000, 1_000_001, 999_999_999_999_999]
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            micros.append(Int(state >> 14) % 1_000_000_000_000_000)
        }
        let encoder = FrameEncoder()
        var sample = frame
        sample.payload = nil
        var mismatches: [String] = []
        let others = [0.1, 1.0 / 3, 1e-7, 2.5e-5, 1e15, 1e16, 123456789.123, -0.5, .infinity]
        for seconds in micros.map({ Double($0) / 1_000_000 }) + others {
            sample.duration = seconds
            let text = encoder.string(sample)
            if !text.contains(#""duration":\#(seconds.description),"#) { mismatches.append(text) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
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
