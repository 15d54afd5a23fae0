import CLibbpf
import CSensorABI
import SensorCore

#if canImport(Glibc)
    import Glibc
#endif

/// The embedded BPF program, loaded but attached nowhere, run on single frames with
/// `bpf_prog_test_run_opts`: what the kernel side makes of a given packet. Used by the
/// differential test against `PacketParser`. Needs CAP_BPF (root).
public final class ProgramTestRun {
    /// What `tc_ingress` did with one frame.
    public enum Outcome: Equatable, Sendable {
        /// It wrote a record: the decoded event (timestamp and interface are the test run's, not
        /// meaningful), the snapshot bytes, and the record's `DPS_F_*` flags.
        case record(PacketEvent, snapshot: [UInt8], flags: UInt8)
        /// It counted the frame as not IPv4/IPv6 (`DPS_CTR_NOT_IP`).
        case notIP
        /// It counted the frame as a malformed IP packet (`DPS_CTR_MALFORMED`).
        case malformed
        /// The filter left it out (`DPS_CTR_FILTER_EXCLUDED` or `DPS_CTR_FILTER_NOT_INCLUDED`).
        case filtered(PacketFilter.Verdict)
        /// The kernel refused to run the program on this frame (`-errno` of the test run): the
        /// test-run harness itself wants at least an Ethernet header, and for an IPv4/IPv6
        /// EtherType at least that IP header; and the frame must fit in a page.
        case refused(errno: Int32)
    }

    private var object: OpaquePointer?
    private var ring: UnsafeMutablePointer<CLibbpf_ring>?
    private let programFD: Int32
    private let countersFD: Int32
    private let filterMaps: FilterMaps
    private let collector = Collector()
    private let objectBytes: [UInt8]

    /// Which way the program reads a packet (its `dps_path`, `DPS_PATH_*`).
    public enum Path: Sendable, CaseIterable {
        /// As attached: the fast path for plain TCP/UDP over IP, the general path for the rest.
        case attached
        /// The general path for every packet, headers read in place.
        case general
        /// The general path, every header read with `bpf_skb_load_bytes`: the path for headers
        /// outside the skb's linear part (test runs are always linear).
        case copy

        var value: UInt32 {
            switch self {
            case .attached: UInt32(DPS_PATH_ATTACHED)
            case .general: UInt32(DPS_PATH_GENERAL)
            case .copy: UInt32(DPS_PATH_COPY)
            }
        }
    }

    /// Loads the embedded object (both programs, a small ring buffer) without attaching it, to
    /// read packets by `path`, or stopped at `floor` (which then takes the place of `path`).
    public init(path: Path = .attached, floor: DatapathFloor? = nil) throws {
        objectBytes = EmbeddedBPF.object
        let opened = objectBytes.withUnsafeBytes { bpf_object__open_mem($0.baseAddress, $0.count, nil) }
        guard let opened else { throw KernelError(.bpfObject, "opening the embedded BPF object", errno: errno) }
        object = opened
        guard let events = bpf_object__find_map_by_name(opened, "events"),
            let counters = bpf_object__find_map_by_name(opened, "counters"),
            let program = bpf_object__find_program_by_name(opened, "tc_ingress")
        else {
            bpf_object__close(opened)
            throw KernelError(.bpfObject, "the embedded BPF object lacks its maps or tc_ingress")
        }
        _ = bpf_map__set_max_entries(events, 1 << 16)
        let value = floor?.pathValue ?? path.value
        if value != Path.attached.value {
            do {
                try setProgramPath(opened, value)
            } catch {
                bpf_object__close(opened)
                throw error
            }
        }
        let loaded = bpf_object__load(opened)
        if loaded < 0 {
            bpf_object__close(opened)
            throw KernelError(.load, "loading the BPF programs", errno: loaded)
        }
        programFD = bpf_program__fd(program)
        countersFD = bpf_map__fd(counters)
        do {
            filterMaps = try FilterMaps(object: opened)
        } catch {
            bpf_object__close(opened)
            throw error
        }
        let context = Unmanaged.passUnretained(collector).toOpaque()
        guard let ring = CLibbpf_ring_new(bpf_map__fd(events), Collector.callback, context) else {
            // Every stored property is set by now, so deinit runs after this throw: it closes
            // the object (closing it here too would close it twice).
            throw KernelError(.system, "opening the ring buffer", errno: errno)
        }
        self.ring = ring
    }

    deinit {
        CLibbpf_ring_free(ring)
        if let object { bpf_object__close(object) }
    }

    /// The record the last `run` wrote, as the ring held it but for the timestamp (zeroed) and the
    /// payload bytes past `snap_len` (cut): every byte the two paths must agree on. Nil when that
    /// run wrote none.
    public private(set) var lastRecord: [UInt8]?

    /// Runs `tc_ingress` on `frame` (an Ethernet frame; its length is the skb's length) and tells
    /// what it did, from the record it wrote or the counter it bumped.
    public func run(_ frame: UnsafeRawBufferPointer) throws -> Outcome {
        let before = counters()
        lastRecord = nil
        let err = try testRun(frame)
        if err < 0 { return .refused(errno: -err) }
        collector.records.removeAll(keepingCapacity: true)
        _ = CLibbpf_ring_consume(ring)
        let after = counters()
        if let raw = collector.records.first, collector.records.count == 1 {
            let snapOffset = MemoryLayout<dps_packet_record>.offset(of: \.snap_len)!
            let snapLength = raw.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: snapOffset, as: UInt16.self)) }
            var kept = Array(raw.prefix(MemoryLayout<dps_packet_record>.offset(of: \.payload)! + snapLength))
            kept.replaceSubrange(0..<MemoryLayout<UInt64>.size, with: repeatElement(0, count: MemoryLayout<UInt64>.size))
            lastRecord = kept
            guard after.packets == before.packets + 1 else {
                throw KernelError(.testRun, "a record without its packet counter")
            }
            let (event, snapshot) = raw.withUnsafeBytes { bytes in
                (RecordDecoder.event(bytes, clock: MonotonicToWall()), [UInt8](RecordDecoder.snapshot(bytes)))
            }
            let flags = raw[MemoryLayout<dps_packet_record>.offset(of: \.flags)!]
            return .record(event, snapshot: snapshot, flags: flags)
        }
        guard collector.records.isEmpty else {
            throw KernelError(.testRun, "one frame gave \(collector.records.count) records")
        }
        if after.notIP == before.notIP + 1 { return .notIP }
        if after.malformed == before.malformed + 1 { return .malformed }
        if after.excluded == before.excluded + 1 { return .filtered(.excluded) }
        if after.notIncluded == before.notIncluded + 1 { return .filtered(.notIncluded) }
        if after.ringBufferFull != before.ringBufferFull {
            throw KernelError(.testRun, "the test ring buffer was full")
        }
        throw KernelError(.testRun, "tc_ingress neither wrote a record nor counted the frame")
    }

    public func run(_ frame: [UInt8]) throws -> Outcome {
        try frame.withUnsafeBytes { try run($0) }
    }

    /// Sets the include/exclude rules the program applies (as `KernelSensor.setFilter`).
    public func setFilter(_ filter: PacketFilter) throws {
        try filterMaps.apply(filter)
    }

    /// The program's counters, summed over CPUs, since load.
    public func counters() -> KernelCounters { KernelCounters(mapFD: countersFD) }

    /// Runs `tc_ingress` on every frame first and reads the ring after, in reads of at most
    /// `perRead` records (the read stops there, as the capture's batch budget stops it). Returns
    /// each read's records as their source ports, in ring order: the consumer over many records at
    /// once, across the ring's wrap, resuming where a stopped read left off.
    public func runThenRead(_ frames: [[UInt8]], perRead: Int) throws -> [[UInt16]] {
        for frame in frames {
            let err = try frame.withUnsafeBytes { try testRun($0) }
            if err < 0 { throw KernelError(.testRun, "BPF_PROG_TEST_RUN", errno: err) }
        }
        var reads: [[UInt16]] = []
        collector.limit = perRead
        defer { collector.limit = .max }
        while true {
            collector.records.removeAll(keepingCapacity: true)
            _ = CLibbpf_ring_consume(ring)
            if collector.records.isEmpty { return reads }
            reads.append(collector.records.map { raw in
                raw.withUnsafeBytes { RecordDecoder.event($0, clock: MonotonicToWall()).sourcePort }
            })
        }
    }

    /// One BPF_PROG_TEST_RUN of `tc_ingress` on `frame`: 0, or -errno when the kernel refused the
    /// run; throws when the program returned anything but TC_ACT_UNSPEC.
    private func testRun(_ frame: UnsafeRawBufferPointer) throws -> Int32 {
        var verdict: Int32 = 0
        let err = CLibbpf_prog_test_run(programFD, frame.baseAddress, UInt32(frame.count), &verdict)
        if err < 0 { return err }
        guard verdict == TC_ACT_UNSPEC else {
            throw KernelError(.testRun, "tc_ingress returned \(verdict), not TC_ACT_UNSPEC")
        }
        return 0
    }

    /// Copies the records a consume delivers, stopping it after `limit`.
    private final class Collector {
        var records: [[UInt8]] = []
        var limit = Int.max

        static let callback: ring_buffer_sample_fn = { context, data, size in
            guard let context, let data else { return 0 }
            let collector = Unmanaged<Collector>.fromOpaque(context).takeUnretainedValue()
            collector.records.append([UInt8](UnsafeRawBufferPointer(start: data, count: size)))
            return collector.records.count >= collector.limit ? RecordReader.budgetExhausted : 0
        }
    }
}
