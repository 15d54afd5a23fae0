import Foundation
import TestSupport
import SensorCore
import SensorIO
import Testing

/// `dps label` and `dps generate` as a user runs them: exit codes, stderr, output bytes.
@Suite("dps label and generate (CLI)")
struct LabelCommandTests {
    /// A temporary directory removed at deinit.
    final class Scratch {
        let url: URL
        init() throws {
            url = FileManager.default.temporaryDirectory.appending(path: "dps-labelcli-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: url) }
        func path(_ name: String) -> String { url.appending(path: name).path }
        func write(_ name: String, _ text: String) throws -> String {
            try Data(text.utf8).write(to: url.appending(path: name))
            return path(name)
        }
        func read(_ name: String) -> String { (try? String(contentsOfFile: path(name), encoding: .utf8)) ?? "" }
    }

    static let shared = TestPaths.packageRoot.deletingLastPathComponent().appending(path: "shared")

    func dps(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        try sh([TestPaths.dps] + arguments, timeout: 120)
    }

    @Test("generate: same seed, same bytes; another seed, other bytes; the distribution on stderr")
    func generateDeterminism() throws {
        let dir = try Scratch()
        let a = try dps(["generate", "--count", "3000", "--seed", "42", "--out", dir.path("a/flows.ndjson")])
        let b = try dps(["generate", "--count", "3000", "--seed", "42", "--out", dir.path("b.ndjson")])
        let c = try dps(["generate", "--count", "3000", "--seed", "43", "--out", dir.path("c.ndjson")])
        #expect(a.status == 0 && b.status == 0 && c.status == 0)
        #expect(dir.read("a/flows.ndjson") == dir.read("b.ndjson"))
        #expect(dir.read("a/flows.ndjson") != dir.read("c.ndjson"))
        #expect(dir.read("b.ndjson").split(separator: "\n").count == 3000)
        #expect(a.err.contains("generated 3000 frames (seed 42)"))
        #expect(a.err.contains("labels: benign="))
    }

    @Test("generate, labels removed, label --ndjson: all 10,000 labels of seed 42 recovered")
    func generateRelabel() throws {
        let dir = try Scratch()
        #expect(try dps(["generate", "--count", "10000", "--out", dir.path("gen.ndjson")]).status == 0)
        let labeled = dir.read("gen.ndjson").split(separator: "\n").map(String.init)
        let stripped = try labeled.map { line in
            let range = try #require(line.range(of: #","label":"#))
            return String(line[..<range.lowerBound]) + "}"
        }
        let input = try dir.write("stripped.ndjson", stripped.joined(separator: "\n") + "\n")
        let result = try dps(["label", "--ndjson", input, "--out", dir.path("relabeled.ndjson")])
        #expect(result.status == 0)
        let relabeled = dir.read("relabeled.ndjson").split(separator: "\n").map(String.init)
        #expect(relabeled.count == 10_000)
        let same = zip(labeled, relabeled).filter { $0 == $1 }.count
        #expect(same == 10_000)
        #expect(result.err.contains("unmatched=0 (skipped) errors=0 written=10000"))
    }

    @Test("label --ndjson: bad lines named file:line, counted, skipped; --strict stops non-zero")
    func badLines() throws {
        let dir = try Scratch()
        let good = #"{"src_ip": "198.51.100.1", "dst_ip": "198.51.100.2", "src_port": 40000, "dst_port": 80, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.5, "payload": null}"#
        let input = try dir.write(
            "in.ndjson",
            [good, "{oops", good, good.replacingOccurrences(of: "198.51.100.2", with: "198.51.100"), good].joined(separator: "\n"))
        let lenient = try dps(["label", "--ndjson", input, "--out", dir.path("out.ndjson")])
        #expect(lenient.status == 0)
        #expect(lenient.err.contains("\(input):2: not JSON"))
        #expect(lenient.err.contains("\(input):4: key \"dst_ip\": expected an IPv4 or IPv6 address"))
        #expect(lenient.err.contains("errors=2"))
        let written = dir.read("out.ndjson").split(separator: "\n")
        #expect(written.count == 3)
        #expect(written.allSatisfy { $0.hasSuffix(#","label":"benign"}"#) })

        let strict = try dps(["label", "--ndjson", input, "--out", dir.path("strict.ndjson"), "--strict"])
        #expect(strict.status != 0)
        #expect(strict.err.contains("\(input):2: not JSON"))
        #expect(!strict.err.contains("\(input):4:"))
        #expect(dir.read("strict.ndjson").split(separator: "\n").count == 1)
    }

    @Test("a bad rules file stops before any work, naming the rule and field")
    func badRulesFile() throws {
        let dir = try Scratch()
        let rules = try dir.write("rules.yaml", "rules:\n  - label: slow\n    match:\n      duration_under: soon\n")
        let input = try dir.write("in.ndjson", "")
        let result = try dps(["label", "--rules", rules, "--ndjson", input, "--out", dir.path("out.ndjson")])
        #expect(result.status != 0)
        #expect(result.err.contains("\(rules): rule 1 (slow): field \"match.duration_under\""))
        #expect(!FileManager.default.fileExists(atPath: dir.path("out.ndjson")))
    }

    @Test("--print-rules prints the defaults, YAML or JSON, and a custom file's rules; they load back")
    func printRules() throws {
        let dir = try Scratch()
        let yaml = try dps(["label", "--print-rules"])
        #expect(yaml.status == 0)
        #expect(yaml.out == RulesFile.render(.defaults, format: .yaml))
        let json = try dps(["label", "--print-rules", "--rules-format", "json"])
        #expect(json.out == RulesFile.render(.defaults, format: .json))
        // Printed JSON, edited, loaded as --rules, printed again as YAML.
        let edited = json.out.replacingOccurrences(of: "\"benign\"", with: "\"web\"")
        let custom = try dir.write("custom.json", edited)
        let again = try dps(["label", "--rules", custom, "--print-rules", "--rules-format", "yaml"])
        #expect(again.status == 0)
        var expected = RuleSet.defaults
        expected.rules[2].label = "web"
        #expect(again.out == RulesFile.render(expected, format: .yaml))
        let back = try dir.write("back.yaml", again.out)
        #expect(try RulesFile.load(path: back).rules == expected)
    }

    @Test("label --pcap: the same file twice gives the same bytes; damage: frames, then a named error")
    func pcap() throws {
        let dir = try Scratch()
        let capture = Self.shared.appending(path: "pcaps/bittorrent.pcap").path
        let first = try dps(["label", "--pcap", capture, "--out", dir.path("1.ndjson")])
        let second = try dps(["label", "--pcap", capture, "--out", "-"])
        #expect(first.status == 0 && second.status == 0)
        #expect(dir.read("1.ndjson") == second.out)
        #expect(second.out.split(separator: "\n").count == 24)
        #expect(first.err.contains("bittorrent=24"))
        let piped = try sh(["/bin/sh", "-c", "exec \"$0\" label --pcap - --out - < \"$1\"", TestPaths.dps, capture])
        #expect(piped.status == 0 && piped.out == second.out, "--pcap - reads standard input: \(piped.err)")

        let bytes = try Data(contentsOf: URL(fileURLWithPath: capture))
        try bytes.prefix(bytes.count / 2).write(to: dir.url.appending(path: "cut.pcap"))
        let cut = try dps(["label", "--pcap", dir.path("cut.pcap"), "--out", dir.path("cut.ndjson")])
        #expect(cut.status != 0)
        #expect(cut.err.contains("\(dir.path("cut.pcap")): packet "))
        #expect(!dir.read("cut.ndjson").isEmpty)
    }

    @Test("killed mid-run, the output holds whole lines only")
    func killedMidRun() throws {
        let dir = try Scratch()
        let out = dir.path("killed.ndjson")
        let child = try Spawned([TestPaths.dps, "generate", "--count", "5000000", "--out", out])
        // Wait until some output is there, then kill without warning.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, ((try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0) < 200_000 {
            usleep(10_000)
        }
        child.signal(SIGKILL)
        _ = child.wait(timeout: 10)
        let data = try Data(contentsOf: URL(fileURLWithPath: out))
        #expect(data.count >= 200_000)
        #expect(data.last == UInt8(ascii: "\n"))
        for line in data.split(separator: UInt8(ascii: "\n")) {
            #expect(throws: Never.self) { _ = try FlowFrameJSON.parse(line) }
        }
    }

    @Test("usage errors: no source, two sources, --duration without --interface")
    func usage() throws {
        #expect(try dps(["label", "--out", "-"]).status != 0)
        #expect(try dps(["label", "--ndjson", "a", "--pcap", "b", "--out", "-"]).status != 0)
        #expect(try dps(["label", "--pcap", "b", "--duration", "3", "--out", "-"]).status != 0)
        let infinite = try dps(["label", "--pcap", "b", "--idle-timeout", "inf", "--out", "-"])
        #expect(infinite.status != 0 && infinite.err.contains("--idle-timeout: must be a number of seconds"))
        // The capture options are dps run's own (one shared group), checks and messages included.
        for command in [["label", "--pcap", "b", "--out", "-"], ["run", "--interface", "lo", "--stdout"]] {
            let ring = try dps(command + ["--ring-bytes", "5000"])
            #expect(ring.status != 0 && ring.err.contains("--ring-bytes: must be a power of two"), "\(ring.err)")
        }
        let extended = try dps(["label", "--ndjson", "a", "--extended", "--out", "-"])
        #expect(extended.status != 0 && extended.err.contains("--extended needs packet-level input"))
    }

    @Test("label --ndjson: a file that cannot be read fails the run, even without --strict")
    func unreadableFile() throws {
        let result = try dps(["label", "--ndjson", "/nonexistent/frames.ndjson", "--out", "-"])
        #expect(result.status != 0)
        #expect(result.err.contains("/nonexistent/frames.ndjson"))
    }

    @Test("a long --pcap run shows a progress line on a terminal (packets, rate, flows, percent), none on a pipe")
    func progressLine() throws {
        let dir = try Scratch()
        // 400,000 small UDP packets over 4,000 flows, one microsecond apart.
        let pcap = dir.path("big.pcap")
        let script = """
            import struct, sys
            with open(sys.argv[1], "wb") as f:
                f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
                for i in range(400000):
                    port = 1024 + i % 4000
                    udp = struct.pack("!HHHH", port, 53, 12, 0) + b"abcd"
                    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                                     bytes([198, 51, 100, 1]), bytes([198, 51, 100, 2])) + udp
                    frame = bytes.fromhex("02005e00530202005e0053010800") + ip
                    f.write(struct.pack("<IIII", 1764000000 + i // 1000000, i % 1000000, len(frame), len(frame)) + frame)
            """
        let made = try sh(["/usr/bin/python3", "-c", script, pcap], timeout: 120)
        #expect(made.status == 0, "\(made.err)")
        // A terminal: script(1) gives dps a pseudo-terminal for stdin, stdout and stderr.
        let command = "\(TestPaths.dps) label --pcap \(pcap) --out \(dir.path("out.ndjson")) --unmatched other"
        let onTerminal = try sh(["/usr/bin/script", "-qec", command, "/dev/null"], timeout: 120)
        #expect(onTerminal.status == 0, "\(onTerminal.out)")
        #expect(onTerminal.out.contains("\r\(pcap): "), "\(onTerminal.out)")
        #expect(onTerminal.out.contains("packets ("), "\(onTerminal.out)")
        #expect(onTerminal.out.contains("flows open"), "\(onTerminal.out)")
        #expect(onTerminal.out.contains("% read"), "\(onTerminal.out)")
        // A pipe (a journal, a file): nothing but the summary.
        let onPipe = try dps(["label", "--pcap", pcap, "--out", dir.path("out2.ndjson"), "--unmatched", "other"])
        #expect(onPipe.status == 0)
        #expect(!onPipe.err.contains("% read") && !onPipe.err.contains("\r"), "\(onPipe.err)")
        #expect(dir.read("out.ndjson") == dir.read("out2.ndjson"))
    }
}
