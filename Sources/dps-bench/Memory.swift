import Foundation
import SensorCore

/// Measure 6: resident memory of the flow table with N concurrent flows, in a child process of its
/// own (`dps-bench --memory-child N`) so nothing else the harness allocated is counted.
///
/// Flows: distinct UDP tuples 198.51.100.0/24 and 203.0.113.0/24 (ports vary), one packet each
/// with a 64-byte payload (so every flow keeps a snapshot, as real flows do); `maxFlows` = N.
/// RSS is read from /proc/self/statm before the first and after the Nth flow. Then N/4 more
/// flows: the table must stay at N flows and evict exactly N/4 (the `--max-flows` bound).
enum MemoryBench {
    struct ChildResult: Codable {
        var flows: Int
        var rssBefore: Int
        var rssAfter: Int
        var rssAfterOverflow: Int
        var countAfterOverflow: Int
        var evicted: UInt64
        var extra: Int
    }

    static func rss() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func event(_ n: Int, at time: Int64) -> PacketEvent {
        // 256 clients × 256 servers × ports: distinct for n < 2^32.
        let client = IPAddress(ipv4: 198, 51, 100, UInt8(truncatingIfNeeded: n))
        let server = IPAddress(ipv4: 203, 0, 113, UInt8(truncatingIfNeeded: n >> 8))
        return PacketEvent(
            timestamp: time, interface: 2, source: client, destination: server,
            sourcePort: UInt16(truncatingIfNeeded: 1024 + (n >> 16)), destinationPort: 53, transport: 17,
            payloadLength: 64)
    }

    static func child(flows: Int) -> ChildResult {
        var evicted: UInt64 = 0
        let table = FlowTable(
            configuration: FlowTableConfiguration(
                idleTimeout: 3_600_000_000_000, activeTimeout: 3_600_000_000_000, maxFlows: flows),
            emit: { frame in if frame.endReason == .evicted { evicted += 1 } })
        let payload = [UInt8](repeating: 0x61, count: 64)
        let before = rss()
        let base: Int64 = 1_764_000_000 * 1_000_000_000
        payload.withUnsafeBytes { snapshot in
            for n in 0..<flows { table.ingest(event(n, at: base + Int64(n)), snapshot: snapshot) }
        }
        let after = rss()
        let extra = flows / 4
        payload.withUnsafeBytes { snapshot in
            for n in flows..<(flows + extra) { table.ingest(event(n, at: base + Int64(n)), snapshot: snapshot) }
        }
        let overflow = rss()
        return ChildResult(
            flows: flows, rssBefore: before, rssAfter: after, rssAfterOverflow: overflow,
            countAfterOverflow: table.count, evicted: evicted, extra: extra)
    }

    static func measure(flows: Int, into report: Report) throws {
        log("memory: \(flows) concurrent flows in a child process")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        process.arguments = ["--memory-child", "\(flows)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError("memory child failed") }
        let r = try JSONDecoder().decode(ChildResult.self, from: data)
        let perFlow = Double(r.rssAfter - r.rssBefore) / Double(r.flows)
        report.add(Figure("memory.rss_mb", "memory: resident size at \(r.flows) flows",
                          Double(r.rssAfter) / 1_048_576, "MiB"))
        report.add(Figure("memory.bytes_per_flow", "memory: bytes per flow (RSS growth / flows)",
                          perFlow.rounded(), "B", atMost: 400))
        let held = r.countAfterOverflow == r.flows && r.evicted == UInt64(r.extra)
        report.add(Figure("memory.bound_held", "memory: --max-flows bound held (+\(r.extra) flows: 1 = yes)",
                          held ? 1 : 0, "bool", atLeast: 1))
        report.add(Figure("memory.rss_growth_over_bound_mb", "memory: RSS growth past the bound",
                          Double(r.rssAfterOverflow - r.rssAfter) / 1_048_576, "MiB"))
    }
}
