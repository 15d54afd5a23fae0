import Foundation
import TestSupport
import Testing

import SensorService

/// What an attacker or a careless operator can hand `dps`: FIFOs for files, deeply nested or
/// self-multiplying YAML, absurd durations, control characters, out-of-contract frames, a closed
/// stdout. Each gives one clean error or a documented, bounded outcome.
@Suite("Hostile input", .serialized)
struct HostileInputTests {
    typealias Pair = NamespacePair

    /// A temporary directory holding a FIFO named `name`.
    static func fifo(in directory: URL, _ name: String = "fifo") throws -> String {
        let path = directory.appending(path: name).path
        guard mkfifo(path, 0o600) == 0 else { throw TestSetupError("mkfifo: errno \(errno)") }
        return path
    }

    static let deepYAML = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)

    static var aliasBomb: String {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in 1...9 {
            lines.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test("a FIFO as config, rules file or key file: refused at once, one line, exit 1")
    func fifoFiles() throws {
        let directory = try ServicePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = try Self.fifo(in: directory)
        let sample = TestPaths.packageRoot.appending(path: "../shared/data/sample_flows.ndjson").path
        for (arguments, expected) in [
            (["run", "--config", fifo], "dps: error: config file \(fifo): not a regular file\n"),
            (["label", "--rules", fifo, "--ndjson", sample, "--out", "/dev/null"], "dps: error: \(fifo): not a regular file\n"),
            (["run", "--config", "/dev/null", "--interface", "lo", "--hmac-key-file", fifo],
             "dps: error: HMAC key file \(fifo): not a regular file\n"),
        ] {
            let result = try sh([TestPaths.dps] + arguments, timeout: 10)
            #expect(result.status == 1, "\(arguments): \(result.err)")
            // (dps run logs which config it read first.)
            #expect(result.err.hasSuffix(expected), "\(arguments): \(result.err)")
        }
    }

    @Test("deep YAML and an alias bomb as config or rules: one clean error, bounded time and memory")
    func hostileYAML() throws {
        let directory = try ServicePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let deep = directory.appending(path: "deep.yaml")
        try ("rules: " + Self.deepYAML + "\n").write(to: deep, atomically: true, encoding: .utf8)
        let bomb = directory.appending(path: "bomb.yaml")
        try Self.aliasBomb.write(to: bomb, atomically: true, encoding: .utf8)
        let sample = TestPaths.packageRoot.appending(path: "../shared/data/sample_flows.ndjson").path
        for file in [deep, bomb] {
            let rules = try sh([TestPaths.dps, "label", "--rules", file.path, "--ndjson", sample, "--out", "/dev/null"], timeout: 20)
            #expect(rules.status == 1)
            #expect(rules.err.hasPrefix("dps: error: \(file.path): not YAML: line "), "\(rules.err)")
            let config = try sh([TestPaths.dps, "run", "--config", file.path], timeout: 20)
            #expect(config.status == 1)
            #expect(config.err.hasPrefix("dps: error: config file \(file.path): not valid YAML: line "), "\(config.err)")
            for result in [rules, config] {
                #expect(result.err.split(separator: "\n").count == 1, "\(result.err)")
                #expect(result.err.contains("nested deeper than 64 levels") || result.err.contains("more than 100000 nodes"))
            }
        }
    }

    @Test("durations below their floor are refused, on the command line and in the config file")
    func tinyDurations() throws {
        let capture = TestPaths.packageRoot.appending(path: "../shared/pcaps/dns.pcap").path
        for value in ["1e-12", "1e-9", "0.0009"] {
            let result = try sh(
                [TestPaths.dps, "label", "--pcap", capture, "--active-timeout", value, "--out", "/dev/null"], timeout: 10)
            #expect(result.status != 0)
            #expect(result.err.contains("--active-timeout: must be at least 0.001 seconds"), "\(result.err)")
        }
        let floor = try sh([TestPaths.dps, "label", "--pcap", capture, "--active-timeout", "0.001", "--idle-timeout", "0.001",
                            "--out", "/dev/null"], timeout: 30)
        #expect(floor.status == 0, "\(floor.err)")
        let directory = try ServicePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appending(path: "dps.yaml")
        try "interfaces: [lo]\nstdout: true\nidle_timeout: 1e-12\n".write(to: config, atomically: true, encoding: .utf8)
        let file = try sh([TestPaths.dps, "run", "--config", config.path], timeout: 10)
        #expect(file.status == 1)
        #expect(file.err.contains("key \"idle_timeout\": must be at least 0.001 seconds, got 1e-12"), "\(file.err)")
        try "interfaces: [lo]\nstdout: true\nstats_interval: 0.01\n".write(to: config, atomically: true, encoding: .utf8)
        let stats = try sh([TestPaths.dps, "run", "--config", config.path], timeout: 10)
        #expect(stats.err.contains("key \"stats_interval\": must be at least 0.1 seconds"), "\(stats.err)")
    }

    @Test("control characters in keys, values and labels are escaped; a 10 MB key is cut short")
    func noLogForging() throws {
        let directory = try ServicePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appending(path: "bad.ndjson")
        let forged = "x\\nwarning: forged line\\u001b[31m\\u0000"
        let huge = String(repeating: "k", count: 10_000_000)
        try ("{\"\(forged)\": 1}\n{\"src_ip\": \"\(forged)\"}\n{\"\(huge)\": 1}\n")
            .write(to: input, atomically: true, encoding: .utf8)
        let result = try sh([TestPaths.dps, "label", "--ndjson", input.path, "--out", "/dev/null"], timeout: 30)
        #expect(!result.err.contains("\u{1b}") && !result.err.contains("\u{0}"), "\(result.err)")
        #expect(!result.err.contains("\nwarning: forged"), "\(result.err)")
        #expect(result.err.contains("x\\nwarning: forged line\\u{1b}[31m\\u{0}"), "\(result.err)")
        #expect(result.err.utf8.count < 4000, "\(result.err.utf8.count) bytes of stderr")
        #expect(result.err.split(separator: "\n").allSatisfy { $0.hasPrefix("dps:") || $0.hasPrefix("\(input.path):") },
                "\(result.err)")

        let rules = directory.appending(path: "rules.json")
        try "{\"rules\": [{\"label\": \"evil\\n\\u001b[2J\", \"match\": {\"protocol\": 5}}]}"
            .write(to: rules, atomically: true, encoding: .utf8)
        let ruleError = try sh([TestPaths.dps, "label", "--rules", rules.path, "--ndjson", input.path, "--out", "/dev/null"])
        #expect(ruleError.status == 1)
        #expect(ruleError.err.contains("rule 1 (evil\\n\\u{1b}[2J)"), "\(ruleError.err)")
        #expect(ruleError.err.split(separator: "\n").count == 1)
    }

    @Test("frames out of the FlowFrame contract (payload over 128 bytes, or empty) are bad lines, counted")
    func payloadContract() throws {
        let directory = try ServicePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appending(path: "frames.ndjson")
        let frame = { (payload: String) in
            "{\"src_ip\":\"198.51.100.2\",\"dst_ip\":\"198.51.100.1\",\"src_port\":40000,\"dst_port\":80,"
                + "\"protocol\":\"TCP\",\"bytes_in\":1,\"bytes_out\":2,\"duration\":0.5,\"payload\":\(payload)}"
        }
        let big = Data(repeating: 0x41, count: 52_500).base64EncodedString()
        let full = Data(repeating: 0x42, count: 128).base64EncodedString()
        try [frame("\"\(big)\""), frame("\"\""), frame("\"\(full)\""), frame("null")].joined(separator: "\n")
            .appending("\n").write(to: input, atomically: true, encoding: .utf8)
        let output = directory.appending(path: "out.ndjson")
        let result = try sh([TestPaths.dps, "label", "--ndjson", input.path, "--out", output.path, "--unmatched", "other"])
        #expect(result.err.contains("frames.ndjson:1: key \"payload\": 52500 bytes, a FlowFrame snapshot holds at most 128"),
                "\(result.err)")
        #expect(result.err.contains("frames.ndjson:2: key \"payload\": empty (a frame without payload has null)"))
        #expect(result.err.contains("errors=2 written=2"), "\(result.err)")
        #expect(try String(contentsOf: output, encoding: .utf8).split(separator: "\n").count == 2)
    }

    @Test("a reload's read runs on its own thread with a time bound: a hung read is left behind")
    func reloadReadIsBounded() async {
        let hung = await ReloadService.onOwnThread(timeout: .milliseconds(200)) { () -> Int in
            sleep(10)
            return 1
        }
        #expect(hung == nil)
        let quick = await ReloadService.onOwnThread(timeout: .seconds(10)) { 42 }
        #expect(quick == 42)
    }

    @Test(
        "reload with deep YAML, an alias bomb, a FIFO: rejected, capture goes on, SIGTERM still stops it",
        .enabled(if: Privilege.isRoot, "needs root for BPF and namespaces"))
    func hostileReload() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let directory = try ServicePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appending(path: "dps.yaml")
        try "interfaces: [\(Pair.sensorInterface)]\nstdout: true\n".write(to: config, atomically: true, encoding: .utf8)
        let dps = try pair.spawn(in: pair.sensor, [TestPaths.dps, "run", "--config", config.path])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        #expect(dps.waitFor("capturing", inStderr: true, timeout: 20), "\(dps.stderr)")

        var rejected = 0
        for bad in ["rules: " + Self.deepYAML, Self.aliasBomb, nil] {
            try? FileManager.default.removeItem(at: config)
            if let bad {
                try bad.write(to: config, atomically: true, encoding: .utf8)
            } else {
                _ = try Self.fifo(in: directory, "dps.yaml")
            }
            dps.signal(SIGHUP)
            rejected += 1
            let deadline = Date().addingTimeInterval(10)
            while dps.stderr.components(separatedBy: "reload rejected").count - 1 < rejected, Date() < deadline {
                usleep(20_000)
            }
            #expect(dps.stderr.components(separatedBy: "reload rejected").count - 1 == rejected, "\(dps.stderr)")
            #expect(dps.process.isRunning)
        }
        #expect(dps.stderr.contains("nested deeper than 64 levels"))
        #expect(dps.stderr.contains("more than 100000 nodes"))
        #expect(dps.stderr.contains("not a regular file"))

        let ping = try pair.run(in: pair.peer, ["ping", "-c", "1", "-W", "2", Pair.sensorV4])
        #expect(ping.status == 0)
        dps.signal(SIGTERM)
        #expect(dps.wait(timeout: 10) == 0, "\(dps.stderr)")
        #expect(dps.stdout.contains("\"dst_ip\":\"\(Pair.sensorV4)\""), "the flows of the running sensor: \(dps.stdout)")
        #expect(try pair.sensorHooks().isEmpty)
    }

    /// Runs `dps ARGUMENTS | head -n 1` (bash, with `shell` before it) in the sensor namespace,
    /// sends two pings (the first frame goes through head, the second meets the closed pipe) and
    /// returns the pipeline's status, what head printed and dps's stderr.
    func pipedToHead(_ pair: Pair, _ arguments: String, shell: String = "") throws -> (status: Int32, out: String, log: String) {
        let stderr = FileManager.default.temporaryDirectory.appending(path: "dps-head-\(UUID().uuidString).err")
        defer { try? FileManager.default.removeItem(at: stderr) }
        let pipeline = try pair.spawn(
            in: pair.sensor,
            ["/bin/bash", "-c", "\(shell)'\(TestPaths.dps)' \(arguments) 2>'\(stderr.path)' | head -n 1"])
        defer { if pipeline.process.isRunning { pipeline.signal(SIGKILL) } }
        let log = { (try? String(contentsOf: stderr, encoding: .utf8)) ?? "" }
        let started = Date().addingTimeInterval(20)
        while !log().contains("capturing"), Date() < started { usleep(20_000) }
        for _ in 0..<2 {
            _ = try pair.run(in: pair.peer, ["ping", "-c", "1", "-W", "2", Pair.sensorV4])
            usleep(1_500_000)
        }
        let status = pipeline.wait(timeout: 15)
        return (status, pipeline.stdout, log())
    }

    @Test(
        "dps run --stdout | head -1: once the reader is gone dps says so, detaches and exits 141",
        .enabled(if: Privilege.isRoot, "needs root for BPF and namespaces"))
    func stdoutClosed() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let result = try pipedToHead(
            pair, "run --interface \(Pair.sensorInterface) --stdout --idle-timeout 0.5", shell: "set -o pipefail; ")
        #expect(result.status == 141)
        #expect(result.out.split(separator: "\n").count == 1, "\(result.out)")
        #expect(result.log.contains("the output of frames was closed (broken pipe): stopping"), "\(result.log)")
        #expect(result.log.contains("final stats"), "\(result.log)")
        #expect(try pair.sensorHooks().isEmpty)
        // No dps left running on the interface.
        let left = try sh(["/usr/bin/pgrep", "-f", "\(TestPaths.dps) run --interface \(Pair.sensorInterface)"])
        #expect(left.out.isEmpty, "\(left.out)")
    }

    @Test(
        "dps label --interface --out - | head -1: live labeling stops too once the reader is gone",
        .enabled(if: Privilege.isRoot, "needs root for BPF and namespaces"))
    func labelStdoutClosed() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let result = try pipedToHead(
            pair, "label --interface \(Pair.sensorInterface) --duration 60 --idle-timeout 0.5 --unmatched other --out -")
        // Well before --duration 60: the broken pipe ended it (a kill at the timeout is not 0).
        #expect(result.status == 0)
        #expect(result.out.split(separator: "\n").count == 1, "\(result.out)")
        #expect(result.log.contains("the output of frames was closed (broken pipe): stopping"), "\(result.log)")
        #expect(try pair.sensorHooks().isEmpty)
    }
}
