import SensorIO

/// One `dps run` setting, declared once in `RunSetting`: its config key (the flag is the key with
/// dashes), its type, default, check, whether a reload applies it, and the words for `--help`, the
/// README's settings table and error messages. The config reader, the command-line flags, the
/// reload logic and the README table all come from these declarations.
public struct Setting<Value: SettingValue>: AnySetting {
    public let key: String
    public let flag: String
    public let defaultValue: Value
    /// Whether a SIGHUP reload applies a new value at once (else it needs a restart).
    public let isReloadable: Bool
    /// What it does, for `--help` and the README.
    public let help: String
    /// The README's "type" column: the values it takes ("seconds ≥ 0.001").
    public let valueDescription: String
    /// The default as the README and `--help` show it.
    public let defaultDescription: String
    /// Whether `defaultDescription` is the value itself (not words about it).
    public let defaultIsValue: Bool
    /// `--help`'s name for the value ("seconds").
    public let valueName: String
    private let reader: @Sendable (YAMLNode) throws(SettingValueError) -> Value
    private let checker: @Sendable (Value) -> String?

    /// - Parameters:
    ///   - flag: the command-line flag when it is not `--` + the key with dashes.
    ///   - defaultDescription: the default in words when its plain value would mislead.
    ///   - read: how the config file gives it, when not `Value`'s usual way.
    ///   - check: what makes a value of the right type impossible; nil when it is usable.
    public init(
        _ key: String, flag: String? = nil, default defaultValue: Value, reloadable: Bool = false,
        help: String, values valueDescription: String, valueName: String = "value",
        defaultDescription: String? = nil,
        read: @escaping @Sendable (YAMLNode) throws(SettingValueError) -> Value = Value.read,
        check: @escaping @Sendable (Value) -> String? = { _ in nil }
    ) {
        self.key = key
        self.flag = flag ?? "--" + key.replacingOccurrences(of: "_", with: "-")
        self.defaultValue = defaultValue
        self.isReloadable = reloadable
        self.help = help
        self.valueDescription = valueDescription
        self.valueName = valueName
        self.defaultDescription = defaultDescription ?? defaultValue.documentedText
        self.defaultIsValue = defaultDescription == nil
        self.reader = read
        self.checker = check
    }

    /// What is wrong with `value`, nil when it is usable.
    public func problem(_ value: Value) -> String? { checker(value) }

    // MARK: - AnySetting

    public var flagUsage: String {
        if Value.self == Bool.self {
            let name = flag.dropFirst(2)
            return "`--\(name)` / `--no-\(name)`"
        }
        return Value.self == [String].self ? "`\(flag)` (repeatable)" : "`\(flag)`"
    }

    public func read(_ node: YAMLNode, into settings: inout RunSettings) throws(SettingValueError) {
        let value = try reader(node)
        if let problem = checker(value) { throw SettingValueError(problem) }
        settings[self] = value
    }

    public func problem(in settings: RunSettings) -> String? { settings[self].flatMap(checker) }

    public func givenText(in settings: RunSettings) -> String? { settings[self]?.settingText }

    public func text(in options: RunOptions) -> String { options[self].settingText }

    public func sameValue(_ a: RunOptions, _ b: RunOptions) -> Bool { a[self] == b[self] }

    public func sameGiven(_ a: RunSettings, _ b: RunSettings) -> Bool { a[self] == b[self] }

    public func copy(from source: RunOptions, to target: inout RunOptions) { target[self] = source[self] }

    public func set(_ value: Any, in settings: inout RunSettings) -> Bool {
        guard let value = value as? Value else { return false }
        settings[self] = value
        return true
    }
}

/// A setting whatever its type: what the config reader, the layering, the reload and the README
/// table need of every setting alike.
public protocol AnySetting: Sendable {
    var key: String { get }
    var flag: String { get }
    var isReloadable: Bool { get }
    var help: String { get }
    var valueDescription: String { get }
    var defaultDescription: String { get }
    var defaultIsValue: Bool { get }
    /// The README's "flag" column: "`--egress` / `--no-egress`", "`--interface` (repeatable)".
    var flagUsage: String { get }
    /// Reads the value from its config-file node, checks it, and sets it.
    func read(_ node: YAMLNode, into settings: inout RunSettings) throws(SettingValueError)
    /// What is wrong with the given value; nil when it is usable or not given.
    func problem(in settings: RunSettings) -> String?
    /// The given value as text; nil when not given.
    func givenText(in settings: RunSettings) -> String?
    /// The value in effect as text.
    func text(in options: RunOptions) -> String
    func sameValue(_ a: RunOptions, _ b: RunOptions) -> Bool
    func sameGiven(_ a: RunSettings, _ b: RunSettings) -> Bool
    func copy(from source: RunOptions, to target: inout RunOptions)
    /// Sets `value` when it has this setting's type; false when it has not.
    func set(_ value: Any, in settings: inout RunSettings) -> Bool
}

/// What is wrong with a value of a setting, in words that follow the key or flag.
public struct SettingValueError: Error, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}
