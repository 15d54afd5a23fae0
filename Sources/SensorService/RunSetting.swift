import Logging
import SensorCore
import SensorIO

/// Every `dps run` setting, each declared once: the config file's keys, the command's flags, the
/// defaults, the checks, what a reload applies, `--help` and the README's settings table all come
/// from here. To add one: declare it below, add it to `all`, and give the command a flag property
/// of its name (`fooBar` for `foo_bar`); tests fail until the README table and the packaged example
/// config (`systemd/dps.yaml`) show it.
public enum RunSetting {
    public static let interfaces = Setting<[String]>(
        "interfaces", flag: "--interface", default: [],
        help: "An interface to watch (repeatable).", values: "list of names", valueName: "name",
        defaultDescription: "(required)", read: readInterfaceNames, check: interfaceNamesProblem)

    public static let stdout = Setting<Bool>(
        "stdout", default: false,
        help: "Write frames to stdout as NDJSON instead of sending them to Kronos.", values: "bool")

    public static let kronosSocket = Setting<String>(
        "kronos_socket", default: "/var/run/argus_v/dps_kronos.sock",
        help: "The Unix stream socket Kronos listens on.", values: "path", valueName: "path",
        check: { $0.isEmpty || $0.utf8.count >= 108 ? "must be a path of 1 to 107 bytes" : nil })

    public static let hmacKeyFile = Setting<String?>(
        "hmac_key_file", default: nil,
        help: "Sign each Kronos line with HMAC-SHA256 keyed with this file's text (mode 0600 or 0640). "
            + "Without it, the systemd credential kronos-hmac-key in $CREDENTIALS_DIRECTORY is used when "
            + "present (an empty credential means unsigned lines).",
        values: "path", valueName: "path", defaultDescription: "none (under systemd: the credential)",
        check: { $0?.isEmpty == true ? "must not be empty" : nil })

    public static let queueFrames = Setting<Int>(
        "queue_frames", default: 65_536,
        help: "Frames queued for Kronos while it is slow or away; beyond it the oldest are dropped.",
        values: "integer > 0", valueName: "n", check: above0)

    public static let drainTimeout = Setting<Double>(
        "drain_timeout", default: 2,
        help: "Seconds to keep delivering queued frames to Kronos at shutdown.",
        values: "seconds ≥ 0", valueName: "seconds",
        check: { $0 >= 0 && $0.isFinite ? nil : "must be 0 or more seconds, got \($0)" })

    public static let extended = Setting<Bool>(
        "extended", default: false,
        help: "Add packets_in/out, first_seen, last_seen, tcp_flags, end_reason, interface.", values: "bool")

    // Floors: a flow timeout under a millisecond ends flows faster than a frame's microsecond
    // duration can show.
    public static let idleTimeout = Setting<Double>(
        "idle_timeout", default: 10,
        help: "Seconds without packets after which a flow ends.", values: "seconds ≥ 0.001",
        valueName: "seconds", check: seconds(atLeast: 0.001))

    public static let activeTimeout = Setting<Double>(
        "active_timeout", default: 60,
        help: "Seconds after which a long flow emits a frame and goes on.", values: "seconds ≥ 0.001",
        valueName: "seconds", check: seconds(atLeast: 0.001))

    public static let maxFlows = Setting<Int>(
        "max_flows", default: 262_144,
        help: "Most flows held at once; the longest idle is emitted early beyond it.",
        values: "integer > 0", valueName: "n", check: above0)

    public static let egress = Setting<Bool>(
        "egress", default: true, help: "Live: watch egress as well as ingress.", values: "bool")

    // A stats line more often than ten times a second is noise.
    public static let statsInterval = Setting<Double>(
        "stats_interval", default: 60, reloadable: true,
        help: "Seconds between stats lines on stderr.", values: "seconds ≥ 0.1", valueName: "seconds",
        check: seconds(atLeast: 0.1))

    public static let ringBytes = Setting<Int>(
        "ring_bytes", default: 8 << 20,
        help: "Live: ring buffer size in bytes, a power of two from 4096 to 2147483648.",
        values: "power of two, 4096 to 2147483648", valueName: "bytes",
        check: { $0 < 4096 || $0 > 1 << 31 || $0 & ($0 - 1) != 0
            ? "must be a power of two from 4096 to 2147483648, got \($0)" : nil })

    public static let attach = Setting<HookMode>(
        "attach", default: .auto,
        help: "Live: attach with tcx (Linux 6.6+), TC, or auto: tcx where the kernel has it.",
        values: "`auto`, `tcx` or `tc`", valueName: "mode")

    public static let logLevel = Setting<Logger.Level>(
        "log_level", default: .info, reloadable: true, help: "Log level.", values: "trace … critical",
        valueName: "level")

    public static let metricsListen = Setting<String?>(
        "metrics_listen", default: nil,
        help: "Serve Prometheus metrics (GET /metrics) on HOST:PORT, e.g. 127.0.0.1:7470.", values: "HOST:PORT",
        valueName: "host:port", defaultDescription: "off", check: { $0.flatMap(MetricsServer.listenProblem) })

    public static let ipfix = Setting<[String]>(
        "ipfix", default: [],
        help: "Also export flows as IPFIX to this collector: udp://HOST:PORT or tcp://HOST:PORT (repeatable).",
        values: "list of udp:// or tcp:// URLs", valueName: "url", defaultDescription: "none",
        check: { destinations in
            for text in destinations {
                do { _ = try IPFIXDestination.parse(text) } catch { return "\(error)" }
            }
            return nil
        })

    public static let ipfixObservationDomain = Setting<Int>(
        "ipfix_observation_domain", default: 0,
        help: "The IPFIX observation domain id of this sensor's messages (tells sensors apart at a collector).",
        values: "integer 0 to 4294967295", valueName: "id",
        check: { (0...Int(UInt32.max)).contains($0) ? nil : "must be from 0 to 4294967295, got \($0)" })

    public static let include = Setting<[String]>(
        "include", default: [], reloadable: true,
        help: "Observe only packets matching one of these rules: an address or network, port N or N-M, "
            + "proto NAME, or several of them (all must hold) (repeatable).",
        values: "list of rules", valueName: "rule", defaultDescription: "all packets", check: filterProblem)

    public static let exclude = Setting<[String]>(
        "exclude", default: [], reloadable: true,
        help: "Leave out packets matching any of these rules, in the kernel before they cost a record; "
            + "wins over include (repeatable).",
        values: "list of rules", valueName: "rule", defaultDescription: "none", check: filterProblem)

    public static let datasetDir = Setting<String?>(
        "dataset_dir", default: nil,
        help: "Also write every frame, labeled by the rules, to rotated compressed NDJSON files in this folder "
            + "(made when missing).",
        values: "path", valueName: "path", defaultDescription: "off",
        check: { $0?.isEmpty == true ? "must not be empty" : nil })

    public static let rules = Setting<String?>(
        "rules", default: nil, reloadable: true,
        help: "The labeling rules of the dataset files (YAML or JSON, as `dps label --rules`); re-read on every "
            + "reload, and a change starts a new file.",
        values: "path", valueName: "path", defaultDescription: "the built-in rules",
        check: { $0?.isEmpty == true ? "must not be empty" : nil })

    public static let datasetCompression = Setting<DatasetCompression>(
        "dataset_compression", default: .gzip,
        help: "How dataset files are compressed: gzip (.ndjson.gz) or zstd (.ndjson.zst), at a fast level.",
        values: "`gzip` or `zstd`", valueName: "kind")

    public static let datasetRotate = Setting<Double>(
        "dataset_rotate", default: 3600,
        help: "Seconds per dataset file, aligned to the clock (3600: files start on the hour, UTC).",
        values: "seconds ≥ 1", valueName: "seconds", check: seconds(atLeast: 1))

    public static let datasetRotateBytes = Setting<Int>(
        "dataset_rotate_bytes", default: 256 << 20,
        help: "A dataset file is also finished once it holds this many compressed bytes.",
        values: "integer ≥ 4096", valueName: "bytes",
        check: { $0 >= 4096 ? nil : "must be at least 4096 bytes, got \($0)" })

    public static let datasetMaxBytes = Setting<Int?>(
        "dataset_max_bytes", default: nil,
        help: "Delete the oldest finished dataset files while the folder's dataset files hold more bytes than this.",
        values: "integer > 0", valueName: "bytes", defaultDescription: "no bound",
        check: { $0.map { $0 > 0 ? nil : "must be above 0, got \($0)" } ?? nil })

    public static let datasetMaxAge = Setting<Double?>(
        "dataset_max_age", default: nil,
        help: "Delete finished dataset files older than this many seconds (2592000: 30 days).",
        values: "seconds ≥ 1", valueName: "seconds", defaultDescription: "kept",
        check: { $0.flatMap(seconds(atLeast: 1)) })

    /// In this order in the README table, in "known keys" and in reload logs.
    public static let all: [any AnySetting] = [
        interfaces, stdout, kronosSocket, hmacKeyFile, queueFrames, drainTimeout, extended, idleTimeout,
        activeTimeout, maxFlows, egress, statsInterval, ringBytes, attach, logLevel, metricsListen, ipfix,
        ipfixObservationDomain, include, exclude, datasetDir, rules, datasetCompression, datasetRotate,
        datasetRotateBytes, datasetMaxBytes, datasetMaxAge,
    ]

    public static func named(_ key: String) -> (any AnySetting)? { all.first { $0.key == key } }

    // MARK: - Checks

    private static func filterProblem(_ rules: [String]) -> String? {
        if rules.count > PacketFilter.maximumRules {
            return "at most \(PacketFilter.maximumRules) rules, got \(rules.count)"
        }
        for rule in rules {
            do { _ = try PacketFilter.Rule(rule) } catch { return error.message }
        }
        return nil
    }

    private static func above0(_ value: Int) -> String? { value > 0 ? nil : "must be above 0, got \(value)" }

    private static func seconds(atLeast floor: Double) -> @Sendable (Double) -> String? {
        { value in
            if !(value > 0 && value.isFinite) { return "must be a number of seconds above 0, got \(value)" }
            if value < floor { return "must be at least \(floor) seconds, got \(value)" }
            // Seconds become Int64 nanoseconds: keep far from overflow (about 292 years).
            if value > Seconds.maximum { return "must be at most 1e9 seconds, got \(value)" }
            return nil
        }
    }

    private static func readInterfaceNames(_ node: YAMLNode) throws(SettingValueError) -> [String] {
        guard case .sequence(let sequence) = node.content else {
            throw SettingValueError("expected a list of interface names (for example [eth0]), got \(node.kind)")
        }
        return try sequence.map { (element) throws(SettingValueError) in
            guard element.scalarType == .string, let text = element.scalarText else {
                throw SettingValueError(
                    "expected interface names (strings; quote a name YAML reads otherwise), got \(element.kind)")
            }
            return text
        }
    }

    private static func interfaceNamesProblem(_ names: [String]) -> String? {
        if names.isEmpty { return "the list is empty" }
        var seen = Set<String>()
        for name in names {
            if let problem = interfaceNameProblem(name) { return problem }
            if !seen.insert(name).inserted { return "\"\(Echo.escaped(name))\" is listed twice" }
        }
        return nil
    }

    static func interfaceNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "an interface name is empty" }
        // IFNAMSIZ is 16 with the terminating NUL.
        if name.utf8.count > 15 {
            return "\"\(Echo.escaped(name))\" is longer than 15 bytes, too long for an interface name"
        }
        if name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace }) || name == "." || name == ".." {
            return "\"\(Echo.escaped(name))\" is not a valid interface name"
        }
        return nil
    }
}
