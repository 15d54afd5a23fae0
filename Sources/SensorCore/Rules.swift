#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One labeling rule: a frame gets `label` when any of the rule's condition sets holds.
///
/// A condition set holds when every condition it names holds (an empty set matches every frame).
/// Rules are tried in order and the first match wins (`RuleSet`).
public struct LabelRule: Equatable, Sendable {
    public var label: String
    /// Alternatives: at least one; the rule matches when any of them does.
    public var alternatives: [RuleConditions]

    public init(label: String, alternatives: [RuleConditions]) {
        self.label = label
        self.alternatives = alternatives
    }

    public init(label: String, match: RuleConditions) {
        self.init(label: label, alternatives: [match])
    }

    public func matches(_ frame: FlowFrame) -> Bool {
        var entropy: Double?
        return matches(frame, entropy: &entropy)
    }

    func matches(_ frame: FlowFrame, entropy: inout Double?) -> Bool {
        for alternative in alternatives where alternative.matches(frame, entropy: &entropy) { return true }
        return false
    }
}

/// The conditions of one alternative of a rule. Every condition that is set must hold.
///
/// Names follow the rules file (`RulesFile`): `protocol`, `any_port`, `port_range`, `dst_port_min`,
/// `payload_prefix_hex`, `duration_under`, `min_payload_bytes`, `min_normalized_entropy`.
public struct RuleConditions: Equatable, Sendable {
    /// `protocol`: the frame's protocol.
    public var transport: FlowProtocol?
    /// `any_port`: the source or the destination port is one of these.
    public var anyPort: [UInt16]?
    /// `port_range`: the source or the destination port is in this closed range.
    public var portRange: ClosedRange<UInt16>?
    /// `dst_port_min`: the destination port is at least this.
    public var destinationPortMin: UInt16?
    /// `payload_prefix_hex`: the payload snapshot starts with these bytes.
    public var payloadPrefix: [UInt8]?
    /// `duration_under`: the duration in seconds is strictly below this.
    public var durationUnder: Double?
    /// `min_payload_bytes`: the payload snapshot has at least this many bytes (a null payload has 0).
    public var minPayloadBytes: Int?
    /// `min_normalized_entropy`: the payload's `PayloadEntropy.normalized` is at least this.
    public var minNormalizedEntropy: Double?

    public init(
        transport: FlowProtocol? = nil, anyPort: [UInt16]? = nil, portRange: ClosedRange<UInt16>? = nil,
        destinationPortMin: UInt16? = nil, payloadPrefix: [UInt8]? = nil, durationUnder: Double? = nil,
        minPayloadBytes: Int? = nil, minNormalizedEntropy: Double? = nil
    ) {
        self.transport = transport
        self.anyPort = anyPort
        self.portRange = portRange
        self.destinationPortMin = destinationPortMin
        self.payloadPrefix = payloadPrefix
        self.durationUnder = durationUnder
        self.minPayloadBytes = minPayloadBytes
        self.minNormalizedEntropy = minNormalizedEntropy
    }

    public func matches(_ frame: FlowFrame) -> Bool {
        var entropy: Double?
        return matches(frame, entropy: &entropy)
    }

    /// `entropy`: the payload's normalized entropy once some condition needed it, so it is
    /// computed at most once per frame across rules.
    func matches(_ frame: FlowFrame, entropy: inout Double?) -> Bool {
        if let transport, frame.transport != transport { return false }
        if let anyPort, !anyPort.contains(frame.sourcePort), !anyPort.contains(frame.destinationPort) {
            return false
        }
        if let portRange, !portRange.contains(frame.sourcePort), !portRange.contains(frame.destinationPort) {
            return false
        }
        if let destinationPortMin, frame.destinationPort < destinationPortMin { return false }
        if let durationUnder, !(frame.duration < durationUnder) { return false }
        if let payloadPrefix {
            guard let payload = frame.payload, payload.starts(with: payloadPrefix) else { return false }
        }
        if let minPayloadBytes, (frame.payload?.count ?? 0) < minPayloadBytes { return false }
        if let minNormalizedEntropy {
            let value = entropy ?? PayloadEntropy.normalized(frame.payload ?? [])
            entropy = value
            if !(value >= minNormalizedEntropy) { return false }
        }
        return true
    }
}

public enum PayloadEntropy {
    /// Shannon entropy of the bytes, in bits per byte (0 for fewer than two bytes).
    public static func bitsPerByte(_ bytes: [UInt8]) -> Double {
        guard bytes.count > 1 else { return 0 }
        return withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 256) { counts in
            counts.initialize(repeating: 0)
            for byte in bytes { counts[Int(byte)] &+= 1 }
            let total = Double(bytes.count)
            // A count's term is the same wherever it appears, and in a payload most counts are
            // small: the terms of counts below 16 are computed once each (128 log2 calls become a
            // handful) and everything is summed in byte order as always, so the result is the
            // same to the last bit.
            return withUnsafeTemporaryAllocation(of: Double.self, capacity: 16) { small in
                small.initialize(repeating: .nan)
                var bits = 0.0
                for count in counts where count > 0 {
                    if count < 16, !small[Int(count)].isNaN {
                        bits -= small[Int(count)]
                        continue
                    }
                    let p = Double(count) / total
                    let term = p * log2(p)
                    if count < 16 { small[Int(count)] = term }
                    bits -= term
                }
                return bits
            }
        }
    }

    /// Bits per byte divided by the most the length allows, log2(min(length, 256)): 1.0 when every
    /// byte of a payload of up to 256 bytes is different; 0 for fewer than two bytes.
    public static func normalized(_ bytes: [UInt8]) -> Double {
        guard bytes.count > 1 else { return 0 }
        return bitsPerByte(bytes) / log2(Double(min(bytes.count, 256)))
    }
}

/// Rules in order; the first whose conditions hold gives the label.
public struct RuleSet: Equatable, Sendable {
    public var rules: [LabelRule]

    public init(_ rules: [LabelRule]) { self.rules = rules }

    /// The index of the first rule that matches, or nil.
    public func firstMatch(_ frame: FlowFrame) -> Int? {
        var entropy: Double?
        for (index, rule) in rules.enumerated() where rule.matches(frame, entropy: &entropy) { return index }
        return nil
    }

    /// The built-in rules (`dps label --print-rules` prints them):
    /// 1. `bittorrent`: the payload starts with 0x13 `BitTorrent protocol`, or either port is in
    ///    6881–6889;
    /// 2. `ssh_bruteforce`: TCP, either port 22, duration under 1.0 s;
    /// 3. `benign`: either port is 80, 443 or 53;
    /// 4. `malware_c2`: destination port >= 1024, a payload of at least 16 bytes with normalized
    ///    entropy >= 0.9.
    public static let defaults = RuleSet([
        LabelRule(
            label: "bittorrent",
            alternatives: [
                RuleConditions(payloadPrefix: [0x13] + Array("BitTorrent protocol".utf8)),
                RuleConditions(portRange: 6881...6889),
            ]),
        LabelRule(
            label: "ssh_bruteforce",
            match: RuleConditions(transport: .tcp, anyPort: [22], durationUnder: 1.0)),
        LabelRule(label: "benign", match: RuleConditions(anyPort: [80, 443, 53])),
        LabelRule(
            label: "malware_c2",
            match: RuleConditions(destinationPortMin: 1024, minPayloadBytes: 16, minNormalizedEntropy: 0.9)),
    ])
}
