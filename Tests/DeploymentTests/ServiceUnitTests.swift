import Foundation
import TestSupport
import Testing

@testable import SensorKernel

/// The systemd unit, the example config and the installer, checked with systemd's own tools.
@Suite(
    "Service unit",
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs systemd-analyze"))
struct ServiceUnitTests {
    /// The unit's `Key=value` lines (later assignments appended), comments dropped.
    static func directives() throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        for line in try String(contentsOfFile: ServicePaths.unit, encoding: .utf8).split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard !text.hasPrefix("#"), !text.hasPrefix("["), let eq = text.firstIndex(of: "=") else { continue }
            result[String(text[..<eq]), default: []].append(String(text[text.index(after: eq)...]))
        }
        return result
    }

    @Test("systemd-analyze security rates the unit 2.0 or lower (OK or better)")
    func securityRating() throws {
        let result = try sh(["/usr/bin/systemd-analyze", "security", "--offline=true", "--threshold=20", ServicePaths.unit])
        let output = result.out + result.err
        let match = try #require(
            output.firstMatch(of: /Overall exposure level for dps\.service: ([0-9]+\.[0-9]+) (\S+)/),
            "no rating in: \(output)")
        let exposure = try #require(Double(match.1))
        #expect(exposure <= 2.0, "exposure \(exposure) \(match.2)")
        #expect(["OK", "SAFE"].contains(String(match.2)))
        // --threshold=20 makes the command itself fail above 2.0.
        #expect(result.status == 0, "\(output)")
        // The identity and sandboxing checks that matter most all pass.
        for check in ["User=/DynamicUser=", "NoNewPrivileges=", "ProtectSystem=", "CapabilityBoundingSet=~CAP_SYS_ADMIN",
                      "RestrictAddressFamilies=~AF_PACKET", "SystemCallArchitectures=", "MemoryDenyWriteExecute="] {
            #expect(output.contains("✓ \(check)"), "\(check) does not pass")
        }
    }

    @Test("systemd-analyze verify is clean (with ExecStart pointing at the built binary)")
    func verify() throws {
        let directory = try ServicePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // verify checks that ExecStart= is executable: /usr/bin/dps exists only once the package
        // is installed, so verify a copy that runs the binary this test suite built.
        let text = try String(contentsOfFile: ServicePaths.unit, encoding: .utf8)
        #expect(text.contains("ExecStart=/usr/bin/dps run --config /etc/dps/dps.yaml\n"))
        let copy = directory.appending(path: "dps.service")
        try text.replacingOccurrences(of: "ExecStart=/usr/bin/dps ", with: "ExecStart=\(TestPaths.dps) ")
            .write(to: copy, atomically: true, encoding: .utf8)
        // --man=no: Documentation=man:dps(1) exists once the package is installed (the
        // DeploymentTests check it there).
        let result = try sh(["/usr/bin/systemd-analyze", "verify", "--man=no", copy.path])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.isEmpty && result.err.isEmpty, "verify complains: \(result.out)\(result.err)")

        // The unit as shipped: nothing beyond the binary not being installed here.
        let shipped = try sh(["/usr/bin/systemd-analyze", "verify", "--man=no", ServicePaths.unit])
        let complaints = (shipped.out + shipped.err).split(separator: "\n")
            .filter { !$0.contains("Command /usr/bin/dps is not executable") }
        #expect(complaints.isEmpty, "\(complaints)")
    }

    @Test("the unit: notify, watchdog, restart, credential, only the three capabilities, a transient user")
    func unitSettings() throws {
        let d = try Self.directives()
        #expect(d["Type"] == ["notify"])
        #expect(d["NotifyAccess"] == ["main"])
        #expect(d["WatchdogSec"]?.count == 1)
        #expect(d["Restart"] == ["on-failure"])
        #expect(d["ExecStart"] == ["/usr/bin/dps run --config /etc/dps/dps.yaml"])
        // The runtime's libdispatch may lower its manager thread's nice value to -4 (no
        // CAP_SYS_NICE needed, and none granted).
        #expect(d["LimitNICE"] == ["-4"])
        #expect(d["LoadCredential"] == ["kronos-hmac-key:/etc/dps/kronos.key"])
        #expect(d["DynamicUser"] == ["yes"])
        #expect(d["User"] == nil)
        // Exactly the capabilities `dps run` checks for, no more.
        let needed = Set(Capabilities.needed.map(\.name))
        #expect(needed == ["CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"])
        for key in ["AmbientCapabilities", "CapabilityBoundingSet"] {
            let values = try #require(d[key])
            #expect(Set(values.flatMap { $0.split(separator: " ").map(String.init) }) == needed, "\(key)")
        }
        #expect(d["NoNewPrivileges"] == ["yes"])
        // IP sockets for the metrics endpoint only, kept to loopback by the IP firewall.
        #expect(d["RestrictAddressFamilies"] == ["AF_UNIX AF_NETLINK AF_INET AF_INET6"])
        #expect(d["IPAddressDeny"] == ["any"] && d["IPAddressAllow"] == ["localhost"])
    }

    @Test("dps --version prints the version")
    func version() throws {
        let result = try sh([TestPaths.dps, "--version"])
        #expect(result.status == 0)
        #expect(result.out.trimmingCharacters(in: .whitespacesAndNewlines).wholeMatch(of: /[0-9]+\.[0-9]+\.[0-9]+/) != nil,
                "\(result.out)")
    }

    @Test("a bad config file stops dps run before anything else, naming the key and the file")
    func badConfigFile() throws {
        let directory = try ServicePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appending(path: "dps.yaml")
        try "interfaces: [lo]\nstdout: true\nidle_timeout: -3\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try sh([TestPaths.dps, "run", "--config", file.path])
        #expect(result.status != 0)
        #expect(result.err == "dps: error: config file \(file.path), line 3: key \"idle_timeout\": must be a number of seconds above 0, got -3.0\n")
        #expect(result.out.isEmpty)

        try "interfaces: [lo]\nstdot: true\n".write(to: file, atomically: true, encoding: .utf8)
        let unknown = try sh([TestPaths.dps, "run", "--config", file.path])
        #expect(unknown.status != 0)
        #expect(unknown.err.contains("config file \(file.path), line 2: key \"stdot\": unknown key"), "\(unknown.err)")

        let missing = try sh([TestPaths.dps, "run", "--config", directory.appending(path: "nope.yaml").path])
        #expect(missing.status != 0)
        #expect(missing.err.contains("nope.yaml: cannot open: No such file or directory"), "\(missing.err)")

        // No interface in the file nor on the command line.
        try "stdout: true\n".write(to: file, atomically: true, encoding: .utf8)
        let none = try sh([TestPaths.dps, "run", "--config", file.path])
        #expect(none.status != 0)
        #expect(none.err.contains("no interface given"), "\(none.err)")

        // A flag's own impossible value is named by its flag.
        let flag = try sh([TestPaths.dps, "run", "--config", file.path, "--interface", "lo", "--max-flows", "0"])
        #expect(flag.status != 0)
        #expect(flag.err.contains("--max-flows: must be above 0"), "\(flag.err)")
    }

    @Test("install.sh installs the binary, the unit and the example config, keeps an edited config, uninstalls")
    func installer() throws {
        let root = try ServicePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let env = ["/usr/bin/env", "DESTDIR=\(root.path)", "DPS_BINARY=\(TestPaths.dps)", "/bin/sh", ServicePaths.installer]
        let installed = try sh(env + ["install"])
        #expect(installed.status == 0, "\(installed.err)")
        let fm = FileManager.default
        let bin = root.appending(path: "usr/local/bin/dps").path
        let unit = root.appending(path: "etc/systemd/system/dps.service").path
        let config = root.appending(path: "etc/dps/dps.yaml").path
        #expect(fm.isExecutableFile(atPath: bin))
        // The shipped unit, pointed at the binary installed from source.
        let shipped = try String(contentsOfFile: ServicePaths.unit, encoding: .utf8)
        #expect(
            try String(contentsOfFile: unit, encoding: .utf8)
                == shipped.replacingOccurrences(of: "\nExecStart=/usr/bin/dps ", with: "\nExecStart=/usr/local/bin/dps "))
        #expect(fm.contentsEqual(atPath: config, andPath: ServicePaths.example))
        #expect((try fm.attributesOfItem(atPath: config)[.posixPermissions] as? Int) == 0o644)
        #expect((try fm.attributesOfItem(atPath: unit)[.posixPermissions] as? Int) == 0o644)
        #expect(try sh([bin, "--version"]).status == 0)

        // A second install keeps the operator's config.
        try "interfaces: [eth9]\n".write(toFile: config, atomically: true, encoding: .utf8)
        let again = try sh(env + ["install"])
        #expect(again.status == 0)
        #expect(try String(contentsOfFile: config, encoding: .utf8) == "interfaces: [eth9]\n")

        // Uninstall removes the binary and the unit, keeps the edited config; --purge removes it.
        let removed = try sh(env + ["uninstall"])
        #expect(removed.status == 0, "\(removed.err)")
        #expect(!fm.fileExists(atPath: bin))
        #expect(!fm.fileExists(atPath: unit))
        #expect(fm.fileExists(atPath: config))
        let purged = try sh(env + ["uninstall", "--purge"])
        #expect(purged.status == 0)
        #expect(!fm.fileExists(atPath: root.appending(path: "etc/dps").path))

        // An untouched example config goes with a plain uninstall.
        #expect(try sh(env + ["install"]).status == 0)
        #expect(try sh(env + ["uninstall"]).status == 0)
        #expect(!fm.fileExists(atPath: config))
    }
}
