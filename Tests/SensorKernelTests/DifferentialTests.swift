import Foundation
import SensorCore
import SensorIO
import SensorKernel
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

private typealias B = PacketBuilder

/// The BPF program (run by the kernel with bpf_prog_test_run_opts) and the Swift parser, on the
/// same Ethernet frames: they must agree on every field but the timestamp and interface, on the
/// snapshot bytes, on the DPS_F_* flags, and on which frames get no record (not IP, malformed).
@Suite(
    "Differential: BPF program vs PacketParser", .serialized,
    .enabled(if: geteuid() == 0, "needs root (CAP_BPF) to load the BPF program"))
final class DifferentialTests {
    /// Packets per capture, to keep the suite fast.
    static let packetsPerCapture = 2000

    var program: ProgramTestRun

    init() throws { program = try ProgramTestRun() }

    /// The paths each test runs on: the program as attached (the fast path, and the general one
    /// for what the fast path leaves), the general path alone, and the general path reading every
    /// header with bpf_skb_load_bytes (its way for headers outside the linear part).
    static let paths = ProgramTestRun.Path.allCases

    /// Loads the program for `path` in place of the attached one.
    func use(_ path: ProgramTestRun.Path) throws {
        if path != .attached { program = try ProgramTestRun(path: path) }
    }

    struct Tally {
        var records = 0
        var notIP = 0
        var malformed = 0
        var refused = 0
        /// Frames longer than the test run accepts, compared on their first 1514 bytes.
        var shortened = 0
        var mismatches: [String] = []
    }

    /// Runs one Ethernet frame through both; records a mismatch in `tally`.
    func compare(_ input: [UInt8], label: String, tally: inout Tally) throws {
        var frame = input
        var outcome = try program.run(frame)
        if case .refused = outcome, frame.count > 1514 {
            frame = Array(frame.prefix(1514))
            tally.shortened += 1
            outcome = try program.run(frame)
        }
        let parsed = frame.withUnsafeBytes {
            PacketParser.parse($0, originalLength: frame.count, linkType: .ethernet, timestamp: 0)
        }
        switch (outcome, parsed) {
        case (.record(var kernel, let kernelSnapshot, let kernelFlags), .packet(let swift, let range, let flags)):
            kernel.timestamp = 0
            kernel.interface = 0
            let snapshot = Array(frame[range])
            if kernel != swift || kernelSnapshot != snapshot || kernelFlags != flags.rawValue {
                tally.mismatches.append(
                    "\(label): kernel \(kernel) snap \(kernelSnapshot.count) flags \(kernelFlags); "
                        + "swift \(swift) snap \(snapshot.count) flags \(flags.rawValue)")
            } else {
                tally.records += 1
            }
        case (.notIP, .notIP): tally.notIP += 1
        case (.malformed, .malformed): tally.malformed += 1
        case (.refused(let errno), let swift):
            // The test-run harness refuses frames shorter than an Ethernet header, and IPv4/IPv6
            // frames shorter than their IP header: frames the program would count, not record.
            if case .packet = swift {
                tally.mismatches.append("\(label): kernel refused the frame (errno \(errno)), swift parsed it")
            } else {
                tally.refused += 1
            }
        default:
            tally.mismatches.append("\(label): kernel \(outcome), swift \(parsed)")
        }
    }

    /// The frame as Ethernet: Ethernet captures as they are; others get an Ethernet header with
    /// the EtherType of their link header in front of the packet. Nil when the link header is cut,
    /// and for 802.11 (PacketParserTests compare its native parse with the Ethernet form).
    static func asEthernet(_ frame: UnsafeRawBufferPointer, linkType: PacketParser.LinkType) -> [UInt8]? {
        let bytes = [UInt8](frame)
        func ethernet(_ type: [UInt8], _ l3: Int) -> [UInt8]? {
            guard bytes.count >= l3 else { return nil }
            return [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2] + type + bytes[l3...]
        }
        switch linkType {
        case .ethernet: return bytes
        case .linuxSLL: return bytes.count >= 16 ? ethernet(Array(bytes[14..<16]), 16) : nil
        case .linuxSLL2: return bytes.count >= 20 ? ethernet(Array(bytes[0..<2]), 20) : nil
        case .raw, .rawDLT12, .rawDLT14:
            guard let first = bytes.first else { return nil }
            return ethernet(first >> 4 == 6 ? [0x86, 0xDD] : [0x08, 0x00], 0)
        case .null, .loop:
            guard bytes.count >= 4 else { return nil }
            let family = bytes[0] == 0 ? bytes[3] : bytes[0]
            return ethernet(family == 2 ? [0x08, 0x00] : [0x86, 0xDD], 4)
        case .ipv4: return ethernet([0x08, 0x00], 0)
        case .ipv6: return ethernet([0x86, 0xDD], 0)
        case .ppp:
            let start = bytes.starts(with: [0xFF, 0x03]) ? 2 : 0
            guard bytes.count > start else { return nil }
            let compressed = bytes[start] & 1 == 1
            guard compressed || bytes.count >= start + 2 else { return nil }
            let pppProtocol = compressed ? Int(bytes[start]) : Int(bytes[start]) << 8 | Int(bytes[start + 1])
            return ethernet(pppProtocol == 0x57 ? [0x86, 0xDD] : [0x08, 0x00], start + (compressed ? 1 : 2))
        case .ciscoHDLC: return bytes.count >= 4 ? ethernet(Array(bytes[2..<4]), 4) : nil
        case .ppi:
            guard bytes.count >= 8, bytes[4] == 1 else { return nil }
            let length = Int(bytes[2]) | Int(bytes[3]) << 8
            return bytes.count >= length ? Array(bytes[length...]) : nil
        case .ieee80211: return nil
        }
    }

    @Test(arguments: SharedCapturesDirectory.captures, paths)
    func sharedCapturesParseAlike(_ name: String, path: ProgramTestRun.Path) throws {
        try use(path)
        let source = try PcapSource(path: SharedCapturesDirectory.path(name))
        let linkType = source.linkType
        var tally = Tally()
        var index = 0
        var frames: [[UInt8]] = []
        try source.forEachRecord { frame, _, _ in
            guard index < Self.packetsPerCapture else { return }
            index += 1
            if let ethernet = Self.asEthernet(frame, linkType: linkType) { frames.append(ethernet) }
        }
        let before = program.counters()
        for (number, frame) in frames.enumerated() {
            try compare(frame, label: "\(name) #\(number + 1)", tally: &tally)
        }
        let after = program.counters()
        // The kernel's own counters agree with the outcomes compared one by one.
        #expect(after.notIP - before.notIP == UInt64(tally.notIP))
        #expect(after.malformed - before.malformed == UInt64(tally.malformed))
        if tally.mismatches.isEmpty { #expect(after.packets - before.packets == UInt64(tally.records)) }
        #expect(after.ringBufferFull == before.ringBufferFull)
        print(
            "differential \(name) (\(path)): \(frames.count) frames, \(tally.records) records, \(tally.notIP) not IP, "
                + "\(tally.malformed) malformed, \(tally.refused) refused, \(tally.shortened) shortened, "
                + "\(program.counters().fastPath) by the fast path")
        #expect(tally.mismatches.isEmpty, "\(name): \(tally.mismatches.prefix(10).joined(separator: "\n"))")
        #expect(tally.records > 0)
    }

    /// The include/exclude rules: the program (evaluating the tables in its maps) and
    /// `PacketFilter.verdict` (the rules' meaning, as pcap input applies it) agree on every frame
    /// of several captures (IPv4 and IPv6) under hand-picked and random filters made of the
    /// captures' own networks, ports and protocols; each filter replaces the one before in the
    /// same loaded program, so the maps' two generations take turns.
    @Test func filtersAgree() throws {
        var frames: [[UInt8]] = []
        var events: [PacketEvent] = []
        for name in ["http_ipv6.pcap", "iphone.pcap", "gnutella.pcap", "dns.pcap"] {
            let source = try PcapSource(path: SharedCapturesDirectory.path(name))
            var index = 0
            try source.forEachRecord { frame, _, _ in
                guard index < 1500, let ethernet = Self.asEthernet(frame, linkType: source.linkType) else { return }
                index += 1
                frames.append(ethernet)
            }
        }
        for frame in frames {
            let parsed = frame.withUnsafeBytes {
                PacketParser.parse($0, originalLength: frame.count, linkType: .ethernet, timestamp: 0)
            }
            if case .packet(let event, _, _) = parsed { events.append(event) }
        }
        var random = SystemRandomNumberGenerator()
        func randomRule() -> String {
            let event = events.randomElement(using: &random)!
            var words: [String] = []
            if Bool.random(using: &random) {
                let address = Bool.random(using: &random) ? event.source : event.destination
                let bits = address.isIPv6 ? [128, 64, 48, 32] : [32, 24, 16, 8]
                words.append("\(address)/\(bits.randomElement(using: &random)!)")
            }
            if Bool.random(using: &random), event.sourcePort != 0 {
                let port = Bool.random(using: &random) ? event.sourcePort : event.destinationPort
                words.append(Bool.random(using: &random) ? "port \(port)" : "port \(max(1, port / 2))-\(port)")
            }
            if Int.random(in: 0..<3, using: &random) == 0 { words.append("proto \(event.transport)") }
            return words.isEmpty ? "proto \(event.transport)" : words.joined(separator: " ")
        }
        var filters = [
            try PacketFilter(include: [], exclude: ["port 53"]),
            try PacketFilter(include: ["proto udp"], exclude: ["port 53", "2a00::/8"]),
            try PacketFilter(include: ["192.168.0.0/16 port 443", "::/0"], exclude: []),
            .none,
        ]
        for _ in 0..<12 {
            filters.append(
                try PacketFilter(
                    include: (0..<Int.random(in: 0...3, using: &random)).map { _ in randomRule() },
                    exclude: (0..<Int.random(in: 0...3, using: &random)).map { _ in randomRule() }))
        }
        var seen: [PacketFilter.Verdict: Int] = [:]
        var mismatches: [String] = []
        for filter in filters {
            try program.setFilter(filter)
            let before = program.counters()
            var expectedExcluded: UInt64 = 0
            var expectedNotIncluded: UInt64 = 0
            for (number, frame) in frames.enumerated() {
                let outcome = try program.run(frame)
                let parsed = frame.withUnsafeBytes {
                    PacketParser.parse($0, originalLength: frame.count, linkType: .ethernet, timestamp: 0)
                }
                guard case .packet(let event, _, _) = parsed else { continue }
                let verdict = filter.verdict(event)
                seen[verdict, default: 0] += 1
                switch (verdict, outcome) {
                case (.observe, .record): break
                case (.excluded, .filtered(.excluded)): expectedExcluded += 1
                case (.notIncluded, .filtered(.notIncluded)): expectedNotIncluded += 1
                default: mismatches.append("\(filter.include) / \(filter.exclude) frame \(number): swift \(verdict), kernel \(outcome)")
                }
            }
            let after = program.counters()
            #expect(after.excluded - before.excluded == expectedExcluded)
            #expect(after.notIncluded - before.notIncluded == expectedNotIncluded)
        }
        print("differential filters: \(filters.count) filters × \(frames.count) frames: \(seen)")
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10).joined(separator: "\n"))")
        #expect(seen.count == 3 && seen.values.allSatisfy { $0 > 1000 }, "\(seen)")
    }

    /// Fuzzing the pair: frames of the shared captures, mutated (bytes set, flipped, cut,
    /// inserted, the IP/L4 header region favoured) by a seeded generator, so a run is repeatable
    /// and a mismatch names its seed and frame. Both must agree on every one, as on real frames.
    static let mutantsPerPath = 6000

    @Test(arguments: paths)
    func mutatedFramesParseAlike(path: ProgramTestRun.Path) throws {
        try use(path)
        var originals: [[UInt8]] = []
        for name in SharedCapturesDirectory.captures {
            let source = try PcapSource(path: SharedCapturesDirectory.path(name))
            let linkType = source.linkType
            var taken = 0
            try source.forEachRecord { frame, _, _ in
                guard taken < 60, let ethernet = Self.asEthernet(frame, linkType: linkType) else { return }
                originals.append(ethernet)
                taken += 1
            }
        }
        #expect(originals.count > 500)
        let seed: UInt64 = 0x6470_6675_7a7a
        var random = Xoshiro256StarStar(seed: seed)
        var tally = Tally()
        for number in 0..<Self.mutantsPerPath {
            var frame = originals[Int(random.next() % UInt64(originals.count))]
            for _ in 0..<(1 + random.next() % 4) {
                // Most edits land in the first 80 bytes: Ethernet, VLAN, IP and L4 headers.
                let span = random.next() % 4 == 0 ? max(frame.count, 1) : min(max(frame.count, 1), 80)
                let at = Int(random.next() % UInt64(span))
                switch random.next() % 6 {
                case 0 where at < frame.count: frame[at] = UInt8(truncatingIfNeeded: random.next())
                case 1 where at < frame.count: frame[at] ^= 1 << UInt8(random.next() % 8)
                case 2: frame.removeLast(min(frame.count, Int(random.next() % 64)))
                case 3 where at <= frame.count:
                    frame.insert(contentsOf: (0..<(1 + random.next() % 8)).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: at)
                case 4 where at + 1 < frame.count:
                    frame[at] = [0x00, 0xFF, 0x45, 0x60, 0x81, 0x86, 0xDD, 0x06, 0x11, 0x2C][Int(random.next() % 10)]
                default:
                    if at + 2 <= frame.count { frame.replaceSubrange(at..<(at + 2), with: [0, 0]) }
                }
            }
            try compare(frame, label: "seed \(seed) mutant #\(number)", tally: &tally)
        }
        print(
            "differential mutants (\(path)): \(Self.mutantsPerPath) frames, \(tally.records) records, "
                + "\(tally.notIP) not IP, \(tally.malformed) malformed, \(tally.refused) refused")
        #expect(tally.mismatches.isEmpty, "\(tally.mismatches.prefix(10).joined(separator: "\n"))")
        #expect(tally.records > Self.mutantsPerPath / 10 && tally.malformed > 0)
    }

    /// The fast path takes plain TCP and UDP over IPv4 and IPv6 and nothing else, and what it
    /// writes is what the general path writes for the same frame, byte for byte (but the
    /// timestamp, and the payload bytes past the snapshot's length).
    @Test func fastPathTakesPlainTCPAndUDPAlone() throws {
        let general = try ProgramTestRun(path: .general)
        let payload = B.bytes(200, start: 0x30)
        let udp = B.udp(40000, 443, payload: payload)
        let frames: [(String, fast: Bool, [UInt8])] = [
            ("ipv4 udp", true, B.ethernet(B.ipv4(protocol: 17, l4: udp))),
            ("ipv4 tcp options", true, B.ethernet(B.ipv4(protocol: 6, l4: B.tcp(1, 2, flags: 0x02, options: [2, 4, 5, 0xb4], payload: payload)))),
            ("ipv4 tcp ack padded", true, B.ethernet(padTo: 60, B.ipv4(protocol: 6, l4: B.tcp(1, 2, flags: 0x10)))),
            ("ipv4 first fragment", true, B.ethernet(B.ipv4(protocol: 17, moreFragments: true, l4: udp))),
            ("ipv6 udp", true, B.ethernet(type: 0x86DD, B.ipv6(next: 17, l4: udp))),
            ("ipv6 tcp", true, B.ethernet(type: 0x86DD, B.ipv6(next: 6, l4: B.tcp(5, 6, payload: [1])))),
            ("ipv4 options", false, B.ethernet(B.ipv4(protocol: 17, options: [0x94, 4, 0, 0], l4: udp))),
            ("vlan", false, B.ethernet(vlans: [0x8100], B.ipv4(protocol: 17, l4: udp))),
            ("fragment", false, B.ethernet(B.ipv4(protocol: 17, fragmentOffset: 185, l4: udp))),
            ("tot_len 0", false, B.ethernet(B.ipv4(protocol: 17, totalLength: 0, l4: udp))),
            ("tot_len beyond", false, B.ethernet(B.ipv4(protocol: 17, totalLength: 1000, l4: udp))),
            ("tcp truncated", false, B.ethernet(B.ipv4(protocol: 6, totalLength: 30, l4: B.tcp(1, 2)))),
            ("icmp", false, B.ethernet(B.ipv4(protocol: 1, l4: [8, 0, 0xf7, 0xff, 0, 1, 0, 1]))),
            ("vxlan", false, B.ethernet(B.ipv4(protocol: 17, l4: B.udp(5, 4789, payload: B.vxlan(vni: 7, B.ethernet(B.ipv4(protocol: 17, l4: udp))))))),
            ("capwap source", false, B.ethernet(B.ipv4(protocol: 17, l4: B.udp(5247, 9, payload: payload)))),
            ("ipv6 hop-by-hop", false, B.ethernet(type: 0x86DD, B.ipv6(next: 17, extensions: [(0, B.optionsHeader(units: 0))], l4: udp))),
            ("ipv6 payload_len 0", false, B.ethernet(type: 0x86DD, B.ipv6(next: 17, payloadLength: 0, l4: udp))),
        ]
        /// The outcome without the test run's timestamp and interface.
        func comparable(_ outcome: ProgramTestRun.Outcome) -> ProgramTestRun.Outcome {
            guard case .record(var event, let snapshot, let flags) = outcome else { return outcome }
            event.timestamp = 0
            event.interface = 0
            return .record(event, snapshot: snapshot, flags: flags)
        }
        for (name, fast, frame) in frames {
            let before = program.counters().fastPath
            let attached = comparable(try program.run(frame))
            #expect(program.counters().fastPath - before == (fast ? 1 : 0), "\(name)")
            let reference = comparable(try general.run(frame))
            #expect(general.counters().fastPath == 0)
            if fast, case .record = attached {} else if fast { Issue.record("\(name): no record (\(attached))") }
            #expect(attached == reference, "\(name)")
            #expect(program.lastRecord == general.lastRecord, "\(name)")
        }
    }

    /// The benchmark's floors stop the fast path where they say and write nothing: the hook
    /// floor does not even count the packet; the parse and clock floors count it as the fast
    /// path does; a frame the fast path leaves still goes to the general path, which records it.
    @Test(arguments: DatapathFloor.allCases)
    func floorsRecordNothing(floor: DatapathFloor) throws {
        let stopped = try ProgramTestRun(floor: floor)
        let plain = B.ethernet(B.ipv4(protocol: 17, l4: B.udp(40000, 443, payload: B.bytes(200, start: 0x30))))
        let vlan = B.ethernet(vlans: [0x8100], B.ipv4(protocol: 17, l4: B.udp(40000, 443, payload: [1])))
        #expect(try stopped.runThenRead([plain, plain], perRead: 8).isEmpty)
        let counted = stopped.counters()
        #expect(counted.fastPath == (floor == .hook ? 0 : 2))
        #expect(counted.packets == counted.fastPath)
        let general = try stopped.runThenRead([vlan], perRead: 8)
        #expect(general == (floor == .hook ? [] : [[40000]]))
        // As attached, the same frames are records.
        #expect(try program.runThenRead([plain, vlan], perRead: 8) == [[40000, 40000]])
    }

    /// Edge cases the captures may not hold: every rule of the parser, on hand-built frames.
    @Test(arguments: paths)
    func handBuiltFramesParseAlike(path: ProgramTestRun.Path) throws {
        try use(path)
        let payload = B.bytes(300, start: 0x41)
        let udp = B.udp(1234, 53, payload: [1, 2])
        var frames: [(String, [UInt8])] = [
            ("tcp", B.ethernet(B.ipv4(protocol: 6, l4: B.tcp(40112, 80, payload: Array(payload[0..<37]))))),
            (
                "tcp options",
                B.ethernet(B.ipv4(protocol: 6, l4: B.tcp(1, 2, flags: 0x02, options: [2, 4, 5, 0xb4], payload: [9])))
            ),
            ("udp 300", B.ethernet(B.ipv4(protocol: 17, l4: B.udp(5000, 53, payload: payload)))),
            ("vlan", B.ethernet(vlans: [0x8100], B.ipv4(protocol: 17, l4: udp))),
            ("qinq", B.ethernet(vlans: [0x88A8, 0x8100], B.ipv4(protocol: 17, l4: udp))),
            ("three tags", B.ethernet(vlans: [0x88A8, 0x8100, 0x8100], B.ipv4(protocol: 17, l4: udp))),
            ("priority tag then vlan", B.ethernet(vlans: [0x88A8, 0x8100], vlanIDs: [0, 42], B.ipv4(protocol: 17, l4: udp))),
            ("pppoe", B.ethernet(type: 0x8864, vlans: [0x8100], [0x11, 0, 0, 1, 0, 30, 0, 0x21] + B.ipv4(protocol: 17, l4: udp))),
            ("pppoe lcp", B.ethernet(type: 0x8864, [0x11, 0, 0, 1, 0, 30, 0xC0, 0x21] + B.bytes(20))),
            ("pppoe cut", B.ethernet(type: 0x8864, [0x11, 0, 0, 1])),
            ("mpls", B.ethernet(type: 0x8847, [0, 1, 0, 64, 0, 2, 1, 64] + B.ipv4(protocol: 17, l4: udp))),
            ("mpls no bottom", B.ethernet(type: 0x8847, Array(repeating: [0, 1, 0, 64], count: 7).flatMap { $0 })),
            ("mpls not ip", B.ethernet(type: 0x8847, [0, 2, 1, 64, 0x20, 0, 0, 0])),
            (
                "ip options",
                B.ethernet(B.ipv4(protocol: 6, options: [0x94, 4, 0, 0], l4: B.tcp(22, 50000, payload: [0xAA])))
            ),
            ("padding", B.ethernet(padTo: 60, B.ipv4(protocol: 17, l4: B.udp(1, 2, payload: [5, 6])))),
            ("ack padding", B.ethernet(padTo: 60, B.ipv4(protocol: 6, l4: B.tcp(1, 2, flags: 0x10)))),
            ("tot_len 0", B.ethernet(B.ipv4(protocol: 17, totalLength: 0, l4: udp))),
            ("tot_len 1000", B.ethernet(B.ipv4(protocol: 17, totalLength: 1000, l4: udp))),
            ("tot_len one beyond", B.ethernet(B.ipv4(protocol: 17, totalLength: 20 + udp.count + 1, l4: udp))),
            ("tot_len the frame", B.ethernet(B.ipv4(protocol: 17, totalLength: 20 + udp.count, l4: udp))),
            ("ipv6 payload_len beyond", B.ethernet(type: 0x86DD, B.ipv6(next: 17, payloadLength: 1000, l4: udp))),
            ("fragment", B.ethernet(B.ipv4(protocol: 17, fragmentOffset: 185, l4: B.udp(9, 8, payload: B.bytes(40))))),
            (
                "first fragment",
                B.ethernet(B.ipv4(protocol: 17, moreFragments: true, l4: B.udp(4000, 53, payload: B.bytes(64))))
            ),
            ("tcp truncated", B.ethernet(B.ipv4(protocol: 6, totalLength: 30, l4: B.tcp(1, 2, payload: [1, 2])))),
            ("udp truncated", B.ethernet(B.ipv4(protocol: 17, l4: [0, 53, 0, 53, 0]))),
            ("ihl 15", B.ethernet(B.ipv4(protocol: 17, ihl: 15, l4: B.udp(1, 2)))),
            ("ihl 15 tot_len 0", B.ethernet(B.ipv4(protocol: 17, totalLength: 0, ihl: 15, l4: B.udp(1, 2)))),
            ("icmp", B.ethernet(B.ipv4(protocol: 1, l4: [8, 0, 0xf7, 0xff, 0, 1, 0, 1] + B.bytes(56)))),
            ("version 5", B.ethernet(B.ipv4(protocol: 17, version: 5, l4: udp))),
            ("ihl 4", B.ethernet(B.ipv4(protocol: 17, ihl: 4, l4: udp))),
            ("tot_len 19", B.ethernet(B.ipv4(protocol: 17, totalLength: 19, l4: udp))),
            ("arp", B.ethernet(type: 0x0806, B.bytes(28))),
            ("vlan arp", B.ethernet(type: 0x0806, vlans: [0x8100], B.bytes(28))),
            ("ipv6 tcp", B.ethernet(type: 0x86DD, B.ipv6(next: 6, l4: B.tcp(443, 40000, flags: 0x11, payload: [1])))),
            ("ipv6 padding", B.ethernet(type: 0x86DD, padTo: 100, B.ipv6(next: 17, l4: udp))),
            ("ipv6 payload_len 0", B.ethernet(type: 0x86DD, B.ipv6(next: 17, payloadLength: 0, l4: udp))),
            (
                "ipv6 ext",
                B.ethernet(
                    type: 0x86DD,
                    B.ipv6(
                        next: 17,
                        extensions: [
                            (0, B.optionsHeader(units: 0)), (43, B.optionsHeader(units: 1)),
                            (51, B.authenticationHeader(length: 4)), (60, B.optionsHeader(units: 2)),
                        ], l4: udp))
            ),
            (
                "ipv6 7 ext",
                B.ethernet(
                    type: 0x86DD,
                    B.ipv6(next: 17, extensions: (0..<7).map { _ in (60, B.optionsHeader(units: 0)) }, l4: udp))
            ),
            (
                "ipv6 first fragment",
                B.ethernet(
                    type: 0x86DD, B.ipv6(next: 17, extensions: [(44, B.fragmentHeader(offset: 0, more: true))], l4: udp)
                )
            ),
            (
                "ipv6 fragment",
                B.ethernet(
                    type: 0x86DD,
                    B.ipv6(next: 17, extensions: [(44, B.fragmentHeader(offset: 181, more: false))], l4: B.bytes(24)))
            ),
            ("ipv6 ext beyond end", B.ethernet(type: 0x86DD, B.ipv6(next: 0, l4: []))),
            ("ipv6 tcp truncated", B.ethernet(type: 0x86DD, B.ipv6(next: 6, l4: B.bytes(12)))),
            ("ipv6 icmp", B.ethernet(type: 0x86DD, B.ipv6(next: 58, l4: B.bytes(64)))),
        ]
        var doff = B.tcp(1, 2, payload: [1, 2, 3, 4])
        doff[12] = 0x20
        frames.append(("tcp doff 2", B.ethernet(B.ipv4(protocol: 6, l4: doff))))
        var ipv6Version = B.ipv6(next: 17, l4: udp)
        ipv6Version[0] = 0x40
        frames.append(("ipv6 version 4", B.ethernet(type: 0x86DD, ipv6Version)))
        // Every prefix of a few of them: cuts in every header.
        for (name, frame) in frames.prefix(8) + frames.suffix(12) {
            for end in stride(from: 14, to: frame.count, by: 1) {
                frames.append(("\(name) cut at \(end)", Array(frame.prefix(end))))
            }
        }
        var tally = Tally()
        for (name, frame) in frames { try compare(frame, label: name, tally: &tally) }
        #expect(tally.mismatches.isEmpty, "\(tally.mismatches.prefix(10).joined(separator: "\n"))")
        #expect(tally.records > 30 && tally.malformed > 5 && tally.notIP >= 3)
    }

    /// Every tunnel path, on hand-built frames: each kind with its options, the ones that must
    /// fall back to the outer packet or count as not IP, every prefix of them (cuts in every
    /// header, outer and inner), and seeded mutations of them.
    static func tunnelFrames() -> [(String, [UInt8])] {
        let innerSource: [UInt8] = [203, 0, 113, 10]
        let innerDestination: [UInt8] = [203, 0, 113, 20]
        let udp = B.udp(5555, 6666, payload: B.bytes(40, start: 0x61))
        let tcp = B.tcp(40000, 443, flags: 0x02, payload: B.bytes(20))
        let innerUDP = B.ipv4(protocol: 17, source: innerSource, destination: innerDestination, l4: udp)
        let innerTCP = B.ipv4(protocol: 6, source: innerSource, destination: innerDestination, l4: tcp)
        let innerV6 = B.ipv6(next: 17, source: B.v6(10), destination: B.v6(20), l4: udp)
        let innerICMPv6 = B.ipv6(next: 58, source: B.v6(10), destination: B.v6(20), l4: B.bytes(32))
        let innerEthernet = B.ethernet(innerUDP)
        let arp = B.ethernet(type: 0x0806, B.bytes(28))
        func overUDP(_ port: Int, _ body: [UInt8], source: Int = 49152) -> [UInt8] {
            B.ethernet(B.ipv4(protocol: 17, l4: B.udp(source, port, payload: body)))
        }
        func overIP(_ proto: UInt8, _ body: [UInt8]) -> [UInt8] { B.ethernet(B.ipv4(protocol: proto, l4: body)) }
        func overIPv6(_ next: UInt8, _ body: [UInt8]) -> [UInt8] { B.ethernet(type: 0x86DD, B.ipv6(next: next, l4: body)) }
        let mpls: [UInt8] = [0, 1, 1, 64]
        let pduSession: [UInt8] = [1, 0x10, 0x09, 0]
        return [
            ("ipip", overIP(4, innerTCP)),
            ("4in6", overIPv6(4, innerUDP)),
            ("sit", overIP(41, innerV6)),
            ("sit icmpv6", overIP(41, innerICMPv6)),
            ("6in6", overIPv6(41, innerV6)),
            ("sit carrying ipv4", overIP(41, innerUDP)),
            ("ipip inner version 5", overIP(4, B.ipv4(protocol: 17, version: 5, l4: udp))),
            ("ipip inner beyond outer", overIP(4, B.ipv4(protocol: 17, totalLength: 200, l4: udp))),
            ("gre ipv4", overIP(47, B.gre(protocol: 0x0800, innerUDP))),
            ("gre key", overIP(47, B.gre(protocol: 0x0800, key: 0xDEAD_BEEF, innerTCP))),
            ("gre csum key seq ipv6", overIP(47, B.gre(protocol: 0x86DD, checksum: true, key: 7, sequence: 9, innerV6))),
            ("gre over ipv6", overIPv6(47, B.gre(protocol: 0x0800, sequence: 1, innerUDP))),
            ("gretap", overIP(47, B.gre(protocol: 0x6558, key: 3, innerEthernet))),
            ("gretap tagged", overIP(47, B.gre(protocol: 0x6558, B.ethernet(vlans: [0x8100], vlanIDs: [7], innerUDP)))),
            ("gre mpls", overIP(47, B.gre(protocol: 0x8847, mpls + innerUDP))),
            ("gre arp", overIP(47, B.gre(protocol: 0x6558, arp))),
            ("gre version 1", overIP(47, B.gre(protocol: 0x880B, key: 1, version: 1, B.bytes(30)))),
            ("gre routing", overIP(47, B.gre(protocol: 0x0800, routing: true, innerUDP))),
            ("gre unknown protocol", overIP(47, B.gre(protocol: 0x1234, B.bytes(30)))),
            ("erspan I", overIP(47, B.gre(protocol: 0x88BE, innerEthernet))),
            ("erspan II", overIP(47, B.gre(protocol: 0x88BE, sequence: 5, B.erspan2(session: 5, innerEthernet)))),
            ("erspan II version 2", overIP(47, B.gre(protocol: 0x88BE, sequence: 5, B.erspan3(session: 5, innerEthernet)))),
            ("erspan III", overIP(47, B.gre(protocol: 0x22EB, sequence: 1, B.erspan3(session: 700, innerEthernet)))),
            (
                "erspan III platform",
                overIP(47, B.gre(protocol: 0x22EB, sequence: 1, B.erspan3(session: 1023, platform: true, innerEthernet)))
            ),
            ("erspan III frame type 2", overIP(47, B.gre(protocol: 0x22EB, sequence: 1, B.erspan3(session: 3, frameType: 2, innerUDP)))),
            ("vxlan", overUDP(4789, B.vxlan(vni: 42, innerEthernet))),
            ("vxlan tcp", overUDP(4789, B.vxlan(vni: 0xFFFFFF, B.ethernet(innerTCP)))),
            ("vxlan over ipv6", overIPv6(17, B.udp(1234, 4789, payload: B.vxlan(vni: 1, B.ethernet(type: 0x86DD, innerV6))))),
            ("vxlan without I", overUDP(4789, B.vxlan(vni: 42, flags: 0, innerEthernet))),
            ("vxlan arp", overUDP(4789, B.vxlan(vni: 42, arp))),
            ("vxlan qinq", overUDP(4789, B.vxlan(vni: 9, B.ethernet(vlans: [0x88A8, 0x8100], innerUDP)))),
            ("vxlan from 4789", overUDP(80, B.vxlan(vni: 42, innerEthernet), source: 4789)),
            ("vxlan in gre", overIP(47, B.gre(protocol: 0x0800, B.ipv4(protocol: 17, l4: B.udp(1, 4789, payload: B.vxlan(vni: 5, innerEthernet)))))),
            ("geneve", overUDP(6081, B.geneve(vni: 99, innerEthernet))),
            ("geneve options", overUDP(6081, B.geneve(vni: 99, options: B.bytes(8), innerEthernet))),
            ("geneve ipv4", overUDP(6081, B.geneve(vni: 5, protocol: 0x0800, innerUDP))),
            ("geneve ipv6", overUDP(6081, B.geneve(vni: 5, protocol: 0x86DD, innerV6))),
            ("geneve version 1", overUDP(6081, B.geneve(vni: 5, version: 1, innerEthernet))),
            ("geneve options beyond", overUDP(6081, B.geneve(vni: 5, options: B.bytes(252), []))),
            ("gtpu", overUDP(2152, B.gtpu(teid: 0x1234_5678, innerUDP))),
            ("gtpu ipv6", overUDP(2152, B.gtpu(teid: 1, innerV6))),
            ("gtpu sequence", overUDP(2152, B.gtpu(teid: 2, sequence: true, innerTCP))),
            ("gtpu extensions", overUDP(2152, B.gtpu(teid: 3, extensions: [pduSession, [2, 0, 0, 0, 0, 0, 0, 0]], innerUDP))),
            ("gtpu extension length 0", overUDP(2152, B.gtpu(teid: 3, extensions: [[0, 0, 0, 0]], innerUDP))),
            ("gtpu five extensions", overUDP(2152, B.gtpu(teid: 3, extensions: Array(repeating: pduSession, count: 5), innerUDP))),
            ("gtpu echo", overUDP(2152, B.gtpu(teid: 0, type: 1, sequence: true, []))),
            ("gtpu not ip", overUDP(2152, B.gtpu(teid: 4, B.bytes(30)))),
            ("capwap 802.3", overUDP(5247, B.capwap(innerEthernet))),
            ("capwap 802.11", overUDP(5247, B.capwap(native80211: true, B.ieee80211(qos: true, innerUDP)))),
            ("capwap from 5247", overUDP(40000, B.capwap(innerEthernet), source: 5247)),
            ("capwap 802.11 management", overUDP(5247, B.capwap(native80211: true, [0x80, 0] + B.bytes(40)))),
            ("capwap other binding", overUDP(5247, B.capwap(native80211: true, wbid: 3, innerEthernet))),
            ("capwap fragment", overUDP(5247, B.capwap(fragment: true, innerEthernet))),
            ("capwap keep-alive", overUDP(5247, B.capwap(keepAlive: true, []))),
            ("outer fragment", B.ethernet(B.ipv4(protocol: 47, fragmentOffset: 100, l4: B.gre(protocol: 0x0800, innerUDP)))),
            (
                "outer first fragment",
                B.ethernet(B.ipv4(protocol: 4, moreFragments: true, l4: Array(B.ipv4(protocol: 17, totalLength: 1400, l4: udp).prefix(40))))
            ),
            ("tagged outer", B.ethernet(vlans: [0x8100], vlanIDs: [33], B.ipv4(protocol: 17, l4: B.udp(9, 4789, payload: B.vxlan(vni: 1, innerEthernet))))),
            ("outer padding", B.ethernet(padTo: 200, B.ipv4(protocol: 4, l4: innerUDP))),
        ]
    }

    @Test(arguments: paths)
    func tunnelFramesParseAlike(path: ProgramTestRun.Path) throws {
        try use(path)
        var frames = Self.tunnelFrames()
        for (name, frame) in Self.tunnelFrames() {
            for end in stride(from: 14, to: frame.count, by: 1) {
                frames.append(("\(name) cut at \(end)", Array(frame.prefix(end))))
            }
        }
        var random = Xoshiro256StarStar(seed: 0x7475_6e6e_656c)
        let originals = Self.tunnelFrames().map(\.1)
        for number in 0..<3000 {
            var frame = originals[Int(random.next() % UInt64(originals.count))]
            for _ in 0..<(1 + random.next() % 3) {
                let at = Int(random.next() % UInt64(max(frame.count, 1)))
                guard at < frame.count else { continue }
                switch random.next() % 3 {
                case 0: frame[at] = UInt8(truncatingIfNeeded: random.next())
                case 1: frame[at] ^= 1 << UInt8(random.next() % 8)
                default: frame.removeLast(min(frame.count, Int(random.next() % 32)))
                }
            }
            frames.append(("tunnel mutant #\(number)", frame))
        }
        let before = program.counters()
        var tally = Tally()
        var tunneled = 0
        var outer = 0
        for (name, frame) in frames {
            try compare(frame, label: name, tally: &tally)
            let parsed = frame.withUnsafeBytes {
                PacketParser.parse($0, originalLength: frame.count, linkType: .ethernet, timestamp: 0)
            }
            if case .packet(let event, _, let flags) = parsed {
                if event.tunnel != nil { tunneled += 1 }
                if flags.contains(.tunnelOuter) { outer += 1 }
            }
        }
        let after = program.counters()
        print(
            "differential tunnels (\(path)): \(frames.count) frames, \(tally.records) records (\(tunneled) "
                + "decapsulated, \(outer) outer), \(tally.notIP) not IP, \(tally.malformed) malformed, \(tally.refused) refused")
        #expect(tally.mismatches.isEmpty, "\(tally.mismatches.prefix(10).joined(separator: "\n"))")
        #expect(after.tunnelOuter - before.tunnelOuter == UInt64(outer))
        #expect(tunneled > 500 && outer > 200 && tally.notIP > 100)
    }

    @Test func otherLinkTypesParseLikeTheirEthernetForm() throws {
        let ip = B.ipv4(protocol: 6, options: [1, 1, 1, 1], l4: B.tcp(1111, 2222, flags: 0x18, payload: B.bytes(200)))
        let v6 = B.ipv6(next: 17, extensions: [(0, B.optionsHeader(units: 1))], l4: B.udp(1, 2, payload: [3]))
        let cases: [([UInt8], PacketParser.LinkType)] = [
            (B.sll(ip), .linuxSLL), (B.sll2(ip), .linuxSLL2), (ip, .raw), (B.sll(type: 0x86DD, v6), .linuxSLL),
            (B.sll2(type: 0x86DD, v6), .linuxSLL2), (v6, .raw), ([2, 0, 0, 0] + ip, .null),
            ([0, 0, 0, 30] + v6, .loop), (ip, .ipv4), (v6, .ipv6), (B.ppp(ip), .ppp),
            (B.ppp(protocol: 0x57, hdlc: false, compressed: true, v6), .ppp), (B.ciscoHDLC(ip), .ciscoHDLC),
            (B.ciscoHDLC(type: 0x86DD, v6), .ciscoHDLC), (B.ppi(fields: B.ppi80211Common, B.ethernet(ip)), .ppi),
        ]
        var tally = Tally()
        for (frame, link) in cases {
            let ethernet = try #require(frame.withUnsafeBytes { Self.asEthernet($0, linkType: link) })
            try compare(ethernet, label: "\(link)", tally: &tally)
            // And the native parse equals the Ethernet one, offsets aside.
            let native = frame.withUnsafeBytes {
                PacketParser.parse($0, originalLength: frame.count, linkType: link, timestamp: 0)
            }
            let viaEthernet = ethernet.withUnsafeBytes {
                PacketParser.parse($0, originalLength: ethernet.count, linkType: .ethernet, timestamp: 0)
            }
            guard case .packet(let a, let ra, let fa) = native, case .packet(let b, let rb, let fb) = viaEthernet else {
                Issue.record("\(link): \(native) / \(viaEthernet)")
                continue
            }
            #expect(a == b && fa == fb && Array(frame[ra]) == Array(ethernet[rb]), "\(link)")
        }
        #expect(tally.mismatches.isEmpty, "\(tally.mismatches.joined(separator: "\n"))")
        #expect(tally.records == cases.count)
    }

    @Test func countersFollowTheOutcomes() throws {
        let before = program.counters()
        _ = try program.run(B.ethernet(type: 0x0806, B.bytes(28)))
        _ = try program.run(B.ethernet(B.ipv4(protocol: 17, version: 5, l4: B.udp(1, 2))))
        _ = try program.run(B.ethernet(B.ipv4(protocol: 17, l4: B.udp(1, 2))))
        let after = program.counters()
        #expect(after.notIP == before.notIP + 1)
        #expect(after.malformed == before.malformed + 1)
        #expect(after.packets == before.packets + 1)
        #expect(after.ringBufferFull == before.ringBufferFull)
    }

    @Test("the ring's consumer: every record once, in order, across wraps, resuming after a stopped read")
    func ringConsumer() throws {
        // 3 × 200 records of 240 ring bytes through the 64 KiB test ring: it wraps twice; reads
        // stop after 64 records, as the capture's batch budget stops them.
        for round in 0..<3 {
            let ports = (1...200).map { UInt16(round * 200 + $0) }
            let frames = ports.map { B.ethernet(B.ipv4(protocol: 17, l4: B.udp(Int($0), 9, payload: B.bytes(50)))) }
            let reads = try program.runThenRead(frames, perRead: 64)
            #expect(reads.map(\.count) == [64, 64, 64, 8])
            #expect(Array(reads.joined()) == ports)
        }
        #expect(program.counters().ringBufferFull == 0)
    }

    @Test("the kernel's run-time statistics (dps-bench's program cost) count the program's runs while on")
    func runStatistics() throws {
        let statistics = try ProgramRunStats.enable()
        defer { close(statistics) }
        let before = try ProgramRunStats.totals(["tc_ingress"])
        let frame = B.ethernet(B.ipv4(protocol: 17, l4: B.udp(1, 2, payload: B.bytes(200))))
        for _ in 0..<100 { _ = try program.run(frame) }
        let after = try ProgramRunStats.totals(["tc_ingress"])
        #expect(after.runs >= before.runs + 100)
        let nanoseconds = try #require(after.nanosecondsPerRun(since: before))
        #expect(nanoseconds > 0 && nanoseconds < 1_000_000)
        let none = try ProgramRunStats.totals(["no_such_program"])
        #expect(none.runs == 0 && none.nanoseconds == 0)
    }
}

enum SharedCapturesDirectory {
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/pcaps")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static var captures: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted()
    }
}
