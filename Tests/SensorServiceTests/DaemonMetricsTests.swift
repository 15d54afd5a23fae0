import Foundation
import SensorCore
import Testing

@testable import SensorService

/// The metrics as exposed: families, names, types, and the values the capture thread publishes.
@Suite("Daemon metrics")
struct DaemonMetricsTests {
    /// A snapshot with every sink key the stats line can have.
    static func snapshot(packets: UInt64, frames: UInt64 = 0, produced: UInt64 = 0, queued: UInt64 = 0)
        -> DaemonMetrics.Snapshot
    {
        var stats = FlowTableStats()
        stats.packets = packets
        stats.frames = frames
        stats.framesByReason[EndReason.idle.index] = frames
        let sink = SinkMetrics.known.keys.sorted().map { key -> (key: String, value: UInt64) in
            (key, key == "kronos_produced" ? produced : key == "kronos_queued" ? queued : 0)
        }
        return DaemonMetrics.Snapshot(
            flowTable: stats, flowsOpen: 3, ringBufferDrops: 1, notIP: 2, malformed: 0, excluded: 4, notIncluded: 5,
            framesWritten: frames,
            sink: sink, interfaces: 1)
    }

    /// name → (type, help, label names) from exposition text.
    static func families(_ text: String) -> [String: (type: String, help: String, labels: [String])] {
        var result: [String: (type: String, help: String, labels: [String])] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
            if parts.count >= 4, parts[0] == "#", parts[1] == "HELP" {
                result[parts[2], default: ("", "", [])].help = parts[3]
            } else if parts.count >= 4, parts[0] == "#", parts[1] == "TYPE" {
                result[parts[2], default: ("", "", [])].type = parts[3]
            } else if !line.hasPrefix("#"), let brace = line.firstIndex(of: "{") {
                let name = String(line[..<brace])
                guard result[name] != nil else { continue }  // histogram series carry suffixes
                let labels = line[line.index(after: brace)...].prefix { $0 != "}" }.split(separator: ",")
                    .map { String($0.prefix { $0 != "=" }) }
                result[name]?.labels = labels
            }
        }
        return result
    }

    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test("counters follow what is published; gauges are set; drops are there from the start")
    func values() throws {
        let metrics = DaemonMetrics(version: "9.9.9", ringBytes: 1 << 20)
        metrics.publish(Self.snapshot(packets: 10, frames: 2, produced: 2, queued: 5))
        metrics.publish(Self.snapshot(packets: 25, frames: 4, produced: 4, queued: 1))
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(Self.value(text, "dps_packets_total") == 25)
        #expect(Self.value(text, "dps_frames_total{reason=\"idle\"}") == 4)
        #expect(Self.value(text, "dps_frames_total{reason=\"fin\"}") == 0)
        #expect(Self.value(text, "dps_frames_written_total") == 4)
        #expect(Self.value(text, "dps_kronos_frames_produced_total") == 4)
        #expect(Self.value(text, "dps_kronos_queued_frames") == 1)
        #expect(Self.value(text, "dps_ringbuf_drops_total") == 1)
        #expect(Self.value(text, "dps_flows_open") == 3)
        #expect(Self.value(text, "dps_ringbuf_size_bytes") == 1_048_576)
        #expect(Self.value(text, "dps_build_info{version=\"9.9.9\"}") == 1)
        #expect((Self.value(text, "process_resident_memory_bytes") ?? 0) > 1_000_000)
        #expect((Self.value(text, "process_open_fds") ?? 0) >= 3)
        let start = try #require(Self.value(text, "process_start_time_seconds"))
        #expect(abs(start - Date().timeIntervalSince1970) < 3600 * 24 * 365)
    }

    @Test("a frame's delay from its last packet goes into the histogram")
    func frameDelay() {
        let metrics = DaemonMetrics(version: "t", ringBytes: 4096)
        var frame = FlowFrame(
            source: IPAddress(ipv4: 198, 51, 100, 1), destination: IPAddress(ipv4: 198, 51, 100, 2), sourcePort: 1,
            destinationPort: 2, transport: .udp, bytesIn: 0, bytesOut: 0, duration: 0, payload: nil)
        frame.lastSeen = Int64(Date().timeIntervalSince1970 * 1e6) - 3_000_000  // 3 s ago
        metrics.frameEmitted(frame)
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(Self.value(text, "dps_frame_delay_seconds_count") == 1)
        #expect(Self.value(text, "dps_frame_delay_seconds_bucket{le=\"2.0\"}") == 0)
        #expect(Self.value(text, "dps_frame_delay_seconds_bucket{le=\"5.0\"}") == 1)
    }

    /// The README's metric table as the exposition makes it.
    static func table() -> String {
        let metrics = DaemonMetrics(version: "t", ringBytes: 4096)
        metrics.publish(snapshot(packets: 1))
        let families = families(String(decoding: metrics.render(), as: UTF8.self))
        return families.keys.sorted().map { name in
            let family = families[name]!
            let labels = family.labels.filter { $0 != "le" }
            let shown = labels.isEmpty ? name : "\(name){\(labels.joined(separator: ","))}"
            return "| `\(shown)` | \(family.type) | \(family.help) |"
        }.joined(separator: "\n")
    }

    @Test("every family has HELP and TYPE, Prometheus's names and units; the README lists them all")
    func namesAndReadme() throws {
        let metrics = DaemonMetrics(version: "t", ringBytes: 4096)
        metrics.publish(Self.snapshot(packets: 1))
        let families = Self.families(String(decoding: metrics.render(), as: UTF8.self))
        #expect(families.count >= 30)
        for (name, family) in families {
            #expect(!family.help.isEmpty, "\(name) has no HELP")
            #expect(family.type == "counter" ? name.hasSuffix("_total") : !name.hasSuffix("_total"), "\(name)")
            #expect(name.hasPrefix("dps_") || name.hasPrefix("process_"), "\(name)")
        }
        let readme = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appending(path: "README.md"), encoding: .utf8)
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0 == "| metric | type | meaning |" })
        let rows = lines[(start + 2)...].prefix { $0.hasPrefix("|") }.joined(separator: "\n")
        #expect(rows == Self.table())
    }

    @Test(
        "the README's alert rules pass promtool check rules",
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool"),
            "needs promtool (Debian's prometheus package; .ci/setup installs it)"))
    func alertRules() throws {
        let readme = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appending(path: "README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "```yaml\n# dps alert rules\n"))
        let end = try #require(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        let rules = String(readme[start.upperBound..<end.lowerBound])
        #expect(rules.contains("dps_ringbuf_drops_total") && rules.contains("dps_kronos_frames_dropped_total"))
        let file = FileManager.default.temporaryDirectory.appending(path: "dps-rules-\(UUID().uuidString).yml")
        try rules.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        process.arguments = ["check", "rules", file.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("SUCCESS: 2 rules found"), "\(text)")
    }
}
