import Foundation
import SensorIO

/// Measure 5: offline throughput. Builds one large Ethernet pcap in /tmp from the shared captures
/// (every Ethernet capture, replayed `copies` times; copy k has k added to the second and third
/// bytes of every IPv4 address and the third and fourth of every IPv6 address, and its times
/// moved past the previous copy, so flows stay distinct), then times the real command, process
/// start to exit: `dps label --pcap FILE --out FILE.ndjson` with its defaults (libpcap read,
/// `PacketParser`, `FlowTable`, the labeling rules, labeled NDJSON written to the file).
enum OfflineBench {
    struct Frame {
        var timestamp: Int64  // ns
        var bytes: [UInt8]
        var originalLength: UInt32
    }

    /// Loads the frames of every Ethernet capture in `directory`.
    static func load(directory: String) throws -> (frames: [[Frame]], files: [String]) {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted()
        var all: [[Frame]] = []
        var used: [String] = []
        for name in names {
            guard let source = try? PcapSource(path: directory + "/" + name), source.linkType == .ethernet
            else { continue }
            var frames: [Frame] = []
            try? source.forEachRecord { frame, original, timestamp in
                frames.append(Frame(timestamp: timestamp, bytes: Array(frame), originalLength: UInt32(original)))
            }
            if !frames.isEmpty {
                all.append(frames)
                used.append(name)
            }
        }
        return (all, used)
    }

    /// Writes `copies` shifted replays of `files` to `path` (pcap, nanosecond timestamps);
    /// returns the packet count.
    static func build(path: String, files: [[Frame]], copies: Int) throws -> Int {
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let file = FileHandle(forWritingAtPath: path)
        else { throw BenchError("cannot write \(path)") }
        defer { try? file.close() }
        var out: [UInt8] = []
        out.reserveCapacity(1 << 20)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func spill() {
            file.write(Data(out))
            out.removeAll(keepingCapacity: true)
        }
        u32(0xA1B2_3C4D)  // nanosecond pcap
        u16(2)
        u16(4)
        u32(0)
        u32(0)
        u32(262_144)
        u32(1)  // LINKTYPE_ETHERNET
        var cursor: Int64 = 1_764_000_000 * 1_000_000_000
        var written = 0
        for k in 0..<copies {
            for frames in files {
                let first = frames.map(\.timestamp).min()!
                var last = cursor
                for frame in frames {
                    var bytes = frame.bytes
                    shift(&bytes, by: k)
                    // Within a file, time moves as captured (a broken timestamp: at most a day on).
                    let ts = cursor + min(max(0, frame.timestamp - first), 86_400_000_000_000)
                    last = max(last, ts)
                    u32(UInt32(ts / 1_000_000_000))
                    u32(UInt32(ts % 1_000_000_000))
                    u32(UInt32(bytes.count))
                    u32(frame.originalLength)
                    out.append(contentsOf: bytes)
                    if out.count >= 1 << 20 { spill() }
                    written += 1
                }
                cursor = last + 60_000_000_000  // a minute of quiet between replays
            }
        }
        spill()
        return written
    }

    /// Adds `k` to two bytes of each IP address of an untagged Ethernet IPv4/IPv6 frame.
    static func shift(_ bytes: inout [UInt8], by k: Int) {
        guard k > 0, bytes.count >= 14 else { return }
        let type = UInt16(bytes[12]) << 8 | UInt16(bytes[13])
        let hi = UInt8(truncatingIfNeeded: k >> 8)
        let lo = UInt8(truncatingIfNeeded: k)
        if type == 0x0800, bytes.count >= 34 {
            for base in [26, 30] {
                bytes[base + 1] = bytes[base + 1] &+ hi
                bytes[base + 2] = bytes[base + 2] &+ lo
            }
        } else if type == 0x86DD, bytes.count >= 54 {
            for base in [22, 38] {
                bytes[base + 2] = bytes[base + 2] &+ hi
                bytes[base + 3] = bytes[base + 3] &+ lo
            }
        }
    }

    struct Result {
        var seconds: Double
        var cpuSeconds: Double
        var lines: Int
        var summary: String
    }

    /// One `dps label --pcap` run over the built capture, labeled NDJSON to a file.
    static func run(dps: String, path: String) throws -> Result {
        let output = path + ".ndjson"
        defer { unlink(output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: dps)
        process.arguments = ["label", "--pcap", path, "--out", output]
        let errors = Pipe()
        process.standardError = errors
        let start = monotonicSeconds()
        let cpuStart = childrenCPUSeconds()
        try process.run()
        let log = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let seconds = monotonicSeconds() - start
        let cpuSeconds = childrenCPUSeconds() - cpuStart
        let summary = String(decoding: log, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0 else {
            throw BenchError("dps label failed (\(process.terminationStatus)): \(summary)")
        }
        let text = try String(contentsOfFile: output, encoding: .utf8)
        return Result(seconds: seconds, cpuSeconds: cpuSeconds, lines: text.utf8.reduce(0) { $1 == 10 ? $0 + 1 : $0 }, summary: summary)
    }

    static func measure(dps: String, pcaps: String, packets target: Int, into report: Report) throws {
        let (files, names) = try load(directory: pcaps)
        let perCopy = files.reduce(0) { $0 + $1.count }
        guard perCopy > 0 else { throw BenchError("no Ethernet captures in \(pcaps)") }
        let copies = max(1, (target + perCopy - 1) / perCopy)
        let path = "/tmp/dps-bench-\(getpid()).pcap"
        defer { unlink(path) }
        log("offline: building \(path): \(names.count) Ethernet captures × \(copies) copies")
        let written = try build(path: path, files: files, copies: copies)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        log("offline: \(written) packets, \(size / 1_000_000) MB; dps label --pcap, 3 runs (a first one warms the page cache)")
        _ = try run(dps: dps, path: path)
        var runs: [Result] = []
        for _ in 0..<3 { runs.append(try run(dps: dps, path: path)) }
        let rates = runs.map { Double(written) / $0.seconds }
        log("offline: \(rates.map { String(Int($0)) }.joined(separator: ", ")) pkt/s; dps said: \(runs[0].summary)")
        report.add(Figure("offline.packets", "offline: packets in the built capture", Double(written), "pkt"))
        report.add(Figure("offline.packets_per_s", "offline: dps label --pcap (median of 3)",
                          median(rates), "pkt/s", atLeast: 2_000_000))
        report.add(Figure("offline.packets_per_cpu_s", "offline: packets per CPU-second of dps (median)",
                          median(runs.map { Double(written) / $0.cpuSeconds }), "pkt/s"))
        report.add(Figure("offline.frames", "offline: labeled frames written", Double(runs[0].lines), "frames"))
    }
}
