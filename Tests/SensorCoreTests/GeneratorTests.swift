import Testing

@testable import SensorCore

@Suite("Synthetic frames")
struct GeneratorTests {
    func frames(seed: UInt64, count: Int) -> [(SyntheticClass, FlowFrame)] {
        var generator = FrameGenerator(seed: seed)
        return (0..<count).map { _ in generator.next() }
    }

    @Test("xoshiro256** from SplitMix64: the reference outputs for seed 0")
    func prngReference() {
        // SplitMix64(0) gives the state; these are xoshiro256**'s first outputs for it
        // (computed with the reference C code).
        var random = Xoshiro256StarStar(seed: 0)
        let first = (0..<3).map { _ in random.next() }
        #expect(first == [0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0])
    }

    @Test("uniform integers stay in range and reach both bounds")
    func intRange() {
        var random = Xoshiro256StarStar(seed: 1)
        var seen = Set<Int>()
        for _ in 0..<2000 {
            let value = random.int(in: 3...9)
            #expect((3...9).contains(value))
            seen.insert(value)
        }
        #expect(seen == Set(3...9))
    }

    @Test("same seed, same frames; another seed, other frames")
    func determinism() {
        let encoder = FrameEncoder()
        let a = frames(seed: 42, count: 500).map { encoder.string($0.1) }
        let b = frames(seed: 42, count: 500).map { encoder.string($0.1) }
        let c = frames(seed: 43, count: 500).map { encoder.string($0.1) }
        #expect(a == b)
        #expect(a != c)
        #expect(zip(a, c).filter { $0 == $1 }.count == 0)
    }

    @Test("the mix is near its shares (10,000 frames)")
    func mix() {
        let generated = frames(seed: 42, count: 10_000)
        for kind in SyntheticClass.allCases {
            let n = generated.filter { $0.0 == kind }.count
            let expected = kind.share * 100
            #expect(abs(n - expected) < 300, "\(kind): \(n) frames, expected about \(expected)")
        }
    }

    @Test("every class within its field ranges")
    func ranges() {
        for (kind, f) in frames(seed: 7, count: 5000) {
            #expect(f.label == kind.label)
            for address in [f.source, f.destination] {
                let octets = address.description.split(separator: ".").compactMap { Int($0) }
                #expect(octets.count == 4 && octets.allSatisfy { (1...254).contains($0) })
            }
            #expect(FrameGenerator.roundSignificant(f.duration, digits: 4) == f.duration)
            switch kind {
            case .http:
                #expect(f.transport == .tcp && f.destinationPort == 80 && f.sourcePort >= 1024)
                #expect(f.payload == Array("GET / HTTP/1.1\r\nHost: example.co".utf8))
                #expect(f.bytesIn == 32 && (200...50_000).contains(f.bytesOut))
                #expect((0.01...2).contains(f.duration))
            case .https:
                #expect(f.transport == .tcp && f.destinationPort == 443 && f.sourcePort >= 1024)
                #expect(f.payload?.count == 32 && f.payload?.starts(with: [0x16, 0x03, 0x03]) == true)
                #expect(f.bytesIn == 32 && (1000...100_000).contains(f.bytesOut))
                #expect((0.05...5).contains(f.duration))
            case .dns:
                #expect(f.transport == .udp && f.destinationPort == 53 && f.destination.description == "8.8.8.8")
                #expect(f.payload == nil && (28...60).contains(f.bytesIn) && (60...512).contains(f.bytesOut))
                #expect((0.001...0.05).contains(f.duration))
            case .bittorrent:
                #expect(f.transport == .tcp)
                #expect((6881...6889).contains(f.sourcePort) && (6881...6889).contains(f.destinationPort))
                #expect(f.payload?.count == 32 && f.payload?.starts(with: [0x13] + Array("BitTorrent protocol".utf8)) == true)
                #expect(f.bytesIn == 32 && f.bytesOut == 32 && (0.1...60).contains(f.duration))
            case .ssh:
                #expect(f.transport == .tcp && f.destinationPort == 22 && f.sourcePort >= 1024)
                #expect(f.payload?.count == 20 && f.payload?.starts(with: Array("SSH-2.0-OpenSSH_7.9".utf8)) == true)
                #expect((20...40).contains(f.bytesIn) && (20...40).contains(f.bytesOut))
                #expect((0.001...0.3).contains(f.duration))
            case .c2:
                #expect([4444, 8080, 9001, 1337, 31337].contains(f.destinationPort) && f.sourcePort >= 1024)
                #expect(f.transport == .tcp || f.transport == .udp)
                let size = f.payload?.count ?? 0
                #expect((16...32).contains(size) && f.bytesIn == UInt64(size) && f.bytesOut == UInt64(size))
                #expect((0...0.5).contains(f.duration))
            }
        }
    }

    @Test("durations round to 4 significant digits and print that way")
    func rounding() {
        #expect(FrameGenerator.roundSignificant(0.011700000001, digits: 4).description == "0.0117")
        #expect(FrameGenerator.roundSignificant(4.33949, digits: 4).description == "4.339")
        #expect(FrameGenerator.roundSignificant(25.6649, digits: 4).description == "25.66")
        #expect(FrameGenerator.roundSignificant(0.00123456, digits: 4).description == "0.001235")
        #expect(FrameGenerator.roundSignificant(9.99996, digits: 4).description == "10.0")
        #expect(FrameGenerator.roundSignificant(0, digits: 4) == 0)
    }
}
