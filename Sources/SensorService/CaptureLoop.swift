import Foundation
import Logging
import SensorCore
import SensorIO
import SensorKernel
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The live hot path, on one dedicated thread: ring buffer → packet events → flow table → sink.
/// Every 100 ms at most it advances the table's clock (idle, active and close expiry) and flushes
/// the sink. On stop: detach the hooks, drain the ring buffer, emit every open flow.
public final class CaptureLoop: @unchecked Sendable {
    // Confined to the capture thread once `run()` starts, but for the atomics.
    private let sensor: KernelSensor
    private let table: FlowTable
    private let sink: FrameSink
    private let drainTimeout: Double
    private let logger: Logger
    private let notifier: SystemdNotifier?
    private let metrics: DaemonMetrics?
    /// Called on the capture thread at most every `progressInterval` (a terminal's progress line).
    private let progress: ((CaptureProgress) -> Void)?
    private let stopRequested = Atomic<Bool>(false)
    /// Nanoseconds between stats lines; a SIGHUP reload may change it.
    private let statsNanoseconds: Atomic<Int64>
    /// Interfaces whose index no longer resolves to what was attached (logged once each).
    private var lostInterfaces = Set<String>()

    /// Most seconds between two `STATUS=` notifications (and interface checks).
    static let statusInterval: Int64 = 5_000_000_000
    /// Least time between two publications of the counters to the metrics.
    static let publishInterval: Int64 = 100_000_000
    static let progressInterval: Int64 = 500_000_000

    init(
        sensor: KernelSensor, table: FlowTable, sink: FrameSink, statsInterval: Double,
        drainTimeout: Double, logger: Logger, notifier: SystemdNotifier? = nil, metrics: DaemonMetrics? = nil,
        progress: ((CaptureProgress) -> Void)? = nil
    ) {
        self.sensor = sensor
        self.table = table
        self.sink = sink
        self.statsNanoseconds = Atomic(Seconds.nanoseconds(statsInterval))
        self.drainTimeout = drainTimeout
        self.logger = logger
        self.notifier = notifier
        self.metrics = metrics
        self.progress = progress
    }

    public func requestStop() { stopRequested.store(true, ordering: .relaxed) }

    /// Takes effect at the next loop turn (the next stats line is due one new interval from then).
    /// Replaces the include/exclude rules in the kernel (a reload): packets meet the old rules or
    /// the new. When the maps cannot be updated the old rules stay, and the error is logged.
    public func setFilter(_ filter: PacketFilter) {
        do {
            try sensor.setFilter(filter)
        } catch {
            logger.error("the filter rules were not changed", metadata: ["error": "\(error)"])
        }
    }

    public func setStatsInterval(_ seconds: Double) {
        statsNanoseconds.store(Seconds.nanoseconds(seconds), ordering: .relaxed)
    }

    public func run() {
        if EarlySignals.arrived { requestStop() }
        var statsInterval = statsNanoseconds.load(ordering: .relaxed)
        var nextStats = sensor.now() + statsInterval
        var nextStatus = sensor.now() + min(statsInterval, Self.statusInterval)
        // Hooks are attached (KernelSensor's init) and the sink runs: tell systemd we are up, from
        // the thread that does the work, which also feeds the watchdog.
        let watchdogHalf = notifier?.watchdogInterval.map { Seconds.nanoseconds($0) / 2 }
        var nextWatchdog = sensor.now() + (watchdogHalf ?? 0)
        var notifyFailureLogged = false
        var nextPublish: Int64 = 0
        var nextProgress: Int64 = 0
        func notified(_ error: Int32) {
            guard error != 0, !notifyFailureLogged else { return }
            notifyFailureLogged = true
            logger.warning(
                "cannot notify systemd",
                metadata: ["socket": "\(notifier?.socketPath ?? "")", "error": "\(String(cString: strerror(error)))"])
        }
        if let notifier {
            notified(notifier.ready(status: statusText()))
            if watchdogHalf != nil { notified(notifier.watchdog()) }
        }
        while !stopRequested.load(ordering: .relaxed) {
            sensor.poll(timeoutMilliseconds: 100)
            let now = sensor.now()
            table.advance(to: now)
            sink.flush()
            if sink.isClosed {
                // What a Unix tool does when its output is gone (`dps run --stdout | head`):
                // stop, here with the hooks detached, instead of capturing into nowhere.
                logger.warning("the output of frames was closed (broken pipe): stopping")
                break
            }
            if let progress, now >= nextProgress {
                let stats = table.stats
                progress(CaptureProgress(packets: stats.packets, flowsOpen: table.count, frames: stats.frames))
                nextProgress = now + Self.progressInterval
            }
            if metrics != nil, now >= nextPublish {
                publishMetrics()
                nextPublish = now + Self.publishInterval
            }
            if let watchdogHalf, let notifier, now >= nextWatchdog {
                notified(notifier.watchdog())
                nextWatchdog = now + watchdogHalf
            }
            let interval = statsNanoseconds.load(ordering: .relaxed)
            if interval != statsInterval {
                statsInterval = interval
                nextStats = now + interval
                nextStatus = min(nextStatus, now + min(interval, Self.statusInterval))
            }
            if now >= nextStatus {
                checkInterfaces()
                if let notifier { notified(notifier.status(statusText())) }
                nextStatus = now + min(statsInterval, Self.statusInterval)
            }
            if now >= nextStats {
                logStats("stats")
                nextStats = now + statsInterval
            }
        }
        notifier?.stopping(status: "stopping: draining the ring buffer and emitting open flows")
        sensor.detachHooks()
        sensor.drain()
        table.advance(to: sensor.now())
        table.drain()
        sink.flush()
        // Deliver what the sink still queues (Kronos) for at most --drain-timeout seconds.
        sink.finish(timeout: drainTimeout)
        logStats("final stats")
        publishMetrics()
        sensor.close()
    }

    /// Logs (once) each watched interface that has gone away or now names another device; the
    /// others keep being captured.
    private func checkInterfaces() {
        for interface in sensor.interfaces where !lostInterfaces.contains(interface.name) {
            let index = if_nametoindex(interface.name)
            guard index != interface.index else { continue }
            lostInterfaces.insert(interface.name)
            let remaining = sensor.interfaces.count - lostInterfaces.count
            logger.error(
                index == 0
                    ? "interface disappeared: no longer captured (restart dps to watch it again)"
                    : "interface was recreated: its new instance is not captured (restart dps to watch it)",
                metadata: ["iface": "\(interface.name)", "interfaces_left": "\(remaining)"])
        }
    }

    /// The one-line `STATUS=` text: where we capture and the live counters.
    private func statusText() -> String {
        let flows = table.stats
        let watched = sensor.interfaces.map(\.name).filter { !lostInterfaces.contains($0) }
        var text = "capturing on \(watched.isEmpty ? "no interface" : watched.joined(separator: ","))"
        if !lostInterfaces.isEmpty { text += " (lost: \(lostInterfaces.sorted().joined(separator: ",")))" }
        text += ": packets=\(flows.packets) ringbuf_drops=\(sensor.counters().ringBufferFull)"
        text += " flows_open=\(table.count) frames=\(flows.frames) frames_written=\(sink.framesWritten)"
        for (key, value) in sink.statistics where key.hasSuffix("_sent") || key.hasSuffix("_dropped") {
            text += " \(key)=\(value)"
        }
        return text
    }

    /// The counters to the metrics (when `--metrics-listen` is on): not per packet, at most every
    /// `publishInterval` and once at the end.
    private func publishMetrics() {
        guard let metrics else { return }
        let kernel = sensor.counters()
        metrics.publish(
            DaemonMetrics.Snapshot(
                flowTable: table.stats, flowsOpen: table.count, ringBufferDrops: kernel.ringBufferFull,
                notIP: kernel.notIP, malformed: kernel.malformed, excluded: kernel.excluded,
                notIncluded: kernel.notIncluded, framesWritten: sink.framesWritten,
                sink: sink.statistics, interfaces: sensor.interfaces.count - lostInterfaces.count,
                tunnelOuter: kernel.tunnelOuter))
    }

    private func logStats(_ message: Logger.Message) {
        let kernel = sensor.counters()
        let flows = table.stats
        var metadata: Logger.Metadata = [
            "packets": "\(flows.packets)",
            "ringbuf_drops": "\(kernel.ringBufferFull)",
            "not_ip": "\(kernel.notIP)",
            "malformed": "\(kernel.malformed)",
            "filtered_excluded": "\(kernel.excluded)",
            "filtered_not_included": "\(kernel.notIncluded)",
            "tunnel_outer": "\(kernel.tunnelOuter)",
            "trailing": "\(flows.trailingPackets)",
            "flows_open": "\(table.count)",
            "frames": "\(flows.frames)",
            "frames_written": "\(sink.framesWritten)",
        ]
        for reason in EndReason.allCases {
            metadata["frames_\(reason.rawValue)"] = "\(flows.frames(reason))"
        }
        for (key, value) in sink.statistics {
            metadata[key] = "\(value)"
        }
        logger.info(message, metadata: metadata)
    }
}

extension CaptureLoop {
    /// The loop as a service: its own thread inside a `ServiceGroup`; graceful shutdown stops it.
    public var service: ThreadService {
        ThreadService(name: "dps-capture", body: { self.run() }, stop: { self.requestStop() })
    }
}
