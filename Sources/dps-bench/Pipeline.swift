import Foundation
import SensorCore
import SensorKernel

/// Measure 4: the user-space hot path alone, on one core. Synthetic ring-buffer records (the
/// exact `dps_packet_record` layout) go through `RecordDecoder.event`/`.snapshot` (what `RecordReader` runs
/// per record) → `FlowTable.ingest`, and every emitted frame through `FrameEncoder` (extended)
/// into a reused buffer.
///
/// Traffic: UDP conversations of 8 packets (request/response alternating, 100 and 200 payload
/// bytes, each with its snapshot as in the ring), 8192 conversations interleaved per block of 65536
/// records, 1 µs apart; idle timeout 0.1 s (100k records), so about 12k flows are open at once
/// and every flow ends (idle) and is encoded. `advance(to:)` runs every 4096 records, as after a
/// ring-buffer poll.
enum PipelineBench {
    struct Result {
        var records: Int
        var seconds: Double
        var cpuSeconds: Double
        var frames: UInt64
        var bytes: UInt64
    }

    static let block = 65536
    static let perFlow = 8

    /// Offsets of `struct dps_packet_record` (Sources/CSensorABI/include/dps_record.h, whose
    /// layout both compilers assert).
    enum Offset {
        static let timestamp = 0, ifindex = 8, payloadLength = 12, source = 16, destination = 32
        static let sourcePort = 48, destinationPort = 50, direction = 52, ipVersion = 53, transport = 54
        static let snapLength = 56, payload = 64
        static let size = 192
    }

    static func makeBlock() -> [UInt8] {
        let size = Offset.size
        var buffer = [UInt8](repeating: 0, count: block * size)
        buffer.withUnsafeMutableBytes { raw in
            for j in 0..<block {
                let r = UnsafeMutableRawBufferPointer(rebasing: raw[(j * size)..<((j + 1) * size)])
                let flow = j / perFlow
                let k = j % perFlow
                let fromClient = k % 2 == 0
                let client: [UInt8] = [198, 51, 100, UInt8(1 + flow % 200)]
                let server: [UInt8] = [203, 0, 113, 7]
                let clientPort = UInt16(20000 + flow / 200)
                r.storeBytes(of: UInt32(2), toByteOffset: Offset.ifindex, as: UInt32.self)
                r[Offset.ipVersion] = 4
                r[Offset.transport] = 17
                r[Offset.direction] = fromClient ? 0 : 1
                for i in 0..<4 {
                    r[Offset.source + i] = fromClient ? client[i] : server[i]
                    r[Offset.destination + i] = fromClient ? server[i] : client[i]
                }
                r.storeBytes(of: fromClient ? clientPort : 53, toByteOffset: Offset.sourcePort, as: UInt16.self)
                r.storeBytes(of: fromClient ? 53 : clientPort, toByteOffset: Offset.destinationPort, as: UInt16.self)
                let length: UInt32 = fromClient ? 100 : 200
                r.storeBytes(of: length, toByteOffset: Offset.payloadLength, as: UInt32.self)
                let snap = min(Int(length), 128)
                r.storeBytes(of: UInt16(snap), toByteOffset: Offset.snapLength, as: UInt16.self)
                for i in 0..<snap { r[Offset.payload + i] = UInt8(truncatingIfNeeded: 0x41 + (i + k) % 26) }
            }
        }
        return buffer
    }

    static func run(records total: Int) -> Result {
        var buffer = makeBlock()
        let size = Offset.size
        let clock = MonotonicToWall()
        let encoder = FrameEncoder(extended: true)
        var out: [UInt8] = []
        out.reserveCapacity(1 << 17)
        var frames: UInt64 = 0
        var bytes: UInt64 = 0
        let table = FlowTable(
            configuration: FlowTableConfiguration(
                idleTimeout: 100_000_000, activeTimeout: 60_000_000_000, maxFlows: 262_144),
            interfaceName: { _ in "bench0" },
            emit: { frame in
                encoder.encode(frame, into: &out)
                out.append(10)
                frames &+= 1
                if out.count >= 1 << 16 {
                    bytes &+= UInt64(out.count)
                    out.removeAll(keepingCapacity: true)
                }
            })
        let baseTime: UInt64 = 1_000_000_000
        var lastWall: Int64 = 0
        let start = monotonicSeconds()
        let cpuStart = threadCPUSeconds()
        buffer.withUnsafeMutableBytes { raw in
            for i in 0..<total {
                let j = i % block
                let generation = i / block
                let base = raw.baseAddress! + j * size
                // New conversations each block: the server port carries the block number.
                base.storeBytes(of: baseTime &+ UInt64(i) &* 1000, toByteOffset: Offset.timestamp, as: UInt64.self)
                let serverPort = UInt16(1024 + generation % 60000)
                let fromClient = base.load(fromByteOffset: Offset.direction, as: UInt8.self) == 0
                base.storeBytes(
                    of: serverPort, toByteOffset: fromClient ? Offset.destinationPort : Offset.sourcePort,
                    as: UInt16.self)
                let raw = UnsafeRawBufferPointer(start: base, count: size)
                table.ingest(RecordDecoder.event(raw, clock: clock), snapshot: RecordDecoder.snapshot(raw))
                lastWall = clock.wall(monotonic: raw.load(fromByteOffset: Offset.timestamp, as: UInt64.self))
                if i & 4095 == 4095 { table.advance(to: lastWall) }
            }
        }
        table.advance(to: lastWall)
        table.drain()
        bytes &+= UInt64(out.count)
        let seconds = monotonicSeconds() - start
        let cpuSeconds = threadCPUSeconds() - cpuStart
        return Result(records: total, seconds: seconds, cpuSeconds: cpuSeconds, frames: frames, bytes: bytes)
    }

    static func measure(records: Int, rounds: Int, into report: Report) {
        log("pipeline: \(records) synthetic records → decode → flow table → encoder, \(rounds) rounds")
        _ = run(records: min(records, 200_000))  // warm-up
        let results = (0..<rounds).map { _ in run(records: records) }
        let rates = results.map { Double($0.records) / $0.seconds }
        log("pipeline: \(rates.map { String(Int($0)) }.joined(separator: ", ")) rec/s")
        report.add(Figure("pipeline.records_per_s", "pipeline: records/s (1 core, median of \(rounds))",
                          median(rates), "rec/s", atLeast: 5_000_000))
        report.add(Figure("pipeline.records_per_cpu_s", "pipeline: records per CPU-second of its thread",
                          median(results.map { Double($0.records) / $0.cpuSeconds }), "rec/s"))
        let r = results[0]
        report.add(Figure("pipeline.frames", "pipeline: frames encoded (per round)", Double(r.frames), "frames"))
        let expected = UInt64(r.records / perFlow)
        if r.frames != expected {
            report.note("pipeline emitted \(r.frames) frames, expected \(expected)")
        }
    }
}
