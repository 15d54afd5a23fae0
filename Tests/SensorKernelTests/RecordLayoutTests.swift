import CSensorABI
import Testing

/// The Swift side of the record layout asserts (the C side is `DPS_ASSERT_LAYOUT` in
/// dps_record.h, compiled into both the BPF object and CSensorABI).
@Suite("Record layout")
struct RecordLayoutTests {
    @Test("dps_packet_record has the size and offsets the BPF program writes")
    func layout() {
        typealias R = dps_packet_record
        #expect(MemoryLayout<R>.size == Int(DPS_RECORD_SIZE))
        #expect(MemoryLayout<R>.size == 232)
        #expect(MemoryLayout<R>.offset(of: \.timestamp_ns) == 0)
        #expect(MemoryLayout<R>.offset(of: \.ifindex) == 8)
        #expect(MemoryLayout<R>.offset(of: \.payload_len) == 12)
        #expect(MemoryLayout<R>.offset(of: \.src_addr) == 16)
        #expect(MemoryLayout<R>.offset(of: \.dst_addr) == 32)
        #expect(MemoryLayout<R>.offset(of: \.src_port) == 48)
        #expect(MemoryLayout<R>.offset(of: \.dst_port) == 50)
        #expect(MemoryLayout<R>.offset(of: \.direction) == 52)
        #expect(MemoryLayout<R>.offset(of: \.ip_version) == 53)
        #expect(MemoryLayout<R>.offset(of: \.l4_proto) == 54)
        #expect(MemoryLayout<R>.offset(of: \.tcp_flags) == 55)
        #expect(MemoryLayout<R>.offset(of: \.snap_len) == 56)
        #expect(MemoryLayout<R>.offset(of: \.flags) == 58)
        #expect(MemoryLayout<R>.offset(of: \.tunnel_type) == 59)
        #expect(MemoryLayout<R>.offset(of: \.vlan_id) == 60)
        #expect(MemoryLayout<R>.offset(of: \.outer_version) == 62)
        #expect(MemoryLayout<R>.offset(of: \.tunnel_flags) == 63)
        #expect(MemoryLayout<R>.offset(of: \.tunnel_id) == 64)
        #expect(MemoryLayout<R>.offset(of: \.outer_src) == 72)
        #expect(MemoryLayout<R>.offset(of: \.outer_dst) == 88)
        #expect(MemoryLayout<R>.offset(of: \.payload) == 104)
        #expect(Int(DPS_SNAPSHOT_MAX) == 128)
    }
}
