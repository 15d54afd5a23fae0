import SensorCore
import Testing

@Suite("Packet filter")
struct PacketFilterTests {
    static func event(
        _ source: String, _ destination: String, _ sourcePort: UInt16 = 0, _ destinationPort: UInt16 = 0,
        transport: UInt8 = 17
    ) -> PacketEvent {
        PacketEvent(
            timestamp: 0, source: IPAddress(source)!, destination: IPAddress(destination)!, sourcePort: sourcePort,
            destinationPort: destinationPort, transport: transport, payloadLength: 0)
    }

    @Test func rulesReadAsWritten() throws {
        let cases: [(String, String)] = [
            ("198.51.100.0/24", "198.51.100.0/24"), ("host 203.0.113.7", "203.0.113.7"),
            ("net 198.51.100.77/24", "198.51.100.0/24"), ("2001:DB8::1/32", "2001:db8::/32"),
            ("port 22", "port 22"), ("portrange 1000-2000", "port 1000-2000"), ("proto udp", "proto udp"),
            ("proto 132", "proto sctp"), ("proto ICMPv6", "proto icmpv6"),
            ("198.51.100.7 port 22 proto tcp", "198.51.100.7 port 22 proto tcp"),
        ]
        for (text, shown) in cases { #expect(try PacketFilter.Rule(text).description == shown, "\(text)") }
    }

    @Test func badRulesSayWhy() {
        let cases: [(String, String)] = [
            ("", "empty rule"), ("port", "port needs a number"), ("port 0", "1-65535"),
            ("port 70000", "1-65535"), ("port 20-10", "1-65535"), ("port 1-2-3", "1-65535"),
            ("proto xyz", "unknown protocol xyz"), ("198.51.100.0/33", "not an address"),
            ("10.0.0.0/8 192.0.2.0/24", "more than one address"), ("port 1 port 2", "more than one port"),
            ("hots 1.2.3.4", "hots is not an address"), ("net", "net needs an address"),
        ]
        for (text, problem) in cases {
            #expect(throws: PacketFilterError.self) { try PacketFilter.Rule(text) }
            do {
                _ = try PacketFilter.Rule(text)
            } catch {
                #expect(error.message.contains(problem), "\(text): \(error.message)")
            }
        }
        #expect(throws: PacketFilterError.self) {
            try PacketFilter(include: (1...33).map { "port \($0)" }, exclude: [])
        }
    }

    @Test func excludeWinsAndAnEmptyIncludeMeansAll() throws {
        let none = try PacketFilter(include: [], exclude: [])
        #expect(none.isEmpty && none.verdict(Self.event("198.51.100.1", "203.0.113.1")) == .observe)
        let filter = try PacketFilter(include: ["198.51.100.0/24"], exclude: ["198.51.100.0/25 port 22"])
        #expect(filter.verdict(Self.event("198.51.100.1", "203.0.113.1", 5000, 22, transport: 6)) == .excluded)
        #expect(filter.verdict(Self.event("203.0.113.1", "198.51.100.200", 22, 5000, transport: 6)) == .observe)
        #expect(filter.verdict(Self.event("198.51.100.1", "203.0.113.1", 5000, 23, transport: 6)) == .observe)
        #expect(filter.verdict(Self.event("192.0.2.1", "203.0.113.1")) == .notIncluded)
        // Ports are TCP's and UDP's: an ICMP packet (ports 0) or a fragment matches no port rule.
        let ports = try PacketFilter(include: [], exclude: ["port 1-65535"])
        #expect(ports.verdict(Self.event("192.0.2.1", "192.0.2.2", transport: 1)) == .observe)
        #expect(ports.verdict(Self.event("192.0.2.1", "192.0.2.2", 0, 0, transport: 17)) == .observe)
        #expect(ports.verdict(Self.event("192.0.2.1", "192.0.2.2", 1, 0, transport: 17)) == .excluded)
        // Families apart: an IPv4 network holds no IPv6 address.
        let v4 = try PacketFilter(include: [], exclude: ["0.0.0.0/0"])
        #expect(v4.verdict(Self.event("2001:db8::1", "2001:db8::2")) == .observe)
        #expect(v4.verdict(Self.event("192.0.2.1", "2001:db8::2")) == .excluded)
    }

    /// The tables the BPF program evaluates give the rules' verdict, on random rules and packets
    /// (networks that nest, overlapping port ranges, both lists).
    @Test func tablesGiveTheRulesVerdict() throws {
        var random = SystemRandomNumberGenerator()
        let networks = [
            "198.51.100.0/24", "198.51.100.0/25", "198.51.100.128/26", "198.51.100.7", "203.0.113.0/24", "0.0.0.0/0",
            "2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::5", "::/0",
        ]
        let addresses = [
            "198.51.100.7", "198.51.100.130", "198.51.100.250", "203.0.113.9", "192.0.2.1", "2001:db8:1::5",
            "2001:db8:2::1", "2001:db8:1::9", "2001:db9::1",
        ]
        func randomRule() -> String {
            var words: [String] = []
            if Bool.random(using: &random) { words.append(networks.randomElement(using: &random)!) }
            if Bool.random(using: &random) {
                let low = UInt16.random(in: 1...200, using: &random)
                words.append("port \(low)-\(low + UInt16.random(in: 0...50, using: &random))")
            }
            if Int.random(in: 0..<3, using: &random) == 0 { words.append(["proto tcp", "proto udp", "proto icmp"].randomElement(using: &random)!) }
            return words.isEmpty ? "proto udp" : words.joined(separator: " ")
        }
        var verdicts: [PacketFilter.Verdict: Int] = [:]
        for _ in 0..<200 {
            let filter = try PacketFilter(
                include: (0..<Int.random(in: 0...4, using: &random)).map { _ in randomRule() },
                exclude: (0..<Int.random(in: 0...4, using: &random)).map { _ in randomRule() })
            let tables = PacketFilter.Tables(filter)
            for _ in 0..<50 {
                let source = addresses.randomElement(using: &random)!
                let sameFamily = addresses.filter { $0.contains(":") == source.contains(":") }
                let event = Self.event(
                    source, sameFamily.randomElement(using: &random)!, UInt16.random(in: 0...260, using: &random),
                    UInt16.random(in: 0...260, using: &random), transport: [1, 6, 17, 58].randomElement(using: &random)!)
                let expected = filter.verdict(event)
                verdicts[expected, default: 0] += 1
                #expect(tables.verdict(event) == expected, "\(filter) \(event)")
            }
        }
        // Every verdict came up often enough for the comparison to mean something.
        #expect(verdicts.values.allSatisfy { $0 > 500 } && verdicts.count == 3, "\(verdicts)")
    }
}
