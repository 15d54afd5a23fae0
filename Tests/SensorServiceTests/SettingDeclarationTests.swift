import ArgumentParser
import Foundation
import Testing

@testable import SensorService
@testable import dps

/// The declarations in `RunSetting` are the one source: these tests fail when the README table,
/// the flags of `dps run` / `dps label`, or their help disagree with them.
@Suite("Setting declarations")
struct SettingDeclarationTests {
    static let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appending(path: "README.md")

    @Test("the README's settings table is the one the declarations make")
    func readmeTable() throws {
        let text = try String(contentsOf: Self.readme, encoding: .utf8)
        // The README's table: from its header row to the first line that is no table row.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0.hasPrefix("| key | flag | type | default | on reload |") })
        let rows = lines[start...].prefix { $0.hasPrefix("|") }
        #expect(rows.joined(separator: "\n") + "\n" == RunSetting.markdownTable)
    }

    @Test("keys and flags are unique; the flag is the key with dashes unless declared")
    func unique() {
        #expect(Set(RunSetting.all.map(\.key)).count == RunSetting.all.count)
        #expect(Set(RunSetting.all.map(\.flag)).count == RunSetting.all.count)
        for setting in RunSetting.all where setting.key != "interfaces" {
            #expect(setting.flag == "--" + setting.key.replacingOccurrences(of: "_", with: "-"))
        }
    }

    /// Arguments that give each setting, and the value's text they must set.
    static func sample(_ setting: any AnySetting) -> (arguments: [String], text: String) {
        switch setting.key {
        case "interfaces": (["--interface", "dps0", "--interface", "dps1"], "dps0,dps1")
        case "stdout", "extended": (["--" + setting.key], "true")
        case "egress": (["--no-egress"], "false")
        case "hmac_key_file": (["--hmac-key-file", "/etc/dps/kronos.key"], "/etc/dps/kronos.key")
        case "kronos_socket": (["--kronos-socket", "/run/k.sock"], "/run/k.sock")
        case "attach": (["--attach", "tc"], "tc")
        case "log_level": (["--log-level", "debug"], "debug")
        case "ring_bytes": (["--ring-bytes", "65536"], "65536")
        case "metrics_listen": (["--metrics-listen", "127.0.0.1:7470"], "127.0.0.1:7470")
        case "ipfix": (["--ipfix", "udp://127.0.0.1:4739", "--ipfix", "tcp://[::1]:4739"], "udp://127.0.0.1:4739,tcp://[::1]:4739")
        case "include": (["--include", "198.51.100.0/24", "--include", "port 443 proto tcp"], "198.51.100.0/24,port 443 proto tcp")
        case "exclude": (["--exclude", "2001:db8::/32 port 22"], "2001:db8::/32 port 22")
        case "dataset_dir": (["--dataset-dir", "/var/lib/dps/datasets"], "/var/lib/dps/datasets")
        case "rules": (["--rules", "/etc/dps/rules.yaml"], "/etc/dps/rules.yaml")
        case "dataset_compression": (["--dataset-compression", "zstd"], "zstd")
        case "dataset_rotate_bytes": (["--dataset-rotate-bytes", "1048576"], "1048576")
        case _ where setting.valueDescription.hasPrefix("seconds"): ([setting.flag, "2.5"], "2.5")
        default: ([setting.flag, "7"], "7")
        }
    }

    @Test("every setting has a flag on dps run, and the flag sets that setting alone")
    func runFlags() throws {
        for setting in RunSetting.all {
            let (arguments, text) = Self.sample(setting)
            let given = try RunCommand.parse(arguments).commandLineSettings
            #expect(RunSetting.all.filter { given.has($0) }.map(\.key) == [setting.key], "\(arguments)")
            #expect(setting.givenText(in: given) == text, "\(arguments)")
        }
    }

    @Test("dps label's shared flags set the same settings")
    func labelFlags() throws {
        let shared = [
            "extended", "idle_timeout", "active_timeout", "max_flows", "egress", "ring_bytes", "attach", "log_level",
            "ipfix", "ipfix_observation_domain", "include", "exclude",
        ]
        for key in shared {
            let setting = try #require(RunSetting.named(key))
            let options = try FlowOptions.parse(Self.sample(setting).arguments)
            #expect(CommandLineSettings.given(by: options).has(setting), "\(key)")
        }
    }

    @Test("--help shows each setting's default from its declaration")
    func help() {
        let help = RunCommand.helpMessage(columns: 400)
        for setting in RunSetting.all where setting.defaultDescription != "(required)" {
            let shown = ["true": "on", "false": "off"][setting.defaultDescription] ?? setting.defaultDescription
            #expect(help.contains("(default: \(shown))."), "\(setting.key)")
        }
    }

    @Test("defaults: the declared values, and what the components are built with")
    func defaults() {
        let options = RunOptions()
        #expect(options.idleTimeout == 10 && options.activeTimeout == 60 && options.maxFlows == 262_144)
        #expect(options.flowTable.idleTimeout == 10_000_000_000)
        #expect(options.flowTable.activeTimeout == 60_000_000_000)
        #expect(options.kronosSink.queueFrames == 65_536)
        #expect(options.kronosSink.socketPath == "/var/run/argus_v/dps_kronos.sock")
    }
}
