/// `dps run` settings as given, each optional: from a config file, or from the command line.
/// `overridden(by:)` layers the command line over the file; `RunOptions` adds the defaults.
/// `settings.idleTimeout` reads and writes `RunSetting.idleTimeout`'s value.
@dynamicMemberLookup
public struct RunSettings: Sendable, Equatable {
    private var values: [String: any Sendable] = [:]

    public init() {}

    public subscript<Value>(_ setting: Setting<Value>) -> Value? {
        get { values[setting.key] as? Value }
        set {
            if let newValue { values[setting.key] = newValue } else { values[setting.key] = nil }
        }
    }

    public subscript<Value>(dynamicMember path: KeyPath<RunSetting.Type, Setting<Value>>) -> Value? {
        get { self[RunSetting.self[keyPath: path]] }
        set { self[RunSetting.self[keyPath: path]] = newValue }
    }

    /// Whether `setting` was given.
    public func has(_ setting: any AnySetting) -> Bool { values[setting.key] != nil }

    /// These settings with every value `other` gives replacing ours.
    public func overridden(by other: RunSettings) -> RunSettings {
        var merged = self
        merged.values.merge(other.values) { _, theirs in theirs }
        return merged
    }

    /// The first given value that is impossible on its own; nil when all are usable.
    /// Combinations are checked by `RunOptions.check()`.
    public func firstProblem() -> (setting: any AnySetting, message: String)? {
        for setting in RunSetting.all {
            if let message = setting.problem(in: self) { return (setting, message) }
        }
        return nil
    }

    public static func == (a: RunSettings, b: RunSettings) -> Bool {
        RunSetting.all.allSatisfy { $0.sameGiven(a, b) }
    }
}
