import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// The two spellings of a rules file.
public enum RulesFormat: String, Sendable, CaseIterable {
    case json, yaml
}

/// A rules file that cannot be used: names the file, and the rule and field at fault.
public struct RulesFileError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Labeling rules from a JSON or YAML file, and back.
///
/// The file is an object with one key, `rules`: a list tried in order, the first match winning.
/// Each rule has a `label` and a `match`: either one set of conditions, all of which must hold,
/// or a list of such sets, any of which is enough. Conditions (all optional; `{}` matches every
/// frame):
///
/// | key | value | holds when |
/// |---|---|---|
/// | `protocol` | `"TCP"`, `"UDP"` or `"OTHER"` | the frame's protocol is this |
/// | `any_port` | list of ports | the source or destination port is in the list |
/// | `port_range` | `[low, high]` | the source or destination port is in low...high |
/// | `dst_port_min` | port | the destination port is at least this |
/// | `payload_prefix_hex` | hex string | the payload starts with these bytes |
/// | `duration_under` | seconds | the duration is strictly below this |
/// | `min_payload_bytes` | integer | the payload (snapshot, up to 128 bytes) has at least this many bytes |
/// | `min_normalized_entropy` | 0...1 | the payload's Shannon entropy / log2(min(length, 256)) is at least this |
///
/// ```yaml
/// rules:
///   - label: "ssh_bruteforce"
///     match:
///       protocol: "TCP"
///       any_port: [22]
///       duration_under: 1.0
/// ```
public enum RulesFile {
    static let conditionKeys = [
        "protocol", "any_port", "port_range", "dst_port_min", "payload_prefix_hex", "duration_under",
        "min_payload_bytes", "min_normalized_entropy",
    ]

    /// Reads and checks a rules file; the format comes from the extension (`.json`, `.yaml`,
    /// `.yml`) or else from the content.
    public static func load(path: String) throws -> (rules: RuleSet, format: RulesFormat) {
        let text = try readText(path)
        let format = format(path: path, text: text)
        return (try parse(text, format: format, source: path), format)
    }

    /// The format a file's name or, failing that, its first non-blank character implies.
    public static func format(path: String, text: String) -> RulesFormat {
        let lower = path.lowercased()
        if lower.hasSuffix(".json") { return .json }
        if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") { return .yaml }
        let first = text.utf8.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        return first == UInt8(ascii: "{") || first == UInt8(ascii: "[") ? .json : .yaml
    }

    /// Parses and checks rules; `source` names the file in errors.
    public static func parse(_ text: String, format: RulesFormat, source: String) throws(RulesFileError) -> RuleSet {
        let document: JSONValue
        switch format {
        case .json:
            do {
                document = try JSONValue.parse(Array(text.utf8))
            } catch {
                throw RulesFileError("\(source): \(error.message)")
            }
        case .yaml:
            let node: YAMLNode?
            do {
                node = try YAML.compose(text)
            } catch {
                throw RulesFileError("\(source): not YAML: \(error)")
            }
            guard let node else { throw RulesFileError("\(source): the file is empty") }
            document = try value(of: node, source: source)
        }
        return try rules(in: document, source: source)
    }

    // MARK: - Reading

    private static func readText(_ path: String) throws -> String {
        do {
            return try TextFile.read(path, limit: 1 << 24)
        } catch .open(let code) {
            throw IOError("cannot open rules file \(path)", errno: code)
        } catch .read(let code) {
            throw IOError("cannot read rules file \(path)", errno: code)
        } catch .tooLarge {
            throw RulesFileError("\(path): larger than 16 MiB, not a rules file")
        } catch {
            throw RulesFileError("\(path): \(error.reason)")
        }
    }

    /// A YAML node as the JSON value it spells.
    private static func value(of node: YAMLNode, source: String) throws(RulesFileError) -> JSONValue {
        switch node.content {
        case .scalar(let text, let type):
            switch type {
            case .null: return .null
            case .bool:
                if let flag = node.bool { return .bool(flag) }
            case .int:
                if let number = node.int { return .number(String(number)) }
            case .float:
                if let number = node.float, number.isFinite { return .number(number.description) }
            case .string:
                return .string(text)
            }
            throw RulesFileError("\(source): cannot read the value \"\(Echo.escaped(text))\" (line \(node.line))")
        case .sequence(let sequence):
            var elements: [JSONValue] = []
            for element in sequence { elements.append(try value(of: element, source: source)) }
            return .array(elements)
        case .mapping(let mapping):
            var members: [(String, JSONValue)] = []
            for (key, element) in mapping {
                guard let name = key.scalarText else {
                    throw RulesFileError("\(source): a mapping key is not a plain name (line \(key.line))")
                }
                members.append((name, try value(of: element, source: source)))
            }
            return .object(members)
        }
    }

    private static func rules(in document: JSONValue, source: String) throws(RulesFileError) -> RuleSet {
        let list: [JSONValue]
        switch document {
        case .object(let members):
            if let extra = members.first(where: { $0.0 != "rules" }) {
                throw RulesFileError("\(source): unknown top-level key \"\(Echo.escaped(extra.0, limit: 64))\" (expected only \"rules\")")
            }
            guard let rules = members.first(where: { $0.0 == "rules" })?.1 else {
                throw RulesFileError("\(source): missing the top-level key \"rules\"")
            }
            guard case .array(let elements) = rules else {
                throw RulesFileError("\(source): \"rules\" must be a list, got \(rules.kind)")
            }
            list = elements
        case .array(let elements):
            list = elements
        default:
            throw RulesFileError("\(source): expected an object with a \"rules\" list, got \(document.kind)")
        }
        guard !list.isEmpty else { throw RulesFileError("\(source): the rules list is empty") }
        var parsed: [LabelRule] = []
        for (offset, element) in list.enumerated() {
            parsed.append(try rule(element, number: offset + 1, source: source))
        }
        return RuleSet(parsed)
    }

    private static func rule(_ value: JSONValue, number: Int, source: String) throws(RulesFileError) -> LabelRule {
        var name = "rule \(number)"
        func fail(_ field: String, _ message: String) -> RulesFileError {
            RulesFileError("\(source): \(name): field \"\(Echo.escaped(field, limit: 64))\": \(message)")
        }
        guard case .object(let members) = value else {
            throw RulesFileError("\(source): \(name): expected an object with \"label\" and \"match\", got \(value.kind)")
        }
        guard let labelValue = members.first(where: { $0.0 == "label" })?.1 else {
            throw fail("label", "missing")
        }
        guard case .string(let label) = labelValue, !label.isEmpty else {
            throw fail("label", "expected a non-empty string, got \(labelValue.summary)")
        }
        name = "rule \(number) (\(Echo.escaped(label, limit: 64)))"
        var seen = Set<String>()
        for (key, _) in members {
            guard key == "label" || key == "match" else {
                throw fail(key, "unknown field (a rule has \"label\" and \"match\")")
            }
            guard seen.insert(key).inserted else { throw fail(key, "appears twice") }
        }
        guard let match = members.first(where: { $0.0 == "match" })?.1 else { throw fail("match", "missing") }
        var alternatives: [RuleConditions] = []
        switch match {
        case .object:
            alternatives.append(try conditions(match, field: "match", fail: fail))
        case .array(let elements):
            guard !elements.isEmpty else { throw fail("match", "an empty list matches nothing") }
            for (i, element) in elements.enumerated() {
                alternatives.append(try conditions(element, field: "match[\(i)]", fail: fail))
            }
        default:
            throw fail("match", "expected an object of conditions or a list of them, got \(match.kind)")
        }
        return LabelRule(label: label, alternatives: alternatives)
    }

    private static func conditions(
        _ value: JSONValue, field: String, fail: (String, String) -> RulesFileError
    ) throws(RulesFileError) -> RuleConditions {
        guard case .object(let members) = value else {
            throw fail(field, "expected an object of conditions, got \(value.kind)")
        }
        var result = RuleConditions()
        var seen = Set<String>()
        for (key, value) in members {
            let path = "\(field).\(key)"
            guard seen.insert(key).inserted else { throw fail(path, "appears twice") }
            switch key {
            case "protocol":
                guard case .string(let text) = value, let transport = FlowProtocol(rawValue: text.uppercased()) else {
                    throw fail(path, "expected \"TCP\", \"UDP\" or \"OTHER\", got \(value.summary)")
                }
                result.transport = transport
            case "any_port": result.anyPort = try ports(value, path: path, fail: fail)
            case "port_range": result.portRange = try portRange(value, path: path, fail: fail)
            case "dst_port_min":
                guard let port = port(value) else { throw fail(path, "expected a port 0–65535, got \(value.summary)") }
                result.destinationPortMin = port
            case "payload_prefix_hex": result.payloadPrefix = try payloadPrefix(value, path: path, fail: fail)
            case "duration_under":
                guard let seconds = number(value), seconds >= 0 else {
                    throw fail(path, "expected a number of seconds >= 0, got \(value.summary)")
                }
                result.durationUnder = seconds
            case "min_payload_bytes":
                guard case .number(let text) = value, let count = Int(text), count >= 0 else {
                    throw fail(path, "expected an integer >= 0, got \(value.summary)")
                }
                result.minPayloadBytes = count
            case "min_normalized_entropy":
                guard let entropy = number(value), (0...1).contains(entropy) else {
                    throw fail(path, "expected a number from 0 to 1, got \(value.summary)")
                }
                result.minNormalizedEntropy = entropy
            default:
                throw fail(path, "unknown condition (known: \(conditionKeys.joined(separator: ", ")))")
            }
        }
        return result
    }

    /// `any_port`: a non-empty list of ports.
    private static func ports(
        _ value: JSONValue, path: String, fail: (String, String) -> RulesFileError
    ) throws(RulesFileError) -> [UInt16] {
        guard case .array(let elements) = value, !elements.isEmpty else {
            throw fail(path, "expected a non-empty list of ports, got \(value.summary)")
        }
        return try elements.map { (element) throws(RulesFileError) in
            guard let port = port(element) else { throw fail(path, "expected ports 0–65535, got \(element.summary)") }
            return port
        }
    }

    /// `port_range`: `[low, high]`, low at most high.
    private static func portRange(
        _ value: JSONValue, path: String, fail: (String, String) -> RulesFileError
    ) throws(RulesFileError) -> ClosedRange<UInt16> {
        guard case .array(let bounds) = value, bounds.count == 2, let low = port(bounds[0]), let high = port(bounds[1])
        else {
            throw fail(path, "expected [low, high] with ports 0–65535, got \(value.summary)")
        }
        guard low <= high else { throw fail(path, "low \(low) is above high \(high)") }
        return low...high
    }

    /// `payload_prefix_hex`: hex byte pairs, no longer than a payload snapshot.
    private static func payloadPrefix(
        _ value: JSONValue, path: String, fail: (String, String) -> RulesFileError
    ) throws(RulesFileError) -> [UInt8] {
        guard case .string(let text) = value, let bytes = hexBytes(text), !bytes.isEmpty else {
            throw fail(path, "expected a non-empty string of hex byte pairs, got \(value.summary)")
        }
        guard bytes.count <= PacketParser.snapshotMax else {
            throw fail(path, "longer than the \(PacketParser.snapshotMax)-byte payload snapshot: it could never match")
        }
        return bytes
    }

    private static func port(_ value: JSONValue) -> UInt16? {
        guard case .number(let text) = value, let port = UInt16(text) else { return nil }
        return port
    }

    private static func number(_ value: JSONValue) -> Double? {
        guard case .number(let text) = value, let number = Double(text), number.isFinite else { return nil }
        return number
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var i = 0
        while i < digits.count {
            guard let high = hexDigit(digits[i]), let low = hexDigit(digits[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
            i += 2
        }
        return bytes
    }

    private static func hexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: - Writing

    /// The rules in the file format; `parse` gives back the same rules.
    public static func render(_ rules: RuleSet, format: RulesFormat) -> String {
        switch format {
        case .json: renderJSON(rules)
        case .yaml: renderYAML(rules)
        }
    }

    /// `key: value` pairs of one condition set, values in JSON syntax (also valid YAML flow syntax).
    private static func pairs(_ c: RuleConditions) -> [(String, String)] {
        var out: [(String, String)] = []
        if let transport = c.transport { out.append(("protocol", quoted(transport.rawValue))) }
        if let ports = c.anyPort { out.append(("any_port", "[" + ports.map(String.init).joined(separator: ", ") + "]")) }
        if let range = c.portRange { out.append(("port_range", "[\(range.lowerBound), \(range.upperBound)]")) }
        if let port = c.destinationPortMin { out.append(("dst_port_min", String(port))) }
        if let prefix = c.payloadPrefix {
            let hex = prefix.map { byte -> String in
                let digits = Array("0123456789abcdef")
                return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
            }
            out.append(("payload_prefix_hex", quoted(hex.joined())))
        }
        if let seconds = c.durationUnder { out.append(("duration_under", seconds.description)) }
        if let count = c.minPayloadBytes { out.append(("min_payload_bytes", String(count))) }
        if let entropy = c.minNormalizedEntropy { out.append(("min_normalized_entropy", entropy.description)) }
        return out
    }

    private static func inlineObject(_ c: RuleConditions) -> String {
        "{" + pairs(c).map { "\(quoted($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }

    private static func renderJSON(_ rules: RuleSet) -> String {
        var lines = ["{", "  \"rules\": ["]
        for (i, rule) in rules.rules.enumerated() {
            lines.append("    {")
            lines.append("      \"label\": \(quoted(rule.label)),")
            if rule.alternatives.count == 1 {
                lines.append("      \"match\": \(inlineObject(rule.alternatives[0]))")
            } else {
                lines.append("      \"match\": [")
                for (j, alternative) in rule.alternatives.enumerated() {
                    let comma = j + 1 < rule.alternatives.count ? "," : ""
                    lines.append("        \(inlineObject(alternative))\(comma)")
                }
                lines.append("      ]")
            }
            lines.append(i + 1 < rules.rules.count ? "    }," : "    }")
        }
        lines.append("  ]")
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func renderYAML(_ rules: RuleSet) -> String {
        var lines = ["# dps labeling rules: tried in order, the first match wins.", "rules:"]
        for rule in rules.rules {
            lines.append("  - label: \(quoted(rule.label))")
            if rule.alternatives.count == 1 {
                let conditions = pairs(rule.alternatives[0])
                if conditions.isEmpty {
                    lines.append("    match: {}")
                } else {
                    lines.append("    match:")
                    for (key, value) in conditions { lines.append("      \(key): \(value)") }
                }
            } else {
                lines.append("    match:")
                for alternative in rule.alternatives {
                    let conditions = pairs(alternative)
                    if conditions.isEmpty {
                        lines.append("      - {}")
                        continue
                    }
                    for (k, pair) in conditions.enumerated() {
                        lines.append("      \(k == 0 ? "- " : "  ")\(pair.0): \(pair.1)")
                    }
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A JSON string literal (also a valid YAML double-quoted scalar).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
