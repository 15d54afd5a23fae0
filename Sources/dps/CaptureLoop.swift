import Foundation
import Logging
import SensorCore
import SensorIO
import SensorKernel
import ServiceLifecycle
import Synchronization

/// The live hot path, on one dedicated thread: ring buffer → packet events → flow table → sink.
/// Every 100 ms at most it advances the table's clock (idle, active and close expiry) and flushes
/// the sink. On stop: detach the hooks, drain the ring buffer, emit every open flow.
final class CaptureLoop: @unchecked Sendable {
    // Confined to the capture thread once `run()` starts, but for `stopRequested`.
    private let sensor: KernelSensor
    private let table: FlowTable
    private let sink: FrameSink
    private let statsInterval: Int64
    private let drainTimeout: Double
    private let logger: Logger
    private let stopRequested = Atomic<Bool>(false)

    init(
        sensor: KernelSensor, table: FlowTable, sink: FrameSink, statsInterval: Double,
        drainTimeout: Double = 2, logger: Logger
    ) {
        self.sensor = sensor
        self.table = table
        self.sink = sink
        self.statsInterval = Int64(statsInterval * 1e9)
        self.drainTimeout = drainTimeout
        self.logger = logger
    }

    func requestStop() { stopRequested.store(true, ordering: .relaxed) }

    func run() {
        var nextStats = sensor.now() + statsInterval
        while !stopRequested.load(ordering: .relaxed) {
            sensor.poll(timeoutMilliseconds: 100)
            let now = sensor.now()
            table.advance(to: now)
            sink.flush()
            if now >= nextStats {
                logStats("stats")
                nextStats = now + statsInterval
            }
        }
        sensor.detachHooks()
        sensor.drain()
        table.advance(to: sensor.now())
        table.drain()
        sink.flush()
        // Deliver what the sink still queues (Kronos) for at most --drain-timeout seconds.
        sink.finish(timeout: drainTimeout)
        logStats("final stats")
        sensor.close()
    }

    private func logStats(_ message: Logger.Message) {
        let kernel = sensor.counters()
        let flows = table.stats
        var metadata: Logger.Metadata = [
            "packets": "\(flows.packets)",
            "ringbuf_drops": "\(kernel.ringBufferFull)",
            "not_ip": "\(kernel.notIP)",
            "malformed": "\(kernel.malformed)",
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

/// Runs a `CaptureLoop` on its own thread inside a `ServiceGroup`; graceful shutdown stops it.
struct CaptureService: Service {
    let loop: CaptureLoop

    func run() async throws {
        await withGracefulShutdownHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let thread = Thread {
                    loop.run()
                    done.resume()
                }
                thread.name = "dps-capture"
                thread.start()
            }
        } onGracefulShutdown: {
            loop.requestStop()
        }
    }
}
