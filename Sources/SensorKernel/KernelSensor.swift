import CLibbpf
import CSensorABI
import Logging
import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// The loaded BPF programs, attached to ingress (and egress) of each interface with tcx or TC
/// (`HookMode`), and the ring buffer they write to. Creating one attaches; `close()` (or deinit)
/// removes every hook it made.
public final class KernelSensor {
    /// Where our TC filters sit on the clsact hooks. Attaching with TC replaces a filter at the
    /// same place, which is how a hook left behind by a killed run is taken over and later removed;
    /// attaching with tcx removes such a filter first. The handle is "dp" in ASCII (0x64 0x70):
    /// any fixed value works, as long as no other tool picks the same one at priority 1; a
    /// readable one stands out in `tc filter show dev IF ingress` (`handle 0x6470`).
    public static let tcHandle: UInt32 = 0x6470
    public static let tcPriority: UInt32 = 1

    public struct Interface: Sendable, Equatable {
        public var name: String
        public var index: UInt32
    }

    public let interfaces: [Interface]
    /// How the hooks are attached: `.tcx` or `.tc`, never `.auto`.
    public private(set) var mode: HookMode
    private let logger: Logger
    private var object: OpaquePointer?
    private var ring: UnsafeMutablePointer<CLibbpf_ring>?
    private var countersFD: Int32 = -1
    private var filterMaps: FilterMaps?
    private var attached: [(ifindex: Int32, egress: Bool)] = []
    private var links: [Int32] = []
    private var createdClsact: [Int32] = []
    private var locks: [InterfaceLock] = []
    private var objectBytes: [UInt8]
    private let reader: RecordReader
    private var loggedRingError = false

    /// Resolves the interfaces, checks the kernel, loads the programs, sets `filter` and attaches
    /// them. Throws with nothing left attached when any step fails. `floor` is the datapath
    /// benchmark's alone: programs that record nothing.
    public init(
        interfaces names: [String], egress: Bool, ringBytes: UInt32, attach requested: HookMode, filter: PacketFilter,
        floor: DatapathFloor? = nil, logger: Logger, onPacket: @escaping (PacketEvent, UnsafeRawBufferPointer) -> Void
    ) throws {
        self.logger = logger
        mode = requested
        var resolved: [Interface] = []
        for name in names {
            let index = if_nametoindex(name)
            guard index != 0 else { throw KernelError(.noSuchInterface, "no such network interface: \(name)") }
            resolved.append(Interface(name: name, index: index))
        }
        guard !resolved.isEmpty else { throw KernelError(.noSuchInterface, "no interface given (--interface IF)") }
        interfaces = resolved
        objectBytes = EmbeddedBPF.object
        reader = RecordReader(clock: MonotonicToWall(), onPacket: onPacket)
        KernelSensor.routeLibbpfLog(logger)

        let missing = Capabilities.missing()
        guard missing.isEmpty else {
            throw KernelError(
                .permission,
                "missing capabilities \(missing.joined(separator: ", ")): dps needs CAP_BPF, "
                    + "CAP_NET_ADMIN and CAP_PERFMON (run it as root or grant those capabilities)")
        }
        try Self.probeRingBuffer()

        do {
            for interface in resolved {
                locks.append(try InterfaceLock(interface: interface.name, index: interface.index))
            }
            try load(ringBytes: ringBytes, floor: floor)
            try setFilter(filter)
            for interface in resolved {
                try attach(Int32(interface.index), name: interface.name, egress: egress)
            }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Creates (and closes) a one-page ring buffer, the first `bpf()` call dps makes, so that what
    /// the kernel says is reported as it is: EINVAL is a kernel without ring buffers, EPERM a
    /// refusal (libbpf's own probe reports both as "not supported").
    static func probeRingBuffer() throws {
        let fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, nil, 0, 0, UInt32(sysconf(Int32(_SC_PAGESIZE))), nil)
        guard fd < 0 else {
            Glibc.close(fd)
            return
        }
        switch -fd {
        case EINVAL:
            throw KernelError(.unsupported, "this kernel has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF, Linux 5.8+)")
        case EPERM, EACCES:
            throw KernelError(
                .permission,
                "creating a BPF ring buffer: the kernel refused the bpf() system call: "
                    + "\(String(cString: strerror(-fd))) (errno \(-fd)): permission denied: a seccomp filter "
                    + "(systemd's SystemCallFilter=, a container's profile) or missing CAP_BPF?",
                reported: -fd)
        default:
            throw KernelError(.system, "creating a BPF ring buffer", errno: fd)
        }
    }

    private func load(ringBytes: UInt32, floor: DatapathFloor?) throws {
        let opened = objectBytes.withUnsafeBytes { bpf_object__open_mem($0.baseAddress, $0.count, nil) }
        guard let opened else { throw KernelError(.bpfObject, "opening the embedded BPF object", errno: errno) }
        object = opened
        guard let events = bpf_object__find_map_by_name(opened, "events"),
            let counters = bpf_object__find_map_by_name(opened, "counters")
        else { throw KernelError(.bpfObject, "the embedded BPF object lacks its maps") }
        let err = bpf_map__set_max_entries(events, ringBytes)
        if err < 0 { throw KernelError(.bpfObject, "ring buffer size \(ringBytes)", errno: err) }
        if let floor { try setProgramPath(opened, floor.pathValue) }
        let loaded = bpf_object__load(opened)
        if loaded < 0 { throw KernelError(.load, "loading the BPF programs", errno: loaded) }
        countersFD = bpf_map__fd(counters)
        filterMaps = try FilterMaps(object: opened)
        let context = Unmanaged.passUnretained(reader).toOpaque()
        guard let ring = CLibbpf_ring_new(bpf_map__fd(events), RecordReader.callback, context)
        else { throw KernelError(.system, "opening the ring buffer", errno: errno) }
        self.ring = ring
    }

    private func attach(_ ifindex: Int32, name: String, egress: Bool) throws {
        var hasClsact = false
        for (program, isEgress) in [("tc_ingress", false), ("tc_egress", true)] {
            let hook = isEgress ? "egress" : "ingress"
            let point: Int32 = isEgress ? 1 : 0
            let stale = CLibbpf_tc_query(ifindex, point, Self.tcHandle, Self.tcPriority)
            let wanted = !isEgress || egress
            // A filter left by a killed run would go on filling a ring nobody reads: TC takes it
            // over by replacing it; anywhere else it is removed.
            if stale > 0, mode != .tc || !wanted {
                logger.notice(
                    "removing a dps TC hook left by an earlier (killed) run",
                    metadata: ["iface": "\(name)", "hook": "\(hook)"])
                let err = CLibbpf_tc_detach(ifindex, point, Self.tcHandle, Self.tcPriority)
                if err < 0, err != -ENOENT {
                    throw KernelError(.attach, "removing the stale TC hook on \(hook) of \(name)", errno: err)
                }
            }
            guard wanted else { continue }
            guard let prog = bpf_object__find_program_by_name(object, program) else {
                throw KernelError(.bpfObject, "the embedded BPF object lacks \(program)")
            }
            if mode != .tc {
                let link = CLibbpf_tcx_attach(ifindex, point, bpf_program__fd(prog))
                if link >= 0 {
                    links.append(link)
                    mode = .tcx
                    continue
                }
                // Only "no such attach type" means no tcx; any other error is an error.
                guard mode == .auto, link == -EINVAL else {
                    throw KernelError(
                        .attach, "attaching with tcx to \(hook) of \(name) (tcx needs Linux 6.6)", errno: link)
                }
                logger.info("the kernel has no tcx (Linux 6.6+): attaching with TC", metadata: ["errno": "\(-link)"])
                mode = .tc
            } else if stale > 0 {
                logger.notice(
                    "replacing a dps hook left by an earlier (killed) run",
                    metadata: ["iface": "\(name)", "hook": "\(hook)"])
            }
            if !hasClsact {
                let created = CLibbpf_tc_clsact_create(ifindex)
                if created < 0 { throw KernelError(.attach, "creating the clsact qdisc on \(name)", errno: created) }
                if created == 1 { createdClsact.append(ifindex) }
                hasClsact = true
            }
            let err = CLibbpf_tc_attach(ifindex, point, bpf_program__fd(prog), Self.tcHandle, Self.tcPriority)
            if err < 0 {
                throw KernelError(.attach, "attaching to \(hook) of \(name)", errno: err)
            }
            attached.append((ifindex, isEgress))
        }
    }

    /// Removes the hooks this sensor attached (and the clsact qdiscs it created); the ring buffer
    /// stays readable, so what is in it can still be drained. Idempotent.
    public func detachHooks() {
        for link in links { Glibc.close(link) }
        links.removeAll()
        for hook in attached {
            let err = CLibbpf_tc_detach(hook.ifindex, hook.egress ? 1 : 0, Self.tcHandle, Self.tcPriority)
            if err < 0, err != -ENOENT, err != -ENODEV {
                logger.warning("detaching a TC hook failed", metadata: ["errno": "\(-err)"])
            }
        }
        attached.removeAll()
        for ifindex in createdClsact { _ = CLibbpf_tc_clsact_destroy(ifindex) }
        createdClsact.removeAll()
    }

    /// Detaches and frees everything. Idempotent.
    public func close() {
        detachHooks()
        for lock in locks { lock.release() }
        locks.removeAll()
        CLibbpf_ring_free(ring)
        ring = nil
        if let object { bpf_object__close(object) }
        object = nil
    }

    /// Delivers waiting records to `onPacket`, waiting up to `timeoutMilliseconds` for a wakeup,
    /// and at most `batchLimit` of them, so the caller gets control back under any load.
    /// Returns how many were delivered.
    ///
    /// The BPF program wakes the consumer only when the ring passes a fill level (batched
    /// wakeups, see bpf/dps.bpf.c), so below that level records wait for the timeout: after
    /// the wait, whatever is in the ring is read, wakeup or not. No record waits longer than
    /// `timeoutMilliseconds`. After a batch that hit its limit the next one does not wait.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32) -> Int {
        guard let ring else { return 0 }
        let wait = reader.exhausted ? 0 : timeoutMilliseconds
        reader.startBatch(budget: Self.batchLimit)
        check(Int(CLibbpf_ring_wait(ring, wait)), "epoll_wait on the ring buffer")
        check(CLibbpf_ring_consume(ring), "reading the ring buffer")
        return reader.delivered
    }

    /// Delivers every record already in the ring buffer without waiting (at shutdown, after the
    /// hooks are gone, so the ring only empties).
    @discardableResult
    public func drain() -> Int {
        guard let ring else { return 0 }
        var total = 0
        repeat {
            reader.startBatch(budget: Self.batchLimit)
            check(CLibbpf_ring_consume(ring), "reading the ring buffer")
            total += reader.delivered
        } while reader.exhausted
        return total
    }

    /// Records per batch: about a millisecond of work.
    public static let batchLimit = 4096

    /// The ring's return: a count, our budget signal, or -errno (logged once; EINTR is normal).
    private func check(_ result: Int, _ operation: String) {
        guard result < 0, result != Int(RecordReader.budgetExhausted), result != Int(-EINTR) else { return }
        if !loggedRingError {
            loggedRingError = true
            logger.error("\(operation) failed", metadata: ["errno": "\(-result)"])
        }
        usleep(100_000)  // a persistent error must not spin a core
    }

    /// The BPF program's counters, summed over CPUs.
    public func counters() -> KernelCounters { KernelCounters(mapFD: countersFD) }

    /// Replaces the include/exclude rules the programs apply, without detaching them: packets
    /// meet the old rules or the new, never a mix. Not thread-safe: one caller at a time.
    public func setFilter(_ filter: PacketFilter) throws(KernelError) {
        guard let filterMaps else { throw KernelError(.bpfObject, "the BPF programs are not loaded") }
        try filterMaps.apply(filter)
    }

    /// Wall-clock now, in the same nanoseconds as the events' timestamps.
    public func now() -> Int64 { reader.clock.now() }

    /// libbpf's warnings go to our log at debug level (it warns of things we handle, like a
    /// missing qdisc); its info and debug lines are dropped.
    private static func routeLibbpfLog(_ logger: Logger) {
        libbpfLogger = logger
        libbpf_set_print { level, format, arguments in
            guard level == LIBBPF_WARN, let format, let arguments, let logger = libbpfLogger else {
                return 0
            }
            var line = [CChar](repeating: 0, count: 65536)
            _ = vsnprintf(&line, line.count, format, arguments)
            var text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            while text.last == "\n" { text.removeLast() }
            logger.debug("libbpf: \(text)")
            return 0
        }
    }
}

nonisolated(unsafe) private var libbpfLogger: Logger?

/// Counters read from the BPF program's per-CPU array.
public struct KernelCounters: Sendable, Equatable {
    /// Packets that got no record because the ring buffer was full.
    public var ringBufferFull: UInt64 = 0
    /// Packets that got a record, on either path.
    public var packets: UInt64 = 0
    /// Of those, the packets the program's fast path recorded (plain TCP/UDP over IP).
    public var fastPath: UInt64 = 0
    /// Frames that are not IPv4/IPv6 (ARP, ...): no record by design.
    public var notIP: UInt64 = 0
    /// IP packets whose header was cut short or invalid: no record.
    public var malformed: UInt64 = 0
    /// Packets the filter left out: an exclude rule matched, or no include rule did.
    public var excluded: UInt64 = 0
    public var notIncluded: UInt64 = 0
    /// Tunnel packets whose inner packet could not be read: recorded as their outer packet.
    public var tunnelOuter: UInt64 = 0

    public init() {}

    /// Reads the per-CPU array `counters` (map fd), summed over CPUs; zeros if it cannot be read.
    init(mapFD: Int32) {
        let cpus = Int(libbpf_num_possible_cpus())
        guard mapFD >= 0, cpus > 0 else { return }
        var values = [UInt64](repeating: 0, count: cpus)
        func read(_ index: Int32) -> UInt64 {
            var key = UInt32(index)
            guard bpf_map_lookup_elem(mapFD, &key, &values) == 0 else { return 0 }
            return values.reduce(0, &+)
        }
        ringBufferFull = read(DPS_CTR_RINGBUF_FULL)
        fastPath = read(DPS_CTR_FAST_PATH)
        packets = read(DPS_CTR_PACKETS) + fastPath
        notIP = read(DPS_CTR_NOT_IP)
        malformed = read(DPS_CTR_MALFORMED)
        excluded = read(DPS_CTR_FILTER_EXCLUDED)
        notIncluded = read(DPS_CTR_FILTER_NOT_INCLUDED)
        tunnelOuter = read(DPS_CTR_TUNNEL_OUTER)
    }
}

