import CSensorABI
import SensorCore

#if canImport(Glibc)
import Glibc
#endif

// Kept apart from the files that import CLibbpf: these bodies may be inlined into other modules
// (cross-module optimization), and there they must not drag libbpf's headers in (its
// linux/bpf.h and libpcap's pcap/bpf.h both define `struct bpf_insn`).

/// Decodes ring-buffer records (`struct dps_packet_record`) into packet events.
public enum RecordDecoder {
    /// The record's packet event. Callers pass it straight on as an argument: returned with the
    /// snapshot in a tuple, the 129-byte event was copied twice per record (two memcpy calls, a
    /// tenth of the daemon's CPU under a flood).
    public static func event(_ raw: UnsafeRawBufferPointer, clock: MonotonicToWall) -> PacketEvent {
        let record = raw.baseAddress!.assumingMemoryBound(to: dps_packet_record.self)
        let isIPv6 = record.pointee.ip_version == 6
        let source = withUnsafeBytes(of: record.pointee.src_addr) { address($0, isIPv6: isIPv6) }
        let destination = withUnsafeBytes(of: record.pointee.dst_addr) { address($0, isIPv6: isIPv6) }
        return PacketEvent(
            timestamp: clock.wall(monotonic: record.pointee.timestamp_ns),
            interface: record.pointee.ifindex,
            source: source,
            destination: destination,
            sourcePort: record.pointee.src_port,
            destinationPort: record.pointee.dst_port,
            transport: record.pointee.l4_proto,
            tcpFlags: TCPFlags(rawValue: record.pointee.tcp_flags),
            payloadLength: record.pointee.payload_len,
            vlan: record.pointee.vlan_id,
            tunnel: record.pointee.tunnel_type == 0 ? nil : tunnel(record))
    }

    /// The record's payload snapshot, pointing into `raw`.
    @inline(__always)
    public static func snapshot(_ raw: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let length = raw.baseAddress!.assumingMemoryBound(to: dps_packet_record.self).pointee.snap_len
        return UnsafeRawBufferPointer(start: raw.baseAddress! + payloadOffset, count: min(Int(length), Int(DPS_SNAPSHOT_MAX)))
    }

    @inline(__always)
    static func address(_ bytes: UnsafeRawBufferPointer, isIPv6: Bool) -> IPAddress {
        isIPv6
            ? IPAddress(
                high: bytes.loadUnaligned(as: UInt64.self),
                low: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self), isIPv6: true)
            : IPAddress(high: UInt64(bytes.loadUnaligned(as: UInt32.self)), low: 0, isIPv6: false)
    }

    static func tunnel(_ record: UnsafePointer<dps_packet_record>) -> Tunnel? {
        guard let kind = Tunnel.Kind(rawValue: record.pointee.tunnel_type) else { return nil }
        let isIPv6 = record.pointee.outer_version == 6
        return Tunnel(
            kind: kind,
            outerSource: withUnsafeBytes(of: record.pointee.outer_src) { address($0, isIPv6: isIPv6) },
            outerDestination: withUnsafeBytes(of: record.pointee.outer_dst) { address($0, isIPv6: isIPv6) },
            id: record.pointee.tunnel_flags & UInt8(DPS_TUNNEL_F_ID) != 0 ? record.pointee.tunnel_id : nil)
    }

    /// The snapshot is the record's last field (the header's layout asserts say where); a
    /// constant, where `MemoryLayout.offset(of:)` would be a lookup per record.
    static var payloadOffset: Int { MemoryLayout<dps_packet_record>.size - Int(DPS_SNAPSHOT_MAX) }
}

/// Maps CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns) to wall-clock nanoseconds, with the offset
/// taken once at start so that event times never jump with NTP steps.
public struct MonotonicToWall: Sendable {
    public let offset: Int64

    public init() {
        offset = MonotonicToWall.read(CLOCK_REALTIME) - MonotonicToWall.read(CLOCK_MONOTONIC)
    }

    public func wall(monotonic: UInt64) -> Int64 { Int64(bitPattern: monotonic) &+ offset }

    public func now() -> Int64 { MonotonicToWall.read(CLOCK_MONOTONIC) &+ offset }

    static func read(_ clock: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
