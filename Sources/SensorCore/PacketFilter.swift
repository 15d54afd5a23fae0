/// Which packets `dps` observes: include and exclude rules, the same for live capture (where
/// the BPF program applies them, from `PacketFilter.Tables`, before it reserves a ring-buffer
/// record) and for pcap input (where `verdict` applies them to each parsed packet).
///
/// A rule is a few conditions, all of which must hold (tcpdump's words, fewer of them):
/// - an address or network, `198.51.100.0/24`, `2001:db8::/32`, `203.0.113.7` (`host`/`net`
///   before it are allowed): either endpoint is in it;
/// - `port N` or `port N-M` (1…65535): either port is in it, TCP and UDP only (a non-first
///   fragment or a cut header has no ports, so it matches no port rule);
/// - `proto tcp|udp|icmp|icmpv6|sctp|gre|N`: the L4 protocol.
///
/// A packet is excluded when any exclude rule matches; otherwise, when there are include rules,
/// it is observed only when one of them matches. No rules: every packet is observed.
public struct PacketFilter: Equatable, Sendable {
    public var include: [Rule]
    public var exclude: [Rule]

    /// Rules per list: each is one bit of a 32-bit mask in the kernel's tables.
    public static let maximumRules = 32

    public init(includeRules: [Rule], excludeRules: [Rule]) {
        include = includeRules
        exclude = excludeRules
    }

    /// No rules: every packet is observed.
    public static let none = PacketFilter(includeRules: [], excludeRules: [])

    /// Parses both lists; the first bad rule throws, naming it.
    public init(include: [String], exclude: [String]) throws(PacketFilterError) {
        for (name, list) in [("include", include), ("exclude", exclude)] where list.count > Self.maximumRules {
            throw PacketFilterError("\(name): \(list.count) rules, at most \(Self.maximumRules)")
        }
        self.include = try include.map { rule throws(PacketFilterError) in try Rule(rule) }
        self.exclude = try exclude.map { rule throws(PacketFilterError) in try Rule(rule) }
    }

    public var isEmpty: Bool { include.isEmpty && exclude.isEmpty }

    public enum Verdict: Equatable, Sendable {
        case observe
        /// An exclude rule matched.
        case excluded
        /// There are include rules and none matched.
        case notIncluded
    }

    public func verdict(_ event: PacketEvent) -> Verdict {
        if exclude.contains(where: { $0.matches(event) }) { return .excluded }
        if !include.isEmpty && !include.contains(where: { $0.matches(event) }) { return .notIncluded }
        return .observe
    }

    // MARK: Rules

    public struct Rule: Equatable, Sendable, CustomStringConvertible {
        public var network: IPNetwork?
        public var ports: ClosedRange<UInt16>?
        public var protocolNumber: UInt8?

        public init(network: IPNetwork? = nil, ports: ClosedRange<UInt16>? = nil, protocolNumber: UInt8? = nil) {
            self.network = network
            self.ports = ports
            self.protocolNumber = protocolNumber
        }

        static let protocolNames: [String: UInt8] = [
            "tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "icmp6": 58, "sctp": 132, "gre": 47,
        ]

        public init(_ text: String) throws(PacketFilterError) {
            var words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { $0.lowercased() }[...]
            guard !words.isEmpty else { throw PacketFilterError("empty rule") }
            func fail(_ problem: String) -> PacketFilterError { PacketFilterError("\"\(text)\": \(problem)") }
            while let word = words.popFirst() {
                switch word {
                case "port", "portrange":
                    guard ports == nil else { throw fail("more than one port condition") }
                    guard let value = words.popFirst() else { throw fail("port needs a number or a range N-M") }
                    let bounds = value.split(separator: "-", omittingEmptySubsequences: false).map { UInt16($0) }
                    guard bounds.count <= 2, let low = bounds.first ?? nil, let high = bounds.last ?? nil,
                        low >= 1, low <= high
                    else { throw fail("port needs a number 1-65535 or a range N-M, got \(value)") }
                    ports = low...high
                case "proto":
                    guard protocolNumber == nil else { throw fail("more than one proto condition") }
                    guard let value = words.popFirst() else { throw fail("proto needs a name or number") }
                    guard let number = Self.protocolNames[value] ?? UInt8(value) else {
                        let names = Self.protocolNames.keys.sorted().joined(separator: ", ")
                        throw fail("unknown protocol \(value) (\(names), or a number 0-255)")
                    }
                    protocolNumber = number
                case "host", "net":
                    guard let value = words.first, (try? IPNetwork(value)) != nil else {
                        throw fail("\(word) needs an address or network")
                    }
                default:
                    guard network == nil else { throw fail("more than one address or network") }
                    do {
                        network = try IPNetwork(word)
                    } catch {
                        throw fail("\(word) is not an address, a network, port or proto")
                    }
                }
            }
        }

        public func matches(_ event: PacketEvent) -> Bool {
            if let protocolNumber, event.transport != protocolNumber { return false }
            if let ports {
                guard event.transport == 6 || event.transport == 17 else { return false }
                guard ports.contains(event.sourcePort) || ports.contains(event.destinationPort) else { return false }
            }
            if let network, !network.contains(event.source) && !network.contains(event.destination) { return false }
            return true
        }

        public var description: String {
            var words: [String] = []
            if let network { words.append("\(network)") }
            if let ports { words.append(ports.count == 1 ? "port \(ports.lowerBound)" : "port \(ports.lowerBound)-\(ports.upperBound)") }
            if let protocolNumber {
                words.append("proto \(Self.protocolNames.first { $0.value == protocolNumber && $0.key != "icmp6" }?.key ?? "\(protocolNumber)")")
            }
            return words.joined(separator: " ")
        }
    }
}

public struct PacketFilterError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An IPv4 or IPv6 network: an address and a prefix length.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    /// The network's address, bits beyond the prefix cleared.
    public var address: IPAddress
    public var prefixLength: Int

    public init(_ text: String) throws(PacketFilterError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { throw PacketFilterError("not an address: \(text)") }
        let bits = address.isIPv6 ? 128 : 32
        var length = bits
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...bits).contains(value) else {
                throw PacketFilterError("prefix length of \(text) is not 0-\(bits)")
            }
            length = value
        }
        self.address = address.masked(to: length)
        prefixLength = length
    }

    public func contains(_ other: IPAddress) -> Bool {
        other.isIPv6 == address.isIPv6 && other.masked(to: prefixLength) == address
    }

    /// Whether every address of `other` is in this network.
    public func contains(_ other: IPNetwork) -> Bool {
        other.prefixLength >= prefixLength && contains(other.address)
    }

    public var description: String {
        prefixLength == (address.isIPv6 ? 128 : 32) ? "\(address)" : "\(address)/\(prefixLength)"
    }
}

extension IPAddress {
    /// The address's bytes in network order: 4 or 16.
    public var networkBytes: [UInt8] {
        withUnsafeBytes(of: (high, low)) { Array($0.prefix(isIPv6 ? 16 : 4)) }
    }

    /// The address with the bits after the first `length` cleared.
    func masked(to length: Int) -> IPAddress {
        var bytes = networkBytes
        for i in bytes.indices {
            let keep = max(0, min(8, length - i * 8))
            bytes[i] &= keep == 8 ? 0xFF : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
        }
        return bytes.withUnsafeBytes { IPAddress(bytes: $0) }
    }
}

extension PacketFilter {
    /// The rules as the BPF program's maps hold them: one bit per rule (include and exclude
    /// apart), looked up by address, port and protocol, so that the program evaluates any number
    /// of rules (up to 32 per list) in a few map lookups and mask operations:
    ///
    ///     matched(list) = rules & (network(src) | network(dst) | anyNetwork)
    ///                           & (port(sport) | port(dport) | anyPort)      // TCP/UDP only
    ///                           & (protocol(proto) | anyProtocol)
    ///
    /// `verdict(_:)` here is that evaluation, the one the program does; tests hold it to
    /// `PacketFilter.verdict` (the rules' meaning) and the program to it.
    public struct Tables: Equatable, Sendable {
        public struct Masks: Equatable, Hashable, Sendable {
            public var include: UInt32 = 0
            public var exclude: UInt32 = 0
            public init(include: UInt32 = 0, exclude: UInt32 = 0) {
                self.include = include
                self.exclude = exclude
            }
            public var isEmpty: Bool { include == 0 && exclude == 0 }
            static func | (l: Masks, r: Masks) -> Masks {
                Masks(include: l.include | r.include, exclude: l.exclude | r.exclude)
            }
            static func & (l: Masks, r: Masks) -> Masks {
                Masks(include: l.include & r.include, exclude: l.exclude & r.exclude)
            }
        }

        /// Every rule's bit; the rules without a network, port or protocol condition.
        public var rules = Masks()
        public var anyNetwork = Masks()
        public var anyPort = Masks()
        public var anyProtocol = Masks()
        /// Each network a rule names, with the bits of every rule whose network holds it: the
        /// longest of them holding an address (what an LPM trie finds) gives every rule whose
        /// network holds the address.
        public var networks: [IPNetwork: Masks] = [:]
        /// By port (65536 entries) and by protocol number (256).
        public var ports = [Masks](repeating: Masks(), count: 65536)
        public var protocols = [Masks](repeating: Masks(), count: 256)

        public init(_ filter: PacketFilter) {
            var named: [(IPNetwork, Masks)] = []
            for (isExclude, list) in [(false, filter.include), (true, filter.exclude)] {
                for (index, rule) in list.enumerated() {
                    let bit: UInt32 = 1 << UInt32(index)
                    let mask = isExclude ? Masks(exclude: bit) : Masks(include: bit)
                    rules = rules | mask
                    if let network = rule.network { named.append((network, mask)) } else { anyNetwork = anyNetwork | mask }
                    if let range = rule.ports {
                        for port in range { ports[Int(port)] = ports[Int(port)] | mask }
                    } else {
                        anyPort = anyPort | mask
                    }
                    if let number = rule.protocolNumber {
                        protocols[Int(number)] = protocols[Int(number)] | mask
                    } else {
                        anyProtocol = anyProtocol | mask
                    }
                }
            }
            for (network, _) in named {
                networks[network] = named.filter { $0.0.contains(network) }.reduce(Masks()) { $0 | $1.1 }
            }
        }

        /// The longest network holding `address`, as the kernel's LPM trie finds it.
        func longestMatch(_ address: IPAddress) -> Masks {
            var best: (length: Int, masks: Masks)?
            for (network, masks) in networks where network.contains(address) {
                if best == nil || network.prefixLength > best!.length { best = (network.prefixLength, masks) }
            }
            return best?.masks ?? Masks()
        }

        public func verdict(_ event: PacketEvent) -> Verdict {
            let network = longestMatch(event.source) | longestMatch(event.destination) | anyNetwork
            var port = anyPort
            if event.transport == 6 || event.transport == 17 {
                port = port | ports[Int(event.sourcePort)] | ports[Int(event.destinationPort)]
            }
            let matched = rules & network & port & (protocols[Int(event.transport)] | anyProtocol)
            if matched.exclude != 0 { return .excluded }
            if rules.include != 0 && matched.include == 0 { return .notIncluded }
            return .observe
        }
    }
}
