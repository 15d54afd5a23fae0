import CLibbpf
import CSensorABI
import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// Turns ring-buffer records into packet events. Runs on the thread that polls the ring buffer.
final class RecordReader {
    let clock: MonotonicToWall
    private let onPacket: (PacketEvent, UnsafeRawBufferPointer) -> Void
    /// Records shorter than the layout (never expected): counted, not decoded.
    private(set) var shortRecords: UInt64 = 0

    init(clock: MonotonicToWall, onPacket: @escaping (PacketEvent, UnsafeRawBufferPointer) -> Void) {
        self.clock = clock
        self.onPacket = onPacket
    }

    static let callback: ring_buffer_sample_fn = { context, data, size in
        guard let context, let data else { return 0 }
        let reader = Unmanaged<RecordReader>.fromOpaque(context).takeUnretainedValue()
        reader.handle(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }

    func handle(_ raw: UnsafeRawBufferPointer) {
        guard raw.count >= MemoryLayout<dps_packet_record>.size else {
            shortRecords &+= 1
            return
        }
        let (event, snapshot) = RecordReader.decode(raw, clock: clock)
        onPacket(event, snapshot)
    }

    /// Decodes one record; the snapshot points into `raw`.
    static func decode(_ raw: UnsafeRawBufferPointer, clock: MonotonicToWall) -> (PacketEvent, UnsafeRawBufferPointer) {
        let record = raw.baseAddress!.assumingMemoryBound(to: dps_packet_record.self)
        let isIPv6 = record.pointee.ip_version == 6
        let addressBytes = isIPv6 ? 16 : 4
        let source = IPAddress(bytes: UnsafeRawBufferPointer(start: raw.baseAddress! + Layout.source, count: addressBytes))
        let destination = IPAddress(
            bytes: UnsafeRawBufferPointer(start: raw.baseAddress! + Layout.destination, count: addressBytes))
        let snapLength = min(Int(record.pointee.snap_len), Int(DPS_SNAPSHOT_MAX))
        let event = PacketEvent(
            timestamp: clock.wall(monotonic: record.pointee.timestamp_ns),
            interface: record.pointee.ifindex,
            source: source,
            destination: destination,
            sourcePort: record.pointee.src_port,
            destinationPort: record.pointee.dst_port,
            transport: record.pointee.l4_proto,
            tcpFlags: TCPFlags(rawValue: record.pointee.tcp_flags),
            payloadLength: record.pointee.payload_len)
        return (event, UnsafeRawBufferPointer(start: raw.baseAddress! + Layout.payload, count: snapLength))
    }

    enum Layout {
        static let source = MemoryLayout<dps_packet_record>.offset(of: \.src_addr)!
        static let destination = MemoryLayout<dps_packet_record>.offset(of: \.dst_addr)!
        static let payload = MemoryLayout<dps_packet_record>.offset(of: \.payload)!
    }
}

/// Maps CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns) to wall-clock nanoseconds, with the offset
/// taken once at start so that event times never jump with NTP steps.
struct MonotonicToWall: Sendable {
    let offset: Int64

    init() {
        offset = MonotonicToWall.read(CLOCK_REALTIME) - MonotonicToWall.read(CLOCK_MONOTONIC)
    }

    func wall(monotonic: UInt64) -> Int64 { Int64(bitPattern: monotonic) &+ offset }

    func now() -> Int64 { MonotonicToWall.read(CLOCK_MONOTONIC) &+ offset }

    static func read(_ clock: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
