import Foundation
import Testing

@testable import SensorCore

/// A frame with only the fields a test cares about set.
func ruleFrame(
    _ transport: FlowProtocol = .tcp, sport: UInt16 = 40000, dport: UInt16 = 50000, duration: Double = 5,
    payload: [UInt8]? = nil
) -> FlowFrame {
    FlowFrame(
        source: IPAddress(ipv4: 198, 51, 100, 1), destination: IPAddress(ipv4: 198, 51, 100, 2),
        sourcePort: sport, destinationPort: dport, transport: transport, bytesIn: 10, bytesOut: 10,
        duration: duration, payload: payload)
}

/// `count` distinct bytes, then `pairs` more that repeat the first `pairs` of them.
func entropyPayload(distinct: Int, repeats: Int = 0) -> [UInt8] {
    (0..<distinct).map { UInt8($0) } + (0..<repeats).map { UInt8($0) }
}

@Suite("Labeling rules")
struct RulesTests {
    let rules = RuleSet.defaults

    func label(_ frame: FlowFrame) -> String? {
        rules.firstMatch(frame).map { rules.rules[$0].label }
    }

    @Test("the default rules, in order")
    func defaultOrder() {
        #expect(rules.rules.map(\.label) == ["bittorrent", "ssh_bruteforce", "benign", "malware_c2"])
    }

    @Test("bittorrent: the handshake prefix, on any port")
    func bittorrentPrefix() {
        let handshake = [UInt8(0x13)] + Array("BitTorrent protocol".utf8)
        #expect(label(ruleFrame(sport: 40000, dport: 50000, payload: handshake)) == "bittorrent")
        #expect(label(ruleFrame(.udp, sport: 40000, dport: 443, payload: handshake + [1, 2, 3])) == "bittorrent")
        // One byte short of the prefix, or a different first byte: not by payload.
        #expect(label(ruleFrame(payload: Array(handshake.dropLast()))) == nil)
        #expect(label(ruleFrame(payload: [0x14] + handshake.dropFirst())) == nil)
    }

    @Test("bittorrent: either port in 6881–6889, bounds included", arguments: [6881, 6885, 6889] as [UInt16])
    func bittorrentPorts(port: UInt16) {
        #expect(label(ruleFrame(sport: port, dport: 50000)) == "bittorrent")
        #expect(label(ruleFrame(sport: 50000, dport: port)) == "bittorrent")
    }

    @Test("just outside 6881–6889 is not bittorrent", arguments: [6880, 6890] as [UInt16])
    func bittorrentPortBounds(port: UInt16) {
        #expect(label(ruleFrame(sport: port, dport: 50000)) == nil)
        #expect(label(ruleFrame(sport: 50000, dport: port)) == nil)
    }

    @Test("ssh_bruteforce: TCP, port 22 either side, duration strictly under 1.0 s")
    func sshBruteforce() {
        #expect(label(ruleFrame(sport: 50000, dport: 22, duration: 0.999999)) == "ssh_bruteforce")
        #expect(label(ruleFrame(sport: 22, dport: 50000, duration: 0)) == "ssh_bruteforce")
        // Exactly 1.0 s is not under 1.0 s.
        #expect(label(ruleFrame(sport: 50000, dport: 22, duration: 1.0)) == nil)
        #expect(label(ruleFrame(sport: 50000, dport: 22, duration: 1.0000001)) == nil)
        // UDP to 22 is not SSH.
        #expect(label(ruleFrame(.udp, sport: 50000, dport: 22, duration: 0.1)) == nil)
    }

    @Test("benign: port 80, 443 or 53 on either side", arguments: [80, 443, 53] as [UInt16])
    func benign(port: UInt16) {
        #expect(label(ruleFrame(sport: 50000, dport: port)) == "benign")
        #expect(label(ruleFrame(.udp, sport: port, dport: 50000)) == "benign")
        #expect(label(ruleFrame(sport: 50000, dport: port + 1)) == nil)
    }

    @Test("malware_c2: dst_port >= 1024, 16+ bytes, normalized entropy >= 0.9")
    func malwareC2() {
        let random16 = entropyPayload(distinct: 16)
        #expect(label(ruleFrame(dport: 4444, payload: random16)) == "malware_c2")
        #expect(label(ruleFrame(dport: 1024, payload: random16)) == "malware_c2")
        #expect(label(ruleFrame(dport: 1023, payload: random16)) == nil)
        // 15 distinct bytes: entropy 1.0, but too short.
        #expect(label(ruleFrame(dport: 4444, payload: entropyPayload(distinct: 15))) == nil)
        #expect(label(ruleFrame(dport: 4444, payload: nil)) == nil)
        #expect(label(ruleFrame(dport: 4444, payload: [UInt8](repeating: 0x41, count: 64))) == nil)
    }

    @Test("entropy is bit for bit the plain per-byte-value sum, whatever the counts")
    func entropyExact() {
        func reference(_ bytes: [UInt8]) -> Double {
            var counts = [Int](repeating: 0, count: 256)
            for byte in bytes { counts[Int(byte)] += 1 }
            var bits = 0.0
            for count in counts where count > 0 {
                let p = Double(count) / Double(bytes.count)
                bits -= p * log2(p)
            }
            return bits
        }
        var state: UInt64 = 7
        for length in [2, 3, 16, 31, 128, 129, 300, 5000] {
            for alphabet in [2, 5, 60, 256] {
                let bytes = (0..<length).map { _ -> UInt8 in
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return UInt8(truncatingIfNeeded: (state >> 33) % UInt64(alphabet))
                }
                #expect(PayloadEntropy.bitsPerByte(bytes).bitPattern == reference(bytes).bitPattern)
            }
        }
    }

    @Test("entropy at exactly 0.9 matches, just below does not")
    func entropyBoundary() {
        // 32 bytes: 16 values once (p = 1/32) and 8 values twice (p = 1/16):
        // H = 16/32 * 5 + 8 * 2/32 * 4 = 2.5 + 2 = 4.5 bits; 4.5 / log2(32) = 0.9 exactly.
        let exact = entropyPayload(distinct: 24, repeats: 8)
        #expect(exact.count == 32)
        #expect(PayloadEntropy.bitsPerByte(exact) == 4.5)
        #expect(PayloadEntropy.normalized(exact) == 0.9)
        #expect(label(ruleFrame(dport: 4444, payload: exact)) == "malware_c2")
        // One more repeated value (23 distinct, 9 repeated): 14/32*5 + 9*2/32*4 = 4.4375 → 0.8875.
        let below = entropyPayload(distinct: 23, repeats: 9)
        #expect(below.count == 32)
        #expect(PayloadEntropy.normalized(below) == 0.8875)
        #expect(label(ruleFrame(dport: 4444, payload: below)) == nil)
    }

    @Test("entropy: normalized by log2(min(length, 256)); 0 for fewer than two bytes")
    func entropyNormalization() {
        #expect(PayloadEntropy.normalized([]) == 0)
        #expect(PayloadEntropy.normalized([7]) == 0)
        #expect(PayloadEntropy.normalized([1, 2]) == 1)
        #expect(PayloadEntropy.normalized([1, 1]) == 0)
        #expect(PayloadEntropy.normalized(entropyPayload(distinct: 128)) == 1)
        #expect(PayloadEntropy.bitsPerByte(entropyPayload(distinct: 128)) == 7)
    }

    @Test("first match wins: earlier rules shadow later ones")
    func firstMatchOrder() {
        // SSH banner to 22 from a BitTorrent port: rule 1 before rule 2.
        #expect(label(ruleFrame(sport: 6881, dport: 22, duration: 0.1)) == "bittorrent")
        // Short SSH to 22 from port 443: rule 2 before rule 3.
        #expect(label(ruleFrame(sport: 443, dport: 22, duration: 0.1)) == "ssh_bruteforce")
        // Long SSH from 443: rule 2 fails, rule 3 matches.
        #expect(label(ruleFrame(sport: 443, dport: 22, duration: 2)) == "benign")
        // High entropy to 443: rule 3 before rule 4.
        #expect(label(ruleFrame(sport: 50000, dport: 443, payload: entropyPayload(distinct: 32))) == "benign")
        // The same payload to 8080: rule 4.
        #expect(label(ruleFrame(sport: 50000, dport: 8080, payload: entropyPayload(distinct: 32))) == "malware_c2")
        // Reordering the rules changes the answer.
        let reordered = RuleSet([rules.rules[2], rules.rules[0]])
        #expect(reordered.firstMatch(ruleFrame(sport: 6881, dport: 80)) == 0)
        #expect(rules.firstMatch(ruleFrame(sport: 6881, dport: 80)) == 0)
        #expect(rules.rules[0].label == "bittorrent")
    }

    @Test("conditions: protocol, dst_port_min, min_payload_bytes; an empty set matches everything")
    func conditions() {
        let udpOnly = RuleConditions(transport: .udp)
        #expect(udpOnly.matches(ruleFrame(.udp)))
        #expect(!udpOnly.matches(ruleFrame(.tcp)))
        #expect(RuleConditions().matches(ruleFrame(.other, sport: 0, dport: 0)))
        let minBytes = RuleConditions(minPayloadBytes: 3)
        #expect(minBytes.matches(ruleFrame(payload: [1, 2, 3])))
        #expect(!minBytes.matches(ruleFrame(payload: [1, 2])))
        #expect(!minBytes.matches(ruleFrame(payload: nil)))
        #expect(RuleConditions(minPayloadBytes: 0).matches(ruleFrame(payload: nil)))
        let dstMin = RuleConditions(destinationPortMin: 100)
        #expect(dstMin.matches(ruleFrame(sport: 1, dport: 100)))
        #expect(!dstMin.matches(ruleFrame(sport: 5000, dport: 99)))
    }
}
