import Logging
import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// One `dps run` setting: its key in the config file and its command-line flag.
public enum RunSetting: String, Sendable, CaseIterable {
    case interfaces, stdout
    case kronosSocket = "kronos_socket"
    case hmacKeyFile = "hmac_key_file"
    case queueFrames = "queue_frames"
    case drainTimeout = "drain_timeout"
    case extended
    case idleTimeout = "idle_timeout"
    case activeTimeout = "active_timeout"
    case maxFlows = "max_flows"
    case egress
    case statsInterval = "stats_interval"
    case ringBytes = "ring_bytes"
    case attach
    case logLevel = "log_level"

    /// The key in the config file.
    public var key: String { rawValue }

    /// The command-line flag that sets it.
    public var flag: String {
        switch self {
        case .interfaces: "--interface"
        case .egress: "--egress/--no-egress"
        default: "--" + rawValue.replacingOccurrences(of: "_", with: "-")
        }
    }

    /// Settings a running daemon takes over on SIGHUP; the others need a restart.
    public var isReloadable: Bool { self == .logLevel || self == .statsInterval }
}

/// `dps run` settings as given, each optional: from a config file, or from the command line.
/// `overridden(by:)` layers the command line over the file; `RunOptions` fills in the defaults.
public struct RunSettings: Sendable, Equatable {
    public var interfaces: [String]?
    public var stdout: Bool?
    public var kronosSocket: String?
    public var hmacKeyFile: String?
    public var queueFrames: Int?
    public var drainTimeout: Double?
    public var extended: Bool?
    public var idleTimeout: Double?
    public var activeTimeout: Double?
    public var maxFlows: Int?
    public var egress: Bool?
    public var statsInterval: Double?
    public var ringBytes: UInt32?
    public var attach: HookMode?
    public var logLevel: Logger.Level?

    public init() {}

    /// These settings with every value `other` gives replacing ours.
    public func overridden(by other: RunSettings) -> RunSettings {
        var merged = self
        merged.interfaces = other.interfaces ?? interfaces
        merged.stdout = other.stdout ?? stdout
        merged.kronosSocket = other.kronosSocket ?? kronosSocket
        merged.hmacKeyFile = other.hmacKeyFile ?? hmacKeyFile
        merged.queueFrames = other.queueFrames ?? queueFrames
        merged.drainTimeout = other.drainTimeout ?? drainTimeout
        merged.extended = other.extended ?? extended
        merged.idleTimeout = other.idleTimeout ?? idleTimeout
        merged.activeTimeout = other.activeTimeout ?? activeTimeout
        merged.maxFlows = other.maxFlows ?? maxFlows
        merged.egress = other.egress ?? egress
        merged.statsInterval = other.statsInterval ?? statsInterval
        merged.ringBytes = other.ringBytes ?? ringBytes
        merged.attach = other.attach ?? attach
        merged.logLevel = other.logLevel ?? logLevel
        return merged
    }

    /// The value of `setting` as text, nil when not given.
    public func value(of setting: RunSetting) -> String? {
        switch setting {
        case .interfaces: interfaces.map { $0.joined(separator: ",") }
        case .stdout: stdout.map { "\($0)" }
        case .kronosSocket: kronosSocket
        case .hmacKeyFile: hmacKeyFile
        case .queueFrames: queueFrames.map { "\($0)" }
        case .drainTimeout: drainTimeout.map { "\($0)" }
        case .extended: extended.map { "\($0)" }
        case .idleTimeout: idleTimeout.map { "\($0)" }
        case .activeTimeout: activeTimeout.map { "\($0)" }
        case .maxFlows: maxFlows.map { "\($0)" }
        case .egress: egress.map { "\($0)" }
        case .statsInterval: statsInterval.map { "\($0)" }
        case .ringBytes: ringBytes.map { "\($0)" }
        case .attach: attach?.rawValue
        case .logLevel: logLevel.map { "\($0)" }
        }
    }

    /// The first value that is impossible on its own, as (setting, what is wrong); nil when all
    /// given values are usable. Combinations are checked by `RunOptions.check()`.
    public func firstProblem() -> (setting: RunSetting, message: String)? {
        if let interfaces {
            if interfaces.isEmpty { return (.interfaces, "the list is empty") }
            var seen = Set<String>()
            for name in interfaces {
                if let problem = Self.interfaceNameProblem(name) { return (.interfaces, problem) }
                if !seen.insert(name).inserted { return (.interfaces, "\"\(Echo.escaped(name))\" is listed twice") }
            }
        }
        if let kronosSocket, kronosSocket.isEmpty || kronosSocket.utf8.count >= 108 {
            return (.kronosSocket, "must be a path of 1 to 107 bytes")
        }
        if let hmacKeyFile, hmacKeyFile.isEmpty { return (.hmacKeyFile, "must not be empty") }
        if let queueFrames, queueFrames <= 0 { return (.queueFrames, "must be above 0, got \(queueFrames)") }
        if let drainTimeout, !(drainTimeout >= 0 && drainTimeout.isFinite) {
            return (.drainTimeout, "must be 0 or more seconds, got \(drainTimeout)")
        }
        // Floors: a flow timeout under a millisecond ends flows faster than a frame's microsecond
        // duration can show; a stats line more often than ten times a second is noise.
        for (setting, value, floor) in [
            (RunSetting.idleTimeout, idleTimeout, 0.001), (.activeTimeout, activeTimeout, 0.001),
            (.statsInterval, statsInterval, 0.1),
        ] {
            if let value, !(value > 0 && value.isFinite) {
                return (setting, "must be a number of seconds above 0, got \(value)")
            }
            if let value, value < floor { return (setting, "must be at least \(floor) seconds, got \(value)") }
            // Seconds become Int64 nanoseconds: keep far from overflow (about 292 years).
            if let value, value > 1e9 { return (setting, "must be at most 1e9 seconds, got \(value)") }
        }
        if let maxFlows, maxFlows <= 0 { return (.maxFlows, "must be above 0, got \(maxFlows)") }
        if let ringBytes, ringBytes < 4096 || ringBytes & (ringBytes - 1) != 0 {
            return (.ringBytes, "must be a power of two, at least 4096, got \(ringBytes)")
        }
        return nil
    }

    static func interfaceNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "an interface name is empty" }
        // IFNAMSIZ is 16 with the terminating NUL.
        if name.utf8.count > 15 { return "\"\(Echo.escaped(name))\" is longer than 15 bytes, too long for an interface name" }
        if name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace }) || name == "." || name == ".." {
            return "\"\(Echo.escaped(name))\" is not a valid interface name"
        }
        return nil
    }
}

/// Every `dps run` setting with its value: given ones, and defaults for the rest.
public struct RunOptions: Sendable, Equatable {
    public var interfaces: [String] = []
    public var stdout = false
    public var kronosSocket = KronosSinkConfiguration.defaultSocketPath
    public var hmacKeyFile: String?
    public var queueFrames = 65_536
    public var drainTimeout: Double = 2
    public var extended = false
    public var idleTimeout: Double = 10
    public var activeTimeout: Double = 60
    public var maxFlows = 262_144
    public var egress = true
    public var statsInterval: Double = 60
    public var ringBytes: UInt32 = 8 << 20
    public var attach = HookMode.auto
    public var logLevel: Logger.Level = .info

    public init() {}

    public init(_ settings: RunSettings) {
        interfaces = settings.interfaces ?? interfaces
        stdout = settings.stdout ?? stdout
        kronosSocket = settings.kronosSocket ?? kronosSocket
        hmacKeyFile = settings.hmacKeyFile ?? hmacKeyFile
        queueFrames = settings.queueFrames ?? queueFrames
        drainTimeout = settings.drainTimeout ?? drainTimeout
        extended = settings.extended ?? extended
        idleTimeout = settings.idleTimeout ?? idleTimeout
        activeTimeout = settings.activeTimeout ?? activeTimeout
        maxFlows = settings.maxFlows ?? maxFlows
        egress = settings.egress ?? egress
        statsInterval = settings.statsInterval ?? statsInterval
        ringBytes = settings.ringBytes ?? ringBytes
        attach = settings.attach ?? attach
        logLevel = settings.logLevel ?? logLevel
    }

    /// What no single value shows: a missing interface list, contradicting settings.
    public func check() -> (setting: RunSetting, message: String)? {
        if interfaces.isEmpty {
            return (.interfaces, "no interface given: set interfaces in the config file or give --interface")
        }
        if stdout && hmacKeyFile != nil {
            return (.hmacKeyFile, "signs Kronos lines: it has no effect with stdout output")
        }
        return nil
    }

    /// The settings whose values differ between `self` and `other`.
    public func changes(to other: RunOptions) -> [(setting: RunSetting, old: String, new: String)] {
        var result: [(RunSetting, String, String)] = []
        func compare<T: Equatable>(_ setting: RunSetting, _ a: T, _ b: T, _ text: (T) -> String) {
            if a != b { result.append((setting, text(a), text(b))) }
        }
        compare(.interfaces, interfaces, other.interfaces) { $0.joined(separator: ",") }
        compare(.stdout, stdout, other.stdout) { "\($0)" }
        compare(.kronosSocket, kronosSocket, other.kronosSocket) { $0 }
        compare(.hmacKeyFile, hmacKeyFile, other.hmacKeyFile) { $0 ?? "(none)" }
        compare(.queueFrames, queueFrames, other.queueFrames) { "\($0)" }
        compare(.drainTimeout, drainTimeout, other.drainTimeout) { "\($0)" }
        compare(.extended, extended, other.extended) { "\($0)" }
        compare(.idleTimeout, idleTimeout, other.idleTimeout) { "\($0)" }
        compare(.activeTimeout, activeTimeout, other.activeTimeout) { "\($0)" }
        compare(.maxFlows, maxFlows, other.maxFlows) { "\($0)" }
        compare(.egress, egress, other.egress) { "\($0)" }
        compare(.statsInterval, statsInterval, other.statsInterval) { "\($0)" }
        compare(.ringBytes, ringBytes, other.ringBytes) { "\($0)" }
        compare(.attach, attach, other.attach) { $0.rawValue }
        compare(.logLevel, logLevel, other.logLevel) { "\($0)" }
        return result
    }
}

/// A config file that cannot be used: names the file and, when it is about one, the key.
public struct ServiceConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var key: String?
    public var line: Int?
    public var message: String

    public init(file: String, key: String? = nil, line: Int? = nil, message: String) {
        self.file = file
        self.key = key
        self.line = line
        self.message = message
    }

    public var description: String {
        var text = "config file \(file)"
        if let line { text += ", line \(line)" }
        if let key { text += ": key \"\(Echo.escaped(key))\"" }
        return text + ": " + message
    }
}

/// The `dps run` config file (YAML, `/etc/dps/dps.yaml` by default): a mapping whose keys are
/// `RunSetting` keys. Every key is optional; an empty file (or only comments) sets nothing.
/// Unknown keys, wrong types and impossible values are errors naming the key and the file.
public enum ServiceConfig {
    public static let defaultPath = "/etc/dps/dps.yaml"

    /// Reads and checks a config file.
    public static func load(path: String) throws(ServiceConfigError) -> RunSettings {
        let text = try readText(path)
        return try parse(text, source: path)
    }

    /// Parses and checks config text; `source` names the file in errors.
    public static func parse(_ text: String, source: String) throws(ServiceConfigError) -> RunSettings {
        let root: YAMLNode?
        do {
            root = try YAML.compose(text)
        } catch {
            throw ServiceConfigError(file: source, message: "not valid YAML: \(error)")
        }
        var settings = RunSettings()
        guard let root else { return settings }  // empty, or only comments
        if root.scalarType == .null { return settings }
        guard case .mapping(let mapping) = root.content else {
            throw ServiceConfigError(
                file: source, line: root.line,
                message: "expected a mapping of settings (key: value), got \(kind(root))")
        }
        var seen = Set<String>()
        for (keyNode, valueNode) in mapping {
            guard let name = keyNode.scalarText else {
                throw ServiceConfigError(file: source, line: keyNode.line, message: "a key is not a plain name")
            }
            func fail(_ message: String) -> ServiceConfigError {
                ServiceConfigError(file: source, key: name, line: valueNode.line, message: message)
            }
            guard let setting = RunSetting(rawValue: name) else {
                var message = "unknown key"
                let normalized = name.lowercased().replacingOccurrences(of: "-", with: "_")
                if let near = RunSetting(rawValue: normalized) ?? (normalized == "interface" ? .interfaces : nil) {
                    message += " (did you mean \"\(near.key)\"?)"
                } else {
                    message += "; known keys: " + RunSetting.allCases.map(\.key).joined(separator: ", ")
                }
                throw fail(message)
            }
            guard seen.insert(name).inserted else { throw fail("appears twice") }
            switch setting {
            case .interfaces: settings.interfaces = try stringList(valueNode, fail)
            case .stdout: settings.stdout = try bool(valueNode, fail)
            case .kronosSocket: settings.kronosSocket = try string(valueNode, fail)
            case .hmacKeyFile: settings.hmacKeyFile = try string(valueNode, fail)
            case .queueFrames: settings.queueFrames = try integer(valueNode, fail)
            case .drainTimeout: settings.drainTimeout = try seconds(valueNode, fail)
            case .extended: settings.extended = try bool(valueNode, fail)
            case .idleTimeout: settings.idleTimeout = try seconds(valueNode, fail)
            case .activeTimeout: settings.activeTimeout = try seconds(valueNode, fail)
            case .maxFlows: settings.maxFlows = try integer(valueNode, fail)
            case .egress: settings.egress = try bool(valueNode, fail)
            case .statsInterval: settings.statsInterval = try seconds(valueNode, fail)
            case .ringBytes:
                let value = try integer(valueNode, fail)
                guard let bytes = UInt32(exactly: value) else {
                    throw fail("must be a power of two from 4096 to 2147483648, got \(value)")
                }
                settings.ringBytes = bytes
            case .attach:
                let text = try string(valueNode, fail)
                guard let mode = HookMode(rawValue: text) else {
                    throw fail(
                        "unknown mode \"\(text)\"; one of " + HookMode.allCases.map(\.rawValue).joined(separator: ", "))
                }
                settings.attach = mode
            case .logLevel:
                let text = try string(valueNode, fail)
                guard let level = Logger.Level(rawValue: text.lowercased()) else {
                    throw fail(
                        "unknown level \"\(text)\"; one of "
                            + Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))
                }
                settings.logLevel = level
            }
            // Range checks right away, so the error carries this key's line.
            if let problem = settings.firstProblem(), problem.setting == setting { throw fail(problem.message) }
        }
        return settings
    }

    // MARK: - Values

    private typealias Fail = (String) -> ServiceConfigError

    private static func kind(_ node: YAMLNode) -> String {
        switch node.content {
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

    private static func bool(_ node: YAMLNode, _ fail: Fail) throws(ServiceConfigError) -> Bool {
        guard let value = node.bool else { throw fail("expected true or false, got \(kind(node))") }
        return value
    }

    private static func integer(_ node: YAMLNode, _ fail: Fail) throws(ServiceConfigError) -> Int {
        guard let value = node.int else { throw fail("expected an integer, got \(kind(node))") }
        return value
    }

    private static func seconds(_ node: YAMLNode, _ fail: Fail) throws(ServiceConfigError) -> Double {
        if let value = node.int { return Double(value) }
        if let value = node.float {
            guard value.isFinite else { throw fail("must be a finite number of seconds, got \(value)") }
            return value
        }
        throw fail("expected a number of seconds, got \(kind(node))")
    }

    private static func string(_ node: YAMLNode, _ fail: Fail) throws(ServiceConfigError) -> String {
        guard node.scalarType == .string, let text = node.scalarText else {
            throw fail("expected a string, got \(kind(node))")
        }
        return text
    }

    private static func stringList(_ node: YAMLNode, _ fail: Fail) throws(ServiceConfigError) -> [String] {
        guard case .sequence(let sequence) = node.content else {
            throw fail("expected a list of interface names (for example [eth0]), got \(kind(node))")
        }
        var names: [String] = []
        for element in sequence {
            guard element.scalarType == .string, let text = element.scalarText else {
                throw fail("expected interface names (strings; quote a name YAML reads otherwise), got \(kind(element))")
            }
            names.append(text)
        }
        return names
    }

    // MARK: - Reading

    private static func readText(_ path: String) throws(ServiceConfigError) -> String {
        do {
            return try TextFile.read(path, limit: 1 << 20)
        } catch .tooLarge {
            throw ServiceConfigError(file: path, message: "larger than 1 MiB, not a dps config file")
        } catch {
            throw ServiceConfigError(file: path, message: error.reason)
        }
    }
}
