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
}
