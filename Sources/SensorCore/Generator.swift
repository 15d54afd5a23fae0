/// xoshiro256** seeded through SplitMix64: a small, fast, deterministic generator. The same seed
/// gives the same sequence on every platform and Swift version (unlike the standard library's
/// generators, whose algorithms are not specified).
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    public init(seed: UInt64) {
        var splitmix = seed
        func next() -> UInt64 {
            splitmix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitmix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = next()
        s1 = next()
        s2 = next()
        s3 = next()
    }

    public mutating func next() -> UInt64 {
        let result = rotate(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotate(s3, 45)
        return result
    }

    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in the closed range, without modulo bias (Lemire's multiply-and-reject).
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound) &+ 1
        if span == 0 { return Int(truncatingIfNeeded: next()) }  // the whole 64-bit range
        var product = next().multipliedFullWidth(by: span)
        if product.low < span {
            let threshold = (0 &- span) % span
            while product.low < threshold { product = next().multipliedFullWidth(by: span) }
        }
        return range.lowerBound + Int(product.high)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Uniform in [lower, upper].
    public mutating func double(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + unit() * (range.upperBound - range.lowerBound)
    }

    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next() >> 56) }
    }
}

/// The synthetic traffic classes of `dps generate`, with their share of the mix (percent).
public enum SyntheticClass: String, CaseIterable, Sendable {
    case http, https, dns, bittorrent, ssh, c2

    public var share: Int {
        switch self {
        case .http: 30
        case .https: 30
        case .dns: 15
        case .bittorrent: 10
        case .ssh: 8
        case .c2: 7
        }
    }

    /// The label a frame of this class carries.
    public var label: String {
        switch self {
        case .http, .https, .dns: "benign"
        case .bittorrent: "bittorrent"
        case .ssh: "ssh_bruteforce"
        case .c2: "malware_c2"
        }
    }
}

/// Labeled synthetic FlowFrames with the reference generator's mix and field ranges, the same
/// frames for the same seed.
///
/// Each frame draws its class (HTTP 30%, HTTPS 30%, DNS 15%, BitTorrent 10%, SSH brute force 8%,
/// C2 7%), then its fields. Addresses have octets 1–254; client ports are 1024–65535. Durations
/// are drawn uniformly and rounded to 4 significant digits (as in the reference file:
/// `0.0117`, `4.339`, `25.66`).
public struct FrameGenerator: Sendable {
    private var random: Xoshiro256StarStar
    private var nextFlowID: UInt64 = 1

    public init(seed: UInt64) {
        random = Xoshiro256StarStar(seed: seed)
    }

    static let httpPayload = Array("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n".utf8.prefix(32))
    static let bittorrentHandshake = [UInt8(0x13)] + Array("BitTorrent protocol".utf8)
    static let sshBanner = Array("SSH-2.0-OpenSSH_7.9".utf8)
    static let c2Ports: [UInt16] = [4444, 8080, 9001, 1337, 31337]
    static let dnsServer = IPAddress(ipv4: 8, 8, 8, 8)

    /// Draws a class by its share of the mix.
    public mutating func nextClass() -> SyntheticClass {
        var roll = random.int(in: 0...99)
        for kind in SyntheticClass.allCases {
            if roll < kind.share { return kind }
            roll -= kind.share
        }
        return .c2
    }

    /// The next labeled frame and its class.
    public mutating func next() -> (SyntheticClass, FlowFrame) {
        let kind = nextClass()
        return (kind, frame(of: kind))
    }

    public mutating func frame(of kind: SyntheticClass) -> FlowFrame {
        let source = address()
        var frame: FlowFrame
        switch kind {
        case .http:
            frame = tcp(source, address(), clientPort(), 80)
            frame.payload = Self.httpPayload
            frame.bytesIn = 32
            frame.bytesOut = count(200...50_000)
            frame.duration = duration(0.01...2)
        case .https:
            frame = tcp(source, address(), clientPort(), 443)
            frame.payload = [0x16, 0x03, 0x03] + random.bytes(29)
            frame.bytesIn = 32
            frame.bytesOut = count(1000...100_000)
            frame.duration = duration(0.05...5)
        case .dns:
            frame = tcp(source, Self.dnsServer, clientPort(), 53)
            frame.transport = .udp
            frame.payload = nil
            frame.bytesIn = count(28...60)
            frame.bytesOut = count(60...512)
            frame.duration = duration(0.001...0.05)
        case .bittorrent:
            frame = tcp(source, address(), UInt16(random.int(in: 6881...6889)), UInt16(random.int(in: 6881...6889)))
            frame.payload = Self.bittorrentHandshake + random.bytes(32 - Self.bittorrentHandshake.count)
            frame.bytesIn = 32
            frame.bytesOut = 32
            frame.duration = duration(0.1...60)
        case .ssh:
            frame = tcp(source, address(), clientPort(), 22)
            frame.payload = Self.sshBanner + random.bytes(20 - Self.sshBanner.count)
            frame.bytesIn = count(20...40)
            frame.bytesOut = count(20...40)
            frame.duration = duration(0.001...0.3)
        case .c2:
            let port = Self.c2Ports[random.int(in: 0...(Self.c2Ports.count - 1))]
            frame = tcp(source, address(), clientPort(), port)
            frame.transport = random.int(in: 0...1) == 0 ? .tcp : .udp
            let size = random.int(in: 16...32)
            frame.payload = random.bytes(size)
            frame.bytesIn = UInt64(size)
            frame.bytesOut = UInt64(size)
            frame.duration = duration(0...0.5)
        }
        frame.protocolNumber = frame.transport.number  // some kinds change `transport` above
        frame.label = kind.label
        frame.flowID = nextFlowID
        nextFlowID += 1
        return frame
    }

    private func tcp(_ source: IPAddress, _ destination: IPAddress, _ sport: UInt16, _ dport: UInt16) -> FlowFrame {
        FlowFrame(
            source: source, destination: destination, sourcePort: sport, destinationPort: dport,
            transport: .tcp, bytesIn: 0, bytesOut: 0, duration: 0, payload: nil)
    }

    private mutating func address() -> IPAddress {
        let o = (0..<4).map { _ in UInt8(random.int(in: 1...254)) }
        return IPAddress(ipv4: o[0], o[1], o[2], o[3])
    }

    private mutating func clientPort() -> UInt16 { UInt16(random.int(in: 1024...65535)) }

    private mutating func count(_ range: ClosedRange<Int>) -> UInt64 { UInt64(random.int(in: range)) }

    private mutating func duration(_ range: ClosedRange<Double>) -> Double {
        Self.roundSignificant(random.double(in: range), digits: 4)
    }

    /// Rounds to `digits` significant decimal digits; the result is the double nearest that
    /// decimal, so it prints as that decimal (`0.011700000001` → `0.0117`).
    public static func roundSignificant(_ value: Double, digits: Int) -> Double {
        guard value.isFinite, value != 0 else { return value }
        var exponent = 0  // value * 10^exponent is in [10^(digits-1), 10^digits)
        var scaled = value.magnitude
        let low = pow10(digits - 1)
        let high = pow10(digits)
        while scaled < low { scaled *= 10; exponent += 1 }
        while scaled >= high { scaled /= 10; exponent -= 1 }
        // Recompute from the original value with one exact power of ten (k <= 22 is exact).
        let n: Double
        if exponent >= 0 {
            n = (value.magnitude * pow10(exponent)).rounded()
            return (value < 0 ? -1 : 1) * n / pow10(exponent)
        } else {
            n = (value.magnitude / pow10(-exponent)).rounded()
            return (value < 0 ? -1 : 1) * n * pow10(-exponent)
        }
    }

    private static func pow10(_ k: Int) -> Double {
        var result = 1.0
        for _ in 0..<max(k, 0) { result *= 10 }
        return result
    }
}
