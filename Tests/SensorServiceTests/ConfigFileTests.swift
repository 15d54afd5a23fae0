import Foundation
import Logging
import Testing

@testable import SensorService

@Suite("Config file")
struct ConfigFileTests {
    static let source = "/etc/dps/test.yaml"

    func parse(_ text: String) throws -> RunSettings { try ServiceConfig.parse(text, source: Self.source) }

    func error(_ text: String) -> ServiceConfigError? {
        do {
            _ = try ServiceConfig.parse(text, source: Self.source)
            return nil
        } catch {
            return error
        }
    }

    @Test("every key, read with its type")
    func everyKey() throws {
        let settings = try parse(
            """
            interfaces: [eth0, "eth1.100"]
            stdout: false
            kronos_socket: /run/argus_v/k.sock
            hmac_key_file: /etc/dps/kronos.key
            queue_frames: 1000
            drain_timeout: 0
            extended: true
            idle_timeout: 2.5
            active_timeout: 30
            max_flows: 4096
            egress: false
            stats_interval: 15
            ring_bytes: 65536
            attach: tc
            log_level: debug
            metrics_listen: "[::1]:7470"
            ipfix: ["udp://198.51.100.9:4739", "tcp://[2001:db8::9]:4739"]
            ipfix_observation_domain: 42
            include: ["198.51.100.0/24", "2001:db8::/32 proto udp"]
            exclude: ["port 22", "198.51.100.7 port 8000-8100"]
            dataset_dir: /var/lib/dps/datasets
            rules: /etc/dps/rules.yaml
            dataset_compression: zstd
            dataset_rotate: 600
            dataset_rotate_bytes: 1048576
            dataset_max_bytes: 10737418240
            dataset_max_age: 604800
            """)
        var expected = RunSettings()
        expected.interfaces = ["eth0", "eth1.100"]
        expected.stdout = false
        expected.kronosSocket = "/run/argus_v/k.sock"
        expected.hmacKeyFile = "/etc/dps/kronos.key"
        expected.queueFrames = 1000
        expected.drainTimeout = 0
        expected.extended = true
        expected.idleTimeout = 2.5
        expected.activeTimeout = 30
        expected.maxFlows = 4096
        expected.egress = false
        expected.statsInterval = 15
        expected.ringBytes = 65536
        expected.attach = .tc
        expected.logLevel = .debug
        expected.metricsListen = "[::1]:7470"
        expected.ipfix = ["udp://198.51.100.9:4739", "tcp://[2001:db8::9]:4739"]
        expected.ipfixObservationDomain = 42
        expected.include = ["198.51.100.0/24", "2001:db8::/32 proto udp"]
        expected.exclude = ["port 22", "198.51.100.7 port 8000-8100"]
        expected.datasetDir = "/var/lib/dps/datasets"
        expected.rules = "/etc/dps/rules.yaml"
        expected.datasetCompression = .zstd
        expected.datasetRotate = 600
        expected.datasetRotateBytes = 1_048_576
        expected.datasetMaxBytes = 10_737_418_240
        expected.datasetMaxAge = 604_800
        #expect(settings == expected)
        // Every setting has a key in the test above.
        #expect(RunSetting.all.allSatisfy { expected.has($0) })
    }

    @Test("an empty file, or only comments, sets nothing")
    func empty() throws {
        #expect(try parse("") == RunSettings())
        #expect(try parse("# nothing\n\n# here\n") == RunSettings())
    }

    @Test("the shipped example parses, sets nothing, and documents every key")
    func example() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appending(path: "systemd/dps.yaml")
        let settings = try ServiceConfig.load(path: url.path)
        #expect(settings == RunSettings())
        let text = try String(contentsOf: url, encoding: .utf8)
        for setting in RunSetting.all {
            #expect(text.contains("#\(setting.key): "), "the example lacks \(setting.key)")
        }
        // Uncommenting every key gives a valid config equal to the defaults.
        let uncommented = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            RunSetting.all.contains { line.hasPrefix("#\($0.key): ") } ? String(line.dropFirst()) : String(line)
        }.joined(separator: "\n")
        let all = try ServiceConfig.parse(uncommented, source: "example")
        #expect(all.interfaces == ["eth0"])
        var defaults = RunOptions()
        defaults.interfaces = ["eth0"]
        defaults.hmacKeyFile = "/etc/dps/kronos.key"
        defaults.metricsListen = "127.0.0.1:7470"
        defaults.datasetDir = "/var/lib/dps/datasets"
        defaults.rules = "/etc/dps/rules.yaml"
        defaults.datasetMaxBytes = 53_687_091_200
        defaults.datasetMaxAge = 2_592_000
        #expect(RunOptions(all) == defaults)
    }

    @Test(
        "an unknown key names the key and the file",
        arguments: [
            ("idle-timeout: 5", "did you mean \"idle_timeout\""),
            ("interface: [eth0]", "did you mean \"interfaces\""),
            ("frobnicate: 1", "known keys: interfaces, stdout"),
        ])
    func unknownKey(text: String, hint: String) throws {
        let failure = try #require(error(text))
        let key = String(text.prefix { $0 != ":" })
        #expect(failure.key == key)
        #expect(failure.description.contains(Self.source))
        #expect(failure.description.contains("key \"\(key)\": unknown key"))
        #expect(failure.description.contains(hint), "\(failure)")
    }

    @Test(
        "a wrong type names the key, the file and the line",
        arguments: [
            ("idle_timeout", "\"ten\"", "expected a number of seconds, got a string"),
            ("idle_timeout", "true", "expected a number of seconds, got a boolean"),
            ("max_flows", "1.5", "expected an integer, got a number"),
            ("max_flows", "\"100\"", "expected an integer, got a string"),
            ("stdout", "1", "expected true or false, got an integer"),
            ("extended", "\"yes please\"", "expected true or false, got a string"),
            ("egress", "[true]", "expected true or false, got a list"),
            ("interfaces", "eth0", "expected a list of interface names"),
            ("interfaces", "[eth0, 7]", "expected interface names"),
            ("interfaces", "{a: b}", "got a mapping"),
            ("kronos_socket", "42", "expected a string, got an integer"),
            ("log_level", "3", "expected a string, got an integer"),
            ("ring_bytes", "big", "expected an integer, got a string"),
            ("attach", "true", "expected a string, got a boolean"),
            ("stats_interval", "", "got nothing (null)"),
        ])
    func wrongType(key: String, value: String, message: String) throws {
        let failure = try #require(error("# a comment\n\(key): \(value)\n"))
        #expect(failure.key == key)
        #expect(failure.line == 2)
        #expect(failure.description.hasPrefix("config file \(Self.source), line 2: key \"\(key)\": "))
        #expect(failure.description.contains(message), "\(failure)")
    }

    @Test(
        "an impossible value names the key and the file",
        arguments: [
            ("idle_timeout", "0", "above 0"),
            ("active_timeout", "-5", "above 0"),
            ("stats_interval", ".nan", "finite number of seconds, got nan"),
            ("idle_timeout", ".inf", "finite number of seconds, got inf"),
            ("stats_interval", "1e12", "at most 1e9"),
            ("drain_timeout", "-1", "0 or more"),
            ("max_flows", "0", "above 0"),
            ("queue_frames", "-3", "above 0"),
            ("ring_bytes", "5000", "power of two"),
            ("ring_bytes", "2048", "power of two"),
            ("ring_bytes", "8589934592", "power of two"),
            ("attach", "xdp", "unknown mode \"xdp\"; one of auto, tcx, tc"),
            ("interfaces", "[]", "the list is empty"),
            ("interfaces", "[eth0, eth0]", "listed twice"),
            ("interfaces", "[averyveryverylongname]", "too long"),
            ("interfaces", "[\"a/b\"]", "not a valid interface name"),
            ("interfaces", "[\"\"]", "empty"),
            ("kronos_socket", "\"\"", "1 to 107 bytes"),
            ("kronos_socket", "/\(String(repeating: "x", count: 120))", "1 to 107 bytes"),
            ("hmac_key_file", "\"\"", "must not be empty"),
            ("log_level", "loud", "unknown level \"loud\"; one of trace, debug"),
            ("metrics_listen", "\"127.0.0.1\"", "expected HOST:PORT"),
            ("ipfix", "[\"http://198.51.100.9\"]", "IPFIX destination \"http://198.51.100.9\""),
            ("ipfix_observation_domain", "-1", "must be from 0 to 4294967295"),
            ("exclude", "[\"port 0\"]", "port needs a number 1-65535"),
            ("include", "[\"198.51.100.0/24 192.0.2.0/24\"]", "more than one address or network"),
            ("metrics_listen", "\"[::1]:99999\"", "expected HOST:PORT"),
        ])
    func impossibleValue(key: String, value: String, message: String) throws {
        let failure = try #require(error("\(key): \(value)"))
        #expect(failure.key == key)
        #expect(failure.description.contains(Self.source))
        #expect(failure.description.contains(message), "\(failure)")
    }

    @Test("a key given twice, a document that is not a mapping, broken YAML")
    func structure() throws {
        let twice = try #require(error("max_flows: 10\nmax_flows: 20\n"))
        #expect(twice.key == "max_flows")
        #expect(twice.description.contains("appears twice"))
        let list = try #require(error("- eth0\n- eth1\n"))
        #expect(list.description == "config file \(Self.source), line 1: expected a mapping of settings (key: value), got a list")
        let scalar = try #require(error("eth0"))
        #expect(scalar.description.contains("expected a mapping"))
        let broken = try #require(error("interfaces: [eth0\nstdout: true\n"))
        #expect(broken.description.hasPrefix("config file \(Self.source): not valid YAML"))
    }

    @Test("a config nested too deep is refused with one clean error")
    func tooDeep() {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(throws: ServiceConfigError.self) { try ServiceConfig.parse("interfaces: " + deep, source: "c.yaml") }
    }

    @Test("a missing or unreadable file names the file")
    func missingFile() throws {
        let path = "/nonexistent/dps-\(UUID().uuidString).yaml"
        #expect(throws: ServiceConfigError.self) { try ServiceConfig.load(path: path) }
        do {
            _ = try ServiceConfig.load(path: path)
        } catch {
            #expect(error.description == "config file \(path): cannot open: No such file or directory")
        }
    }

    @Test("the command line overrides the file, key by key; defaults fill the rest")
    func merge() throws {
        let file = try parse("interfaces: [eth0, eth1]\nidle_timeout: 5\nextended: true\negress: false\n")
        var flags = RunSettings()
        flags.interfaces = ["dps0"]
        flags.extended = false
        flags.statsInterval = 1
        let options = RunOptions(file.overridden(by: flags))
        #expect(options.interfaces == ["dps0"])
        #expect(options.extended == false)  // an explicit --no-extended beats the file's true
        #expect(options.egress == false)  // from the file
        #expect(options.idleTimeout == 5)  // from the file
        #expect(options.statsInterval == 1)  // from the command line
        #expect(options.activeTimeout == 60)  // default
        #expect(options.maxFlows == 262_144)
        #expect(options.kronosSocket == "/var/run/argus_v/dps_kronos.sock")
        // Nothing given: the same defaults as before config files existed.
        #expect(RunOptions(RunSettings()) == RunOptions())
    }

    @Test("combinations: no interface anywhere; a key file with stdout")
    func combinations() throws {
        #expect(RunOptions(RunSettings()).check()?.setting.key == RunSetting.interfaces.key)
        let both = try parse("interfaces: [eth0]\nstdout: true\nhmac_key_file: /k\n")
        #expect(RunOptions(both).check()?.setting.key == RunSetting.hmacKeyFile.key)
        #expect(RunOptions(try parse("interfaces: [eth0]\n")).check() == nil)
    }

    @Test("changes lists what differs, with old and new values")
    func changes() throws {
        let old = RunOptions(try parse("interfaces: [eth0]\nlog_level: info\n"))
        let new = RunOptions(try parse("interfaces: [eth0, eth1]\nlog_level: debug\nstats_interval: 5\n"))
        let changes = old.changes(to: new)
        #expect(changes.map(\.setting.key) == ["interfaces", "stats_interval", "log_level"])
        #expect(changes.first?.old == "eth0")
        #expect(changes.first?.new == "eth0,eth1")
        #expect(changes.filter { $0.setting.isReloadable }.map(\.setting.key) == ["stats_interval", "log_level"])
        #expect(old.changes(to: old).isEmpty)
    }
}

