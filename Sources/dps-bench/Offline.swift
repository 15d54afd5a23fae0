import Foundation
import SensorCore
import SensorIO

/// Measure 5: offline throughput. Builds one large Ethernet pcap in /tmp from the shared captures
/// (every Ethernet capture, replayed `copies` times; copy k has k added to the second and third
/// bytes of every IPv4 address and the third and fourth of every IPv6 address, and its times
/// moved past the previous copy, so flows stay distinct), then times what `dps label --pcap` does
/// per packet: `PcapSource` (libpcap read + `PacketParser`) → `FlowTable` → `FrameEncoder`.
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
        var packets: UInt64
        var events: UInt64
        var frames: UInt64
        var seconds: Double
    }

    static func run(path: String) throws -> Result {
        let source = try PcapSource(path: path)
        let encoder = FrameEncoder(extended: false)
        var out: [UInt8] = []
        out.reserveCapacity(1 << 17)
        var frames: UInt64 = 0
        let table = FlowTable(
            configuration: FlowTableConfiguration(),
            emit: { frame in
                encoder.encode(frame, into: &out)
                out.append(10)
                frames &+= 1
                if out.count >= 1 << 16 { out.removeAll(keepingCapacity: true) }
            })
        var events: UInt64 = 0
        let start = monotonicSeconds()
        try source.forEachPacket { event, snapshot in
            events &+= 1
            table.ingest(event, snapshot: snapshot)
        }
        table.drain()
        let seconds = monotonicSeconds() - start
        return Result(packets: source.packetsRead, events: events, frames: frames, seconds: seconds)
    }

    static func measure(pcaps: String, packets target: Int, into report: Report) throws {
        let (files, names) = try load(directory: pcaps)
        let perCopy = files.reduce(0) { $0 + $1.count }
        guard perCopy > 0 else { throw BenchError("no Ethernet captures in \(pcaps)") }
        let copies = max(1, (target + perCopy - 1) / perCopy)
        let path = "/tmp/dps-bench-\(getpid()).pcap"
        defer { unlink(path) }
        log("offline: building \(path): \(names.count) Ethernet captures × \(copies) copies")
        let written = try build(path: path, files: files, copies: copies)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        log("offline: \(written) packets, \(size / 1_000_000) MB; reading it twice (the first warms the page cache)")
        _ = try run(path: path)
        let r = try run(path: path)
        report.add(Figure("offline.packets", "offline: packets in the built capture", Double(r.packets), "pkt"))
        report.add(Figure("offline.packets_per_s", "offline: pcap read+parse+table+encode",
                          Double(r.packets) / r.seconds, "pkt/s", atLeast: 2_000_000))
        report.add(Figure("offline.frames", "offline: frames emitted", Double(r.frames), "frames"))
    }
}
