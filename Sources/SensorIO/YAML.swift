import CYAML
import SensorCore

/// One YAML document read into nodes, with bounds checked while reading, before anything large
/// is built: nesting depth, node count, and the nodes that aliases expand to (a 512-byte "billion
/// laughs" file would otherwise expand to gigabytes). libyaml's parser is a state machine with its
/// own stacks, not recursion, and so is the composing here: deep input is refused, never a stack
/// overflow.
///
/// Scalars are typed by the YAML 1.1 rules dps has always used: plain `true`/`yes`/`on` ... are
/// booleans, `~`/`null`/empty is null, ints (decimal, `0x`, `0o`/leading 0, `0b`, `1:30`), floats
/// (`1.5`, `1e3`, `.inf`, `.nan`); quoted scalars are strings; an explicit `!!str`, `!!int`, ...
/// tag wins.
public struct YAMLNode: Sendable {
    public enum Content: Sendable {
        case scalar(String, YAMLScalarType)
        case sequence([YAMLNode])
        case mapping([(key: YAMLNode, value: YAMLNode)])
    }

    public var content: Content
    /// 1-based line where the node starts.
    public var line: Int
}

public enum YAMLScalarType: Sendable, Equatable {
    case null, bool, int, float, string
}

public struct YAMLLimits: Sendable {
    public var depth: Int
    /// Nodes in the document after alias expansion.
    public var nodes: Int

    public init(depth: Int = 64, nodes: Int = 100_000) {
        self.depth = depth
        self.nodes = nodes
    }
}

public struct YAMLError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var line: Int?
    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}

public enum YAML {
    /// The document's root, or nil for an empty document (nothing, or only comments).
    public static func compose(_ text: String, limits: YAMLLimits = YAMLLimits()) throws(YAMLError) -> YAMLNode? {
        var composer = Composer(limits: limits)
        var bytes = Array(text.utf8)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw YAMLError(message: "out of memory") }
        defer { yaml_parser_delete(&parser) }
        return try bytes.withUnsafeMutableBufferPointer { (buffer) throws(YAMLError) -> YAMLNode? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    let problem = parser.problem.map { String(cString: $0) } ?? "unreadable"
                    throw YAMLError(message: problem, line: Int(parser.problem_mark.line) + 1)
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { return composer.root }
                try composer.take(event)
            }
        }
    }
}

/// Builds nodes from parser events with an explicit stack.
private struct Composer {
    enum Open {
        case sequence([YAMLNode])
        case mapping([(key: YAMLNode, value: YAMLNode)], pendingKey: YAMLNode?)
    }

    struct Frame {
        var open: Open
        var line: Int
        var anchor: String?
        var nodes: Int
    }

    let limits: YAMLLimits
    var stack: [Frame] = []
    var anchors: [String: (node: YAMLNode, nodes: Int)] = [:]
    var total = 0
    var documents = 0
    var root: YAMLNode?

    init(limits: YAMLLimits) { self.limits = limits }

    mutating func take(_ event: yaml_event_t) throws(YAMLError) {
        let line = Int(event.start_mark.line) + 1
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 { throw YAMLError(message: "more than one document", line: line) }
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = string(scalar.value, Int(scalar.length))
            let type: YAMLScalarType
            if let tag = scalar.tag {
                type = YAMLScalarType(tag: String(cString: tag)) ?? .string
            } else if scalar.style == YAML_PLAIN_SCALAR_STYLE {
                type = YAMLScalarType.resolve(text)
            } else {
                type = .string
            }
            try add(YAMLNode(content: .scalar(text, type), line: line), nodes: 1, anchor: optional(scalar.anchor))
        case YAML_ALIAS_EVENT:
            let name = optional(event.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                throw YAMLError(message: "unknown alias *\(Echo.escaped(name, limit: 64))", line: line)
            }
            try add(target.node, nodes: target.nodes, anchor: nil)
        case YAML_SEQUENCE_START_EVENT:
            try push(.sequence([]), line: line, anchor: optional(event.data.sequence_start.anchor))
        case YAML_MAPPING_START_EVENT:
            try push(.mapping([], pendingKey: nil), line: line, anchor: optional(event.data.mapping_start.anchor))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let frame = stack.removeLast()
            let content: YAMLNode.Content
            switch frame.open {
            case .sequence(let items): content = .sequence(items)
            case .mapping(let pairs, _): content = .mapping(pairs)
            }
            try add(YAMLNode(content: content, line: frame.line), nodes: frame.nodes, anchor: frame.anchor, counted: true)
        default:
            break
        }
    }

    private mutating func push(_ open: Open, line: Int, anchor: String?) throws(YAMLError) {
        guard stack.count < limits.depth else {
            throw YAMLError(message: "nested deeper than \(limits.depth) levels", line: line)
        }
        try count(1, line: line)
        stack.append(Frame(open: open, line: line, anchor: anchor, nodes: 1))
    }

    /// Puts a finished node (of `nodes` nodes) into the open collection, or makes it the root.
    private mutating func add(_ node: YAMLNode, nodes: Int, anchor: String?, counted: Bool = false) throws(YAMLError) {
        if !counted { try count(nodes, line: node.line) }
        if let anchor { anchors[anchor] = (node, nodes) }
        guard var frame = stack.popLast() else {
            root = node
            return
        }
        frame.nodes += nodes
        switch frame.open {
        case .sequence(var items):
            frame.open = .sequence([])  // keep the array uniquely referenced while appending
            items.append(node)
            frame.open = .sequence(items)
        case .mapping(var pairs, let key):
            frame.open = .mapping([], pendingKey: nil)
            if let key {
                pairs.append((key, node))
                frame.open = .mapping(pairs, pendingKey: nil)
            } else {
                frame.open = .mapping(pairs, pendingKey: node)
            }
        }
        stack.append(frame)
    }

    private mutating func count(_ nodes: Int, line: Int) throws(YAMLError) {
        total += nodes
        guard total <= limits.nodes else {
            throw YAMLError(message: "more than \(limits.nodes) nodes (aliases included)", line: line)
        }
    }

    private func string(_ bytes: UnsafeMutablePointer<UInt8>?, _ length: Int) -> String {
        guard let bytes else { return "" }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
    }

    private func optional(_ text: UnsafeMutablePointer<UInt8>?) -> String? {
        text.map { String(cString: $0) }
    }
}

extension YAMLScalarType {
    /// An explicit tag: `!!str` and friends (libyaml hands them over expanded).
    init?(tag: String) {
        switch tag {
        case "tag:yaml.org,2002:str": self = .string
        case "tag:yaml.org,2002:int": self = .int
        case "tag:yaml.org,2002:float": self = .float
        case "tag:yaml.org,2002:bool": self = .bool
        case "tag:yaml.org,2002:null": self = .null
        case "!": self = .string
        default: return nil
        }
    }

    /// The type of a plain scalar (YAML 1.1 forms, first match: bool, int, float, null).
    static func resolve(_ text: String) -> YAMLScalarType {
        if YAMLScalar.bool(text) != nil { return .bool }
        if YAMLScalar.isInt(text) { return .int }
        if YAMLScalar.isFloat(text) { return .float }
        if ["", "~", "null", "Null", "NULL"].contains(text) { return .null }
        return .string
    }
}

/// Values of typed scalars.
public enum YAMLScalar {
    public static func bool(_ text: String) -> Bool? {
        switch text {
        case "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON": true
        case "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF": false
        default: nil
        }
    }

    /// `[-+]?` then `0b[01_]+`, `0o?[0-7_]+`, `0`, `[1-9][0-9_]*`, `0x[0-9a-fA-F_]+`, or base 60
    /// `[1-9][0-9_]*(:[0-5]?[0-9])+`.
    static func isInt(_ text: String) -> Bool {
        let (_, body) = sign(Substring(text))
        if body == "0" { return true }
        if let digits = body.dropPrefix("0b") { return !digits.isEmpty && digits.allSatisfy { "01_".contains($0) } }
        if let digits = body.dropPrefix("0x") { return !digits.isEmpty && digits.allSatisfy { $0.isHexDigit || $0 == "_" } }
        if let digits = body.dropPrefix("0o") ?? body.dropPrefix("0") {
            return !digits.isEmpty && digits.allSatisfy { "01234567_".contains($0) }
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        guard let first = parts.first, first.first.map({ "123456789".contains($0) }) == true,
            first.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "_") })
        else { return false }
        return parts.dropFirst().allSatisfy(isSexagesimalDigits)
    }

    /// `[-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?`, `\.[0-9_]+([eE][-+][0-9]+)?`, base 60 with
    /// a fraction, `[-+]?.inf`, `.nan`.
    static func isFloat(_ text: String) -> Bool {
        if [".nan", ".NaN", ".NAN"].contains(text) { return true }
        let (signed, body) = sign(Substring(text))
        if [".inf", ".Inf", ".INF"].contains(body) { return true }
        if body.contains(":") {
            let parts = body.split(separator: ":", omittingEmptySubsequences: false)
            guard let first = parts.first, first.first?.isASCII == true, first.first?.isNumber == true,
                first.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "_") }), parts.count >= 2,
                let last = parts.last, let dot = last.firstIndex(of: ".")
            else { return false }
            return parts.dropFirst().dropLast().allSatisfy(isSexagesimalDigits)
                && isSexagesimalDigits(last[..<dot])
                && last[last.index(after: dot)...].allSatisfy { $0.isASCII && ($0.isNumber || $0 == "_") }
        }
        var rest = body[...]
        let digit: (Character) -> Bool = { $0.isASCII && $0.isNumber }
        if rest.first == "." {  // .5 (no sign allowed, exponent needs its sign)
            guard !signed else { return false }
            rest = rest.dropFirst()
            let digits = rest.prefix { digit($0) || $0 == "_" }
            guard !digits.isEmpty else { return false }
            rest = rest.dropFirst(digits.count)
            return rest.isEmpty || exponent(rest, signRequired: true)
        }
        guard let first = rest.first, digit(first) else { return false }
        rest = rest.drop { digit($0) || $0 == "_" }
        if rest.first == "." { rest = rest.dropFirst().drop { digit($0) || $0 == "_" } }
        return rest.isEmpty || exponent(rest, signRequired: false)
    }

    /// The integer value (nil when out of range).
    public static func int(_ text: String) -> Int? {
        let (_, unsigned) = sign(Substring(text))
        let negative = text.hasPrefix("-")
        let body = unsigned.filter { $0 != "_" }
        var magnitude: Int?
        if body.contains(":") {
            magnitude = 0
            for part in body.split(separator: ":") {
                guard let m = magnitude, let digit = Int(part) else { return nil }
                let (times, o1) = m.multipliedReportingOverflow(by: 60)
                let (sum, o2) = times.addingReportingOverflow(digit)
                magnitude = o1 || o2 ? nil : sum
            }
        } else if body.hasPrefix("0b") {
            magnitude = Int(body.dropFirst(2), radix: 2)
        } else if body.hasPrefix("0x") {
            magnitude = Int(body.dropFirst(2), radix: 16)
        } else if body.hasPrefix("0o") {
            magnitude = Int(body.dropFirst(2), radix: 8)
        } else if body.hasPrefix("0"), body.count > 1 {
            magnitude = Int(body.dropFirst(), radix: 8)
        } else {
            magnitude = Int(body)
        }
        guard let magnitude else {
            // Int.min's magnitude does not fit an Int.
            return negative ? Int("-" + body) : nil
        }
        return negative ? -magnitude : magnitude
    }

    /// The floating-point value.
    public static func float(_ text: String) -> Double? {
        switch text {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default: break
        }
        let negative = text.hasPrefix("-")
        let body = sign(Substring(text)).body.filter { $0 != "_" }
        if body.contains(":") {
            var value = 0.0
            for part in body.split(separator: ":") {
                guard let number = Double(part) else { return nil }
                value = value * 60 + number
            }
            return negative ? -value : value
        }
        guard let value = Double(body) else { return nil }
        return negative ? -value : value
    }

    private static func sign(_ text: Substring) -> (signed: Bool, body: Substring) {
        text.first == "-" || text.first == "+" ? (true, text.dropFirst()) : (false, text)
    }

    private static func isSexagesimalDigits(_ part: Substring) -> Bool {
        (1...2).contains(part.count) && part.allSatisfy { $0.isASCII && $0.isNumber }
            && (part.count == 1 || "012345".contains(part.first!))
    }

    private static func exponent(_ text: Substring, signRequired: Bool) -> Bool {
        guard text.first == "e" || text.first == "E" else { return false }
        var rest = text.dropFirst()
        if rest.first == "-" || rest.first == "+" {
            rest = rest.dropFirst()
        } else if signRequired {
            return false
        }
        return !rest.isEmpty && rest.allSatisfy { $0.isASCII && $0.isNumber }
    }
}

extension Substring {
    fileprivate func dropPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}

extension YAMLNode {
    public var scalarText: String? {
        if case .scalar(let text, _) = content { return text }
        return nil
    }

    public var scalarType: YAMLScalarType? {
        if case .scalar(_, let type) = content { return type }
        return nil
    }

    public var bool: Bool? { scalarType == .bool ? scalarText.flatMap(YAMLScalar.bool) : nil }
    public var int: Int? { scalarType == .int ? scalarText.flatMap(YAMLScalar.int) : nil }
    public var float: Double? { scalarType == .float ? scalarText.flatMap(YAMLScalar.float) : nil }
}
