import CLibbpf
import CSensorABI
import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// Turns ring-buffer records into packet events. Runs on the thread that polls the ring buffer.
///
/// A batch has a budget: the ring's consumer (`CLibbpf_ring_consume`) keeps reading as long as
/// records keep arriving, so without one a sustained flood would never hand control back to the
/// capture loop (no expiry, no flush, no shutdown). After `budget` records the callback returns
/// `budgetExhausted`, which makes the consumer stop (that record is consumed).
final class RecordReader {
    static let budgetExhausted: Int32 = -10_000

    let clock: MonotonicToWall
    private let onPacket: (PacketEvent, UnsafeRawBufferPointer) -> Void
    /// Records shorter than the layout (never expected): counted, not decoded.
    private(set) var shortRecords: UInt64 = 0
    /// Records delivered in the current batch, and how many it may hold.
    private(set) var delivered = 0
    private var budget = Int.max

    init(clock: MonotonicToWall, onPacket: @escaping (PacketEvent, UnsafeRawBufferPointer) -> Void) {
        self.clock = clock
        self.onPacket = onPacket
    }

    var exhausted: Bool { delivered >= budget }

    func startBatch(budget: Int) {
        delivered = 0
        self.budget = budget
    }

    static let callback: ring_buffer_sample_fn = { context, data, size in
        guard let context, let data else { return 0 }
        // The sensor owns the reader for as long as the consumer may call back: borrowed, no
        // retain/release per record (they were 8% of the daemon's CPU under a flood).
        return Unmanaged<RecordReader>.fromOpaque(context)._withUnsafeGuaranteedRef { reader in
            reader.handle(UnsafeRawBufferPointer(start: data, count: size))
            return reader.exhausted ? RecordReader.budgetExhausted : 0
        }
    }

    func handle(_ raw: UnsafeRawBufferPointer) {
        delivered += 1
        guard raw.count >= MemoryLayout<dps_packet_record>.size else {
            shortRecords &+= 1
            return
        }
        onPacket(RecordDecoder.event(raw, clock: clock), RecordDecoder.snapshot(raw))
    }
}
