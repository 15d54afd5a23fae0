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

    /// Performs the steps `KronosConnectionState` gives, until shutdown has delivered what it
    /// could.
    private func writerLoop() {
        var state = KronosConnectionState(configuration: configuration)
        var fd: Int32 = -1

        func disconnect(reconnectAt: Int64) {
            if fd >= 0 { close(fd) }
            fd = -1
            if state.disconnected(reconnectAt: reconnectAt) {
                condition.lock()
                counters.resentLines += 1
                condition.unlock()
            }
        }

        // Connect at once, so the log tells at start whether Kronos is there; afterwards only
        // when there is something to send (Kronos closes connections quiet for 5 s).
        connect(&state, &fd, now: KronosSocket.now())

        steps: while true {
            let now = KronosSocket.now()
            let drainDeadline = self.drainDeadline()
            switch state.next(now: now, drainDeadline: drainDeadline) {
            case .takeBatch:
                guard takeBatch(&state) else { break steps }  // closing, all delivered
            case .stop(let midLine):
                if midLine { logger.warning("shutdown drain timed out in the middle of a Kronos line") }
                break steps
            case .replaceQuietConnection:
                logger.debug("replacing a quiet Kronos connection")
                disconnect(reconnectAt: now)
            case .wait(let until):
                condition.lock()
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(until - now) / 1e9))
                condition.unlock()
            case .connect:
                connect(&state, &fd, now: now)
            case .send(let offset):
                let n = state.batch.bytes.withUnsafeBytes { raw in
                    send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                }
                guard n >= 0 else {
                    let code = errno
                    switch KronosConnectionState.SendFailure(errno: code) {
                    case .wouldBlock:
                        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                        let wait = state.pollMilliseconds(now: now, drainDeadline: drainDeadline)
                        if poll(&pfd, 1, wait) < 0 && errno != EINTR { disconnect(reconnectAt: now) }
                    case .interrupted:
                        break
                    case .lost:
                        logger.debug(
                            "Kronos connection lost", metadata: ["error": "\(String(cString: strerror(code)))"])
                        disconnect(reconnectAt: KronosSocket.now())  // once at once; then backoff
                    }
                    continue
                }
                let completed = UInt64(state.sent(n, now: KronosSocket.now()))
                if completed > 0 {
                    condition.lock()
                    counters.sent += completed
                    counters.inFlight -= completed
                    condition.unlock()
                }
            }
        }

        if fd >= 0 { close(fd) }
        condition.lock()
        counters.undelivered += UInt64(state.remaining + queue.removeAll())
        counters.inFlight = 0
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for lines and takes the oldest queue buffer whole, giving back the emptied one.
    /// Returns false when the sink is closing and the queue is empty.
    private func takeBatch(_ state: inout KronosConnectionState) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while queue.count == 0 && !closing {
            writerWaiting = true
            condition.wait()
            writerWaiting = false
        }
        queue.recycle(&state.batch)
        guard let lines = queue.takeOldest() else { return false }
        state.took(lines)
        if queue.count == 0 { loggedQueueFull = false }
        counters.inFlight = UInt64(state.remaining)
        return true
    }

    /// One connect attempt, counted and logged (once per outage, once when it ends).
    private func connect(_ state: inout KronosConnectionState, _ fd: inout Int32, now: Int64) {
        let socketPath = configuration.socketPath
        do {
            fd = try KronosSocket.connect(path: socketPath)
            if let size = configuration.sendBufferBytes {
                var value = size
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &value, socklen_t(MemoryLayout<Int32>.size))
            }
            let outcome = state.connected(now: KronosSocket.now())
            bumpConnection(reconnect: state.isReconnect)
            switch outcome {
            case .recovered(let nanoseconds, let failures):
                logger.notice(
                    "Kronos reachable again",
                    metadata: [
                        "socket": "\(socketPath)", "outage_seconds": "\(Double(nanoseconds / 1_000_000) / 1000)",
                        "attempts": "\(failures)",
                    ])
            case .first:
                logger.info("connected to Kronos", metadata: ["socket": "\(socketPath)"])
            case .reconnected:
                logger.debug("reconnected to Kronos")
            }
        } catch {
            let outageStarts = state.connectFailed(now: now)
            bumpConnection(reconnect: state.isReconnect, failed: true)
            if outageStarts {
                logger.warning(
                    "Kronos not reachable; queueing frames and retrying",
                    metadata: ["error": "\(error)", "queue_frames": "\(configuration.queueFrames)"])
            }
        }
    }

    /// The shutdown drain's deadline once `finish` has started it, read under the lock (the
    /// writer must not read `closing` or `deadline` bare: `finish` sets them from another thread).
    private func drainDeadline() -> Int64? {
        condition.lock()
        defer { condition.unlock() }
        return closing ? deadline : nil
    }

    private func bumpConnection(reconnect: Bool, failed: Bool = false) {
        condition.lock()
        if reconnect { counters.reconnectAttempts += 1 }
        if !failed { counters.connections += 1 }
        condition.unlock()
    }
}
