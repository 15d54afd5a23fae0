import SensorCore
import SensorIO

/// Every `dps run` setting with its value: the given ones, and the declared defaults for the rest.
/// `options.idleTimeout` is `RunSetting.idleTimeout`'s value in effect.
@dynamicMemberLookup
public struct RunOptions: Sendable, Equatable {
    public private(set) var given: RunSettings

    public init(_ given: RunSettings = RunSettings()) { self.given = given }

    public subscript<Value>(_ setting: Setting<Value>) -> Value {
        get { given[setting] ?? setting.defaultValue }
        set { given[setting] = newValue }
    }

    public subscript<Value>(dynamicMember path: KeyPath<RunSetting.Type, Setting<Value>>) -> Value {
        get { self[RunSetting.self[keyPath: path]] }
        set { self[RunSetting.self[keyPath: path]] = newValue }
    }

    /// What no single value shows: a missing interface list, contradicting settings.
    public func check() -> (setting: any AnySetting, message: String)? {
        if self.interfaces.isEmpty {
            return (RunSetting.interfaces, "no interface given: set interfaces in the config file or give --interface")
        }
        if self.stdout && self.hmacKeyFile != nil {
            return (RunSetting.hmacKeyFile, "signs Kronos lines: it has no effect with stdout output")
        }
        return nil
    }

    /// The settings whose values differ between `self` and `other`, in `RunSetting.all` order.
    public func changes(to other: RunOptions) -> [(setting: any AnySetting, old: String, new: String)] {
        RunSetting.all.filter { !$0.sameValue(self, other) }.map { ($0, $0.text(in: self), $0.text(in: other)) }
    }

    public static func == (a: RunOptions, b: RunOptions) -> Bool {
        RunSetting.all.allSatisfy { $0.sameValue(a, b) }
    }
}

extension RunOptions {
    /// The flow table these options describe.
    public var flowTable: FlowTableConfiguration {
        FlowTableConfiguration(
            idleTimeout: Seconds.nanoseconds(self.idleTimeout),
            activeTimeout: Seconds.nanoseconds(self.activeTimeout), maxFlows: self.maxFlows)
    }

    /// The include/exclude rules (checked when the settings were read).
    public var packetFilter: PacketFilter {
        do {
            return try PacketFilter(include: self.include, exclude: self.exclude)
        } catch {
            preconditionFailure("the include and exclude settings' check lets only valid rules through: \(error)")
        }
    }

    /// The Kronos sink these options describe.
    public var kronosSink: KronosSinkConfiguration {
        KronosSinkConfiguration(socketPath: self.kronosSocket, queueFrames: self.queueFrames)
    }
}

extension RunOptions {
    /// The dataset files these options describe (nil: `dataset_dir` not set).
    public func datasetConfiguration(host: String) -> DatasetConfiguration? {
        guard let directory = self.datasetDir else { return nil }
        var configuration = DatasetConfiguration(directory: directory, host: host, compression: self.datasetCompression)
        configuration.rotateSeconds = self.datasetRotate
        configuration.rotateBytes = Int64(self.datasetRotateBytes)
        configuration.maxBytes = self.datasetMaxBytes.map(Int64.init)
        configuration.maxAgeSeconds = self.datasetMaxAge
        configuration.queueFrames = self.queueFrames
        return configuration
    }

    /// The labeling rules of the dataset files: the `rules` file read now, or the built-in rules.
    public func datasetRules() throws -> (rules: RuleSet, record: DatasetHeader.Rules) {
        guard let path = self.rules else { return (.defaults, DatasetHeader.Rules(source: "built-in", rules: .defaults)) }
        let rules = try RulesFile.load(path: path).rules
        return (rules, DatasetHeader.Rules(source: path, rules: rules))
    }
}
