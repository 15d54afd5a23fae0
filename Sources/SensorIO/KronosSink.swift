import Foundation
import Logging
import SensorCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Sends frames to Kronos over a Unix stream socket, one line each, from a writer thread of its
/// own: `write(_:)` only encodes (and signs) the line and puts it in a bounded queue
/// (`KronosQueue`), so the capture thread never waits for Kronos. When the queue is full the
/// oldest line is dropped.
///
/// The writer reconnects when Kronos goes away (EPIPE, ECONNRESET, ENOENT, ECONNREFUSED...):
/// at once after a connection that worked, then with backoff from 100 ms doubling to 5 s. It logs
/// once per outage and once when it recovers. A line is never torn: bytes of a line half-written
/// when a connection broke are resent whole, from the line's start, on the next connection.
public final class KronosSink: FrameSink, @unchecked Sendable {
    public let configuration: KronosSinkConfiguration
    public let signer: KronosSigner
    private let logger: Logger

    // Shared between callers and the writer thread, under `condition`.
    private let condition = NSCondition()
    private var queue: KronosQueue
    private var counters = KronosCounters()
    private var writerWaiting = false
    private var closing = false
    private var deadline: Int64 = .max
    private var finished = false
    private var loggedQueueFull = false
    private var loggedOversize = false

    /// The caller's line, encoded (and signed) before `condition` is taken, so that the writer
    /// never waits behind an encoding. In a mutex in case callers come from two threads.
    private let line = Mutex<[UInt8]>([])

    /// Wakes the writer when this many lines wait (besides `flush()`).
    private let wakeThreshold: Int

    public init(configuration: KronosSinkConfiguration, signer: KronosSigner, logger: Logger) {
        self.configuration = configuration
        self.signer = signer
        self.logger = logger
        queue = KronosQueue(capacity: configuration.queueFrames, bufferBytes: configuration.batchBytes)
        wakeThreshold = max(1, min(256, configuration.queueFrames / 2))
        let thread = Thread { [self] in writerLoop() }
        thread.name = "dps-kronos"
        thread.start()
    }

    // MARK: Caller side

    public func write(_ frame: FlowFrame) {
        line.withLock { line in
            line.removeAll(keepingCapacity: true)
            signer.appendLine(frame, to: &line)
            line.withUnsafeBytes { enqueue($0) }
        }
    }

    /// Queues one already-encoded line (newline included).
    public func enqueue(_ line: [UInt8]) {
        line.withUnsafeBytes { enqueue($0) }
    }

    private func enqueue(_ line: UnsafeRawBufferPointer) {
        condition.lock()
        defer { condition.unlock() }
        counters.produced += 1
        if finished {
            counters.undelivered += 1
            return
        }
        guard line.count <= KronosSigner.maximumLineBytes else {
            counters.dropped += 1
            counters.oversize += 1
            if !loggedOversize {
                loggedOversize = true
                logger.warning(
                    "frame line over the Kronos limit dropped",
                    metadata: ["bytes": "\(line.count)", "limit": "\(KronosSigner.maximumLineBytes)"])
            }
            return
        }
        if queue.append(line) {
            counters.dropped += 1
            if !loggedQueueFull {
                loggedQueueFull = true
                logger.warning(
                    "Kronos queue full: dropping the oldest frames",
                    metadata: ["queue_frames": "\(queue.capacity)"])
            }
        }
        let count = queue.count
        if UInt64(count) > counters.queuedPeak { counters.queuedPeak = UInt64(count) }
        if writerWaiting && count >= wakeThreshold { condition.signal() }
    }

    public func flush() {
        condition.lock()
        if writerWaiting && queue.count > 0 { condition.signal() }
        condition.unlock()
    }

    public var framesWritten: UInt64 { snapshot().sent }

    /// A consistent copy of the counters.
    public func snapshot() -> KronosCounters {
        condition.lock()
        defer { condition.unlock() }
        var copy = counters
        copy.queued = UInt64(queue.count)
        return copy
    }

    public var statistics: [(key: String, value: UInt64)] {
        let c = snapshot()
        return [
            ("kronos_produced", c.produced), ("kronos_sent", c.sent), ("kronos_dropped", c.dropped),
            ("kronos_undelivered", c.undelivered), ("kronos_queued", c.queued + c.inFlight),
            ("kronos_connections", c.connections), ("kronos_reconnect_attempts", c.reconnectAttempts),
            ("kronos_oversize", c.oversize), ("kronos_resent_lines", c.resentLines),
        ]
    }

    /// Delivers what is queued for at most `timeout` seconds, then stops the writer; what is left
    /// is counted as undelivered and logged. Frames written afterwards count as undelivered.
    public func finish(timeout: Double) {
        condition.lock()
        if !closing {
            closing = true
            let seconds = timeout.isFinite ? min(max(0, timeout), 1e6) : 1e6
            deadline = KronosSocket.now() + Int64(seconds * 1e9)
        }
        condition.broadcast()
        while !finished { condition.wait() }
        let c = counters
        condition.unlock()
        if c.undelivered > 0 {
            logger.warning(
                "frames not delivered to Kronos at shutdown",
                metadata: ["undelivered": "\(c.undelivered)", "drain_timeout": "\(timeout)"])
        }
    }

    // MARK: Writer thread

    private struct Batch {
        /// The lines taken from the queue; `lines.first` counts up as they are fully written.
        var lines = KronosLines()
        /// Bytes written on the current connection (from the start of line `lines.first`).
        var written = 0

        var isEmpty: Bool { lines.count == 0 }
        var lineStart: Int { lines.firstStart }
        var remaining: Int { lines.count }
    }

    private func writerLoop() {
        var batch = Batch()
        var fd: Int32 = -1
        var lastActivity: Int64 = 0
        var attempts: UInt64 = 0
        var backoff = Int64(configuration.initialBackoff * 1e9)
        var nextAttempt: Int64 = 0
        var outageStart: Int64? = nil
        var outageAttempts = 0
        let quietLimit = configuration.maximumQuietConnection.map { Int64($0 * 1e9) }

        func disconnect() {
            if fd >= 0 { close(fd) }
            fd = -1
            if batch.written > batch.lineStart {
                condition.lock()
                counters.resentLines += 1
                condition.unlock()
            }
            batch.written = batch.lineStart
        }

        /// One connect attempt; on failure, schedules the next with backoff.
        func attemptConnect(_ now: Int64) {
            attempts += 1
            do {
                fd = try KronosSocket.connect(path: configuration.socketPath)
                if let size = configuration.sendBufferBytes {
                    var value = size
                    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &value, socklen_t(MemoryLayout<Int32>.size))
                }
                lastActivity = KronosSocket.now()
                backoff = Int64(configuration.initialBackoff * 1e9)
                bumpConnection(reconnect: attempts > 1)
                if let start = outageStart {
                    logger.notice(
                        "Kronos reachable again",
                        metadata: [
                            "socket": "\(configuration.socketPath)",
                            "outage_seconds": "\(Double((lastActivity - start) / 1_000_000) / 1000)",
                            "attempts": "\(outageAttempts)",
                        ])
                    outageStart = nil
                } else if attempts == 1 {
                    logger.info("connected to Kronos", metadata: ["socket": "\(configuration.socketPath)"])
                } else {
                    logger.debug("reconnected to Kronos")
                }
            } catch {
                bumpConnection(reconnect: attempts > 1, failed: true)
                if outageStart == nil {
                    outageStart = now
                    outageAttempts = 0
                    logger.warning(
                        "Kronos not reachable; queueing frames and retrying",
                        metadata: [
                            "error": "\(error)",
                            "queue_frames": "\(configuration.queueFrames)",
                        ])
                }
                outageAttempts += 1
                nextAttempt = now + backoff
                backoff = min(backoff * 2, Int64(configuration.maximumBackoff * 1e9))
            }
        }

        // Connect at once, so the log tells at start whether Kronos is there; afterwards only
        // when there is something to send (Kronos closes connections quiet for 5 s).
        attemptConnect(KronosSocket.now())

        while true {
            // 1. Work: the current batch, or the oldest queue buffer, taken whole.
            if batch.isEmpty {
                condition.lock()
                while queue.count == 0 && !closing {
                    writerWaiting = true
                    condition.wait()
                    writerWaiting = false
                }
                queue.recycle(&batch.lines)
                guard let lines = queue.takeOldest() else {  // closing, all delivered
                    condition.unlock()
                    break
                }
                batch = Batch(lines: lines)
                batch.written = batch.lineStart
                if queue.count == 0 { loggedQueueFull = false }
                counters.inFlight = UInt64(batch.remaining)
                condition.unlock()
            }
            let now = KronosSocket.now()
            let drainDeadline = self.drainDeadline()
            let midLine = batch.written != batch.lineStart
            // A line already partly written gets a short grace past the drain deadline, so that
            // Kronos is not left with half a line.
            if let drainDeadline, now >= drainDeadline &+ (midLine ? Self.midLineGrace : 0) {
                if midLine { logger.warning("shutdown drain timed out in the middle of a Kronos line") }
                break
            }

            // 2. A connection.
            if fd >= 0, let quietLimit, now - lastActivity >= quietLimit, batch.written == batch.lineStart {
                logger.debug("replacing a quiet Kronos connection")
                disconnect()
                nextAttempt = now
            }
            if fd < 0 {
                if now < nextAttempt {
                    condition.lock()
                    if !closing || KronosSocket.now() < deadline {
                        let wake = min(nextAttempt, deadline)
                        _ = condition.wait(until: Date(timeIntervalSinceNow: Double(wake - now) / 1e9))
                    }
                    condition.unlock()
                    continue
                }
                attemptConnect(now)
                continue
            }

            // 3. Write: try at once, wait for room only when the socket is full.
            let n = batch.lines.bytes.withUnsafeBytes { raw in
                send(
                    fd, raw.baseAddress! + batch.written, raw.count - batch.written,
                    Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if n < 0 {
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK {
                    var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    let waitMs = drainDeadline.map { max(1, min(100, ($0 - now) / 1_000_000)) } ?? 100
                    if poll(&pfd, 1, Int32(waitMs)) < 0 && errno != EINTR { disconnect() }
                    continue
                }
                if code == EINTR { continue }
                logger.debug("Kronos connection lost", metadata: ["error": "\(String(cString: strerror(code)))"])
                disconnect()
                nextAttempt = KronosSocket.now()  // once at once; then backoff
                continue
            }
            batch.written += n
            lastActivity = KronosSocket.now()
            var completed: UInt64 = 0
            while batch.remaining > 0 && batch.lines.ends[batch.lines.first] <= batch.written {
                batch.lines.first += 1
                completed += 1
            }
            if completed > 0 {
                condition.lock()
                counters.sent += completed
                counters.inFlight -= completed
                condition.unlock()
            }
        }

        if fd >= 0 { close(fd) }
        condition.lock()
        counters.undelivered += UInt64(batch.remaining + queue.removeAll())
        counters.inFlight = 0
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// The shutdown drain's deadline once `finish` has started it, read under the lock (the
    /// writer must not read `closing` or `deadline` bare: `finish` sets them from another thread).
    private func drainDeadline() -> Int64? {
        condition.lock()
        defer { condition.unlock() }
        return closing ? deadline : nil
    }

    static let midLineGrace: Int64 = 200_000_000

    private func bumpConnection(reconnect: Bool, failed: Bool = false) {
        condition.lock()
        if reconnect { counters.reconnectAttempts += 1 }
        if !failed { counters.connections += 1 }
        condition.unlock()
    }
}
