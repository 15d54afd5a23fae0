import Prometheus
import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's counters for Prometheus (`--metrics-listen`): what the stats line says, named as
/// Prometheus names things. The capture thread publishes its counters here once per loop turn
/// (at most every 100 ms) and once more after the final drain; nothing is added to the
/// per-packet path. A scrape reads the process's own facts, then renders the registry
/// (swift-prometheus: HELP and TYPE for every family).
public final class DaemonMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    // The counters the capture thread owns, mirrored: Prometheus counters only go up, by the
    // difference from the value last published.
    private let packets: Counter
    private let trailing: Counter
    private let flows: Counter
    private let ringBufferDrops: Counter
    private let notIP: Counter
    private let malformed: Counter
    private let excluded: Counter
    private let notIncluded: Counter
    private let tunnelOuter: Counter
    private let framesByReason: [Counter]
    private let framesWritten: Counter
    private let flowsOpen: Gauge
    private let interfaces: Gauge
    private let frameDelay: ValueHistogram
    private let process: ProcessMetrics
    /// The frame output's own counters (`FrameSink.statistics`), by key, made on first sight.
    private let sinkMetrics = SinkMetrics()
    /// The values last published, by counter; touched by the capture thread only.
    private let published = PublishedValues()

    /// `version` goes into `dps_build_info`; `ringBytes` into `dps_ringbuf_size_bytes`.
    public init(version: String, ringBytes: Int) {
        let r = registry
        packets = r.counter(
            "dps_packets_total", help: "Packets read from the kernel's ring buffer into the flow table.")
        trailing = r.counter(
            "dps_trailing_packets_total",
            help: "Packets without payload or RST of TCP connections whose frame was already out "
                + "(final ACKs, bare FINs): absorbed, in no frame.")
        flows = r.counter("dps_flows_total", help: "Flows started.")
        ringBufferDrops = r.counter(
            "dps_ringbuf_drops_total",
            help: "Packets the BPF program could not record because the ring buffer was full: lost.")
        notIP = r.counter(
            "dps_not_ip_packets_total", help: "Frames that are not IPv4 or IPv6 (ARP, LLDP...): no record.")
        malformed = r.counter(
            "dps_malformed_packets_total",
            help: "IP packets whose header is cut short or invalid (an IP length beyond the packet included): "
                + "no record.")
        let filteredHelp = "Packets the include/exclude rules left out, in the kernel before a record: no record."
        excluded = r.counter("dps_filtered_packets_total", labels: [("reason", "excluded")], help: filteredHelp)
        notIncluded = r.counter(
            "dps_filtered_packets_total", labels: [("reason", "not_included")], help: filteredHelp)
        tunnelOuter = r.counter(
            "dps_tunnel_outer_packets_total",
            help: "Tunnel packets (IPIP, 6in4, GRE, ERSPAN, VXLAN, Geneve, GTP-U, CAPWAP) whose inner packet "
                + "could not be read: recorded as their outer packet.")
        framesByReason = EndReason.allCases.map { reason in
            r.counter(
                "dps_frames_total", labels: [("reason", reason.rawValue)],
                help: "FlowFrames emitted, by why the flow (or its period) ended.")
        }
        framesWritten = r.counter(
            "dps_frames_written_total", help: "FlowFrames the output accepted (Kronos: sent whole).")
        flowsOpen = r.gauge("dps_flows_open", help: "Flows held in the flow table now.")
        interfaces = r.gauge(
            "dps_interfaces_capturing", help: "Interfaces still captured (one that disappears is lost).")
        r.gauge("dps_ringbuf_size_bytes", help: "Size of the ring buffer between the kernel and dps.")
            .set(to: Double(ringBytes))
        r.gauge("dps_build_info", labels: [("version", version)], help: "The dps build running; always 1."
        ).set(to: 1)
        frameDelay = r.histogram("dps_frame_delay_seconds",
            buckets: [0.05, 0.1, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300],
            help: "Seconds from a frame's last packet to the frame reaching the output (idle frames wait "
                + "the idle timeout).")
        process = ProcessMetrics(registry: r)
    }

    /// What the capture thread publishes.
    public struct Snapshot: Sendable {
        public var flowTable: FlowTableStats
        public var flowsOpen: Int
        /// The BPF program's counters: ring-buffer drops, not IP, malformed.
        public var ringBufferDrops: UInt64
        public var notIP: UInt64
        public var malformed: UInt64
        /// The filter's counters: an exclude rule matched; include rules and none matched.
        public var excluded: UInt64
        public var notIncluded: UInt64
        /// Tunnel packets recorded as their outer packet.
        public var tunnelOuter: UInt64
        public var framesWritten: UInt64
        public var sink: [(key: String, value: UInt64)]
        public var interfaces: Int

        public init(
            flowTable: FlowTableStats, flowsOpen: Int, ringBufferDrops: UInt64, notIP: UInt64, malformed: UInt64,
            excluded: UInt64, notIncluded: UInt64, framesWritten: UInt64, sink: [(key: String, value: UInt64)],
            interfaces: Int, tunnelOuter: UInt64 = 0
        ) {
            self.flowTable = flowTable
            self.flowsOpen = flowsOpen
            self.ringBufferDrops = ringBufferDrops
            self.notIP = notIP
            self.malformed = malformed
            self.excluded = excluded
            self.notIncluded = notIncluded
            self.tunnelOuter = tunnelOuter
            self.framesWritten = framesWritten
            self.sink = sink
            self.interfaces = interfaces
        }
    }

    /// Publishes the capture thread's counters. Call from one thread only (the capture loop).
    public func publish(_ snapshot: Snapshot) {
        published.advance(packets, to: snapshot.flowTable.packets)
        published.advance(trailing, to: snapshot.flowTable.trailingPackets)
        published.advance(flows, to: snapshot.flowTable.flowsCreated)
        published.advance(ringBufferDrops, to: snapshot.ringBufferDrops)
        published.advance(notIP, to: snapshot.notIP)
        published.advance(malformed, to: snapshot.malformed)
        published.advance(excluded, to: snapshot.excluded)
        published.advance(notIncluded, to: snapshot.notIncluded)
        published.advance(tunnelOuter, to: snapshot.tunnelOuter)
        for (counter, value) in zip(framesByReason, snapshot.flowTable.framesByReason) {
            published.advance(counter, to: value)
        }
        published.advance(framesWritten, to: snapshot.framesWritten)
        flowsOpen.set(to: Double(snapshot.flowsOpen))
        interfaces.set(to: Double(snapshot.interfaces))
        for (key, value) in snapshot.sink {
            switch sinkMetrics.metric(for: key, in: registry) {
            case .counter(let counter): published.advance(counter, to: value)
            case .gauge(let gauge): gauge.set(to: Double(value))
            }
        }
    }

    /// Records one frame's delay: from its last packet (`lastSeen`, µs since the epoch) to now.
    /// Once per frame, on the capture thread.
    public func frameEmitted(_ frame: FlowFrame) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let microseconds = Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
        frameDelay.record(Double(max(0, microseconds - frame.lastSeen)) / 1e6)
    }

    /// The exposition text: the process's facts read now, then every family.
    public func render() -> [UInt8] {
        process.update()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(8192)
        registry.emit(into: &buffer)
        return buffer
    }
}
