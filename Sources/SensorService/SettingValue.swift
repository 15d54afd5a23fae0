import Logging
import SensorCore
import SensorIO

/// A type a setting can have: how the config file gives it, and how it is shown.
public protocol SettingValue: Sendable, Equatable {
    /// The value of a config-file node; the error says what was expected and what was found.
    static func read(_ node: YAMLNode) throws(SettingValueError) -> Self
    /// As reload logs and errors show it.
    var settingText: String { get }
    /// As the README and `--help` show a default: `settingText` unless said otherwise.
    var documentedText: String { get }
}

extension SettingValue {
    public var documentedText: String { settingText }
}

extension Bool: SettingValue {
    public static func read(_ node: YAMLNode) throws(SettingValueError) -> Bool {
        guard let value = node.bool else { throw SettingValueError("expected true or false, got \(node.kind)") }
        return value
    }

    public var settingText: String { "\(self)" }
}

extension Int: SettingValue {
    public static func read(_ node: YAMLNode) throws(SettingValueError) -> Int {
        guard let value = node.int else { throw SettingValueError("expected an integer, got \(node.kind)") }
        return value
    }

    public var settingText: String { "\(self)" }
}

/// Seconds: an integer or a finite number.
extension Double: SettingValue {
    public static func read(_ node: YAMLNode) throws(SettingValueError) -> Double {
        if let value = node.int { return Double(value) }
        if let value = node.float {
            guard value.isFinite else { throw SettingValueError("must be a finite number of seconds, got \(value)") }
            return value
        }
        throw SettingValueError("expected a number of seconds, got \(node.kind)")
    }

    public var settingText: String { "\(self)" }

    /// "10" for whole seconds, "2.5" otherwise.
    public var documentedText: String { self == rounded() && abs(self) < 1e15 ? "\(Int(self))" : "\(self)" }
}

extension String: SettingValue {
    public static func read(_ node: YAMLNode) throws(SettingValueError) -> String {
        guard node.scalarType == .string, let text = node.scalarText else {
            throw SettingValueError("expected a string, got \(node.kind)")
        }
        return text
    }

    public var settingText: String { self }
}

/// A setting with no default (nil: not set).
extension Optional: SettingValue where Wrapped: SettingValue {
    public static func read(_ node: YAMLNode) throws(SettingValueError) -> Self { try Wrapped.read(node) }

    public var settingText: String { map(\.settingText) ?? "(none)" }
}

extension Array: SettingValue where Element == String {
    public static func read(_ node: YAMLNode) throws(SettingValueError) -> [String] {
        guard case .sequence(let sequence) = node.content else {
            throw SettingValueError("expected a list of strings, got \(node.kind)")
        }
        return try sequence.map { (element) throws(SettingValueError) in try String.read(element) }
    }

    public var settingText: String { joined(separator: ",") }
}

/// One of a fixed set of words.
public protocol SettingChoice: SettingValue, RawRepresentable<String>, CaseIterable {
    /// What one value is called in errors: "mode", "level".
    static var choiceName: String { get }
    /// The value a config-file word names; by default the exact raw value.
    static func choice(_ text: String) -> Self?
}

extension SettingChoice {
    public static func choice(_ text: String) -> Self? { Self(rawValue: text) }

    public static func read(_ node: YAMLNode) throws(SettingValueError) -> Self {
        let text = try String.read(node)
        guard let value = choice(text) else {
            throw SettingValueError(
                "unknown \(choiceName) \"\(Echo.escaped(text))\"; one of " + choices.joined(separator: ", "))
        }
        return value
    }

    public static var choices: [String] { allCases.map(\.rawValue) }

    public var settingText: String { rawValue }
}

extension HookMode: SettingChoice {
    public static var choiceName: String { "mode" }
}

extension DatasetCompression: SettingChoice {
    public static var choiceName: String { "compression" }
}

extension Logger.Level: SettingChoice {
    public static var choiceName: String { "level" }

    /// Any case: `INFO` is `info`.
    public static func choice(_ text: String) -> Logger.Level? { Logger.Level(rawValue: text.lowercased()) }
}

extension YAMLNode {
    /// What a node holds, for "expected ..., got ..." messages.
    var kind: String {
        switch content {
        case .scalar(let text, let type):
            let shown = Echo.escaped(text)
            switch type {
            case .null: return "nothing (null)"
            case .bool: return "a boolean (\(shown))"
            case .int: return "an integer (\(shown))"
            case .float: return "a number (\(shown))"
            case .string: return "a string (\"\(shown)\")"
            }
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}
