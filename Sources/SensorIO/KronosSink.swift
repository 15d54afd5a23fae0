import Foundation
import Logging
import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// How the Kronos sink connects and queues.
public struct KronosSinkConfiguration: Sendable {
    /// The Unix stream socket Kronos binds.
    public var socketPath: String
    /// Lines held while Kronos is slow or away; beyond it the oldest are dropped (and counted).
    public var queueFrames: Int
    /// First wait after a failed connect, doubled after each failure up to `maximumBackoff`.
    public var initialBackoff: Double
    public var maximumBackoff: Double
    /// A connection that has been quiet this long (seconds) is replaced by a fresh one before the
    /// next write. Kronos closes a connection after 5 s without data; writing into one it is about
    /// to close could lose lines it never reads, so `dps` reconnects first. Nil: never.
    public var maximumQuietConnection: Double?
    /// Bytes taken from the queue per batch of writes.
    public var batchBytes: Int
    /// SO_SNDBUF for the socket (tests use a small one to force partial writes); nil: the default.
    public var sendBufferBytes: Int32?

    public init(
        socketPath: String, queueFrames: Int = 65_536, initialBackoff: Double = 0.1,
        maximumBackoff: Double = 5, maximumQuietConnection: Double? = 4, batchBytes: Int = 64 * 1024,
        sendBufferBytes: Int32? = nil
    ) {
        self.socketPath = socketPath
        self.queueFrames = max(1, queueFrames)
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
        self.maximumQuietConnection = maximumQuietConnection
        self.batchBytes = max(KronosSigner.maximumLineBytes, batchBytes)
        self.sendBufferBytes = sendBufferBytes
    }

    public static let defaultSocketPath = "/var/run/argus_v/dps_kronos.sock"
}

/// What the Kronos sink has done. At any moment
/// `produced == sent + dropped + undelivered + queued + inFlight`; once it has finished
/// `queued` and `inFlight` are 0, so `produced == sent + dropped + undelivered`.
public struct KronosCounters: Sendable, Equatable {
    /// Frames handed to the sink.
    public var produced: UInt64 = 0
    /// Whole lines written to the socket (accepted by the kernel for Kronos).
    public var sent: UInt64 = 0
    /// Frames dropped: the oldest when the queue was full, plus any line over 8192 bytes.
    public var dropped: UInt64 = 0
    /// Of `dropped`, lines over 8192 bytes (a frame cannot really reach that).
    public var oversize: UInt64 = 0
    /// Frames still queued or half-written when the shutdown drain ran out of time.
    public var undelivered: UInt64 = 0
    /// Connections made to Kronos.
    public var connections: UInt64 = 0
    /// Connect attempts after the first one (after a failure, a close by Kronos, or a quiet period).
    public var reconnectAttempts: UInt64 = 0
    /// Lines half-written when a connection broke, resent whole on the next one.
    public var resentLines: UInt64 = 0
    /// Lines waiting in the queue now.
    public var queued: UInt64 = 0
    /// Lines taken from the queue by the writer and not yet wholly written.
    public var inFlight: UInt64 = 0
    /// The most lines the queue has held at once.
    public var queuedPeak: UInt64 = 0
}

/// Sends frames to Kronos over a Unix stream socket, one line each, from a writer thread of its
/// own: `write(_:)` only encodes (and signs) the line and puts it in a bounded queue, so the
/// capture thread never waits for Kronos. When the queue is full the oldest line is dropped.
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
    private var ring: [[UInt8]]
    private var head = 0
    private var count = 0
    private var counters = KronosCounters()
    private var writerWaiting = false
    private var closing = false
    private var deadline: Int64 = .max
    private var finished = false
    private var loggedQueueFull = false
    private var loggedOversize = false

    /// Wakes the writer when this many lines wait (besides `flush()`).
    private let wakeThreshold: Int

    public init(configuration: KronosSinkConfiguration, signer: KronosSigner, logger: Logger) {
        self.configuration = configuration
        self.signer = signer
        self.logger = logger
        ring = [[UInt8]](repeating: [], count: configuration.queueFrames)
        wakeThreshold = max(1, min(256, configuration.queueFrames / 2))
        let thread = Thread { [self] in writerLoop() }
        thread.name = "dps-kronos"
        thread.start()
    }

    // MARK: Caller side

    public func write(_ frame: FlowFrame) {
        enqueue(signer.line(frame))
    }

    /// Queues one already-encoded line (newline included).
    public func enqueue(_ line: [UInt8]) {
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
        if count == ring.count {
            ring[head] = []
            head = (head + 1) % ring.count
            count -= 1
            counters.dropped += 1
            if !loggedQueueFull {
                loggedQueueFull = true
                logger.warning(
                    "Kronos queue full: dropping the oldest frames",
                    metadata: ["queue_frames": "\(ring.count)"])
            }
        }
        ring[(head + count) % ring.count] = line
        count += 1
        if UInt64(count) > counters.queuedPeak { counters.queuedPeak = UInt64(count) }
        if writerWaiting && count >= wakeThreshold { condition.signal() }
    }

    public func flush() {
        condition.lock()
        if writerWaiting && count > 0 { condition.signal() }
        condition.unlock()
    }

    public var framesWritten: UInt64 { snapshot().sent }

    /// A consistent copy of the counters.
    public func snapshot() -> KronosCounters {
        condition.lock()
        defer { condition.unlock() }
        var copy = counters
        copy.queued = UInt64(count)
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
        var bytes: [UInt8] = []
        /// Offset just past each line's newline.
        var ends: [Int] = []
        /// Lines fully written.
        var done = 0
        /// Bytes written on the current connection (from the start of line `done`).
        var written = 0

        var isEmpty: Bool { done == ends.count }
        var lineStart: Int { done == 0 ? 0 : ends[done - 1] }
        var remaining: Int { ends.count - done }
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
            // 1. Work: the current batch, or the next one from the queue.
            if batch.isEmpty {
                batch = Batch()
                condition.lock()
                while count == 0 && !closing {
                    writerWaiting = true
                    condition.wait()
                    writerWaiting = false
                }
                if count == 0 {  // closing, all delivered
                    condition.unlock()
                    break
                }
                var bytes = 0
                while count > 0 && bytes + ring[head].count <= configuration.batchBytes {
                    let line = ring[head]
                    ring[head] = []
                    head = (head + 1) % ring.count
                    count -= 1
                    bytes += line.count
                    batch.bytes.append(contentsOf: line)
                    batch.ends.append(batch.bytes.count)
                }
                if count == 0 { loggedQueueFull = false }
                counters.inFlight = UInt64(batch.ends.count)
                condition.unlock()
            }
            let now = KronosSocket.now()
            let midLine = batch.written != batch.lineStart
            if closingDeadlinePassed(now, midLine: midLine) {
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

            // 3. Write.
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let waitMs = closing ? max(1, min(100, Int32((deadline - now) / 1_000_000))) : 100
            let ready = poll(&pfd, 1, waitMs)
            if ready < 0 && errno != EINTR { disconnect() }
            guard ready > 0 else { continue }
            let n = batch.bytes.withUnsafeBytes { raw in
                send(
                    fd, raw.baseAddress! + batch.written, raw.count - batch.written,
                    Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if n < 0 {
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { continue }
                logger.debug("Kronos connection lost", metadata: ["error": "\(String(cString: strerror(code)))"])
                disconnect()
                nextAttempt = KronosSocket.now()  // once at once; then backoff
                continue
            }
            batch.written += n
            lastActivity = KronosSocket.now()
            var completed: UInt64 = 0
            while batch.done < batch.ends.count && batch.ends[batch.done] <= batch.written {
                batch.done += 1
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
        counters.undelivered += UInt64(batch.remaining + count)
        counters.inFlight = 0
        for i in 0..<count { ring[(head + i) % ring.count] = [] }
        count = 0
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// A line already partly written gets a short grace past the drain deadline, so that Kronos
    /// is not left with half a line.
    private func closingDeadlinePassed(_ now: Int64, midLine: Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return closing && now >= deadline &+ (midLine ? Self.midLineGrace : 0)
    }

    static let midLineGrace: Int64 = 200_000_000

    private func bumpConnection(reconnect: Bool, failed: Bool = false) {
        condition.lock()
        if reconnect { counters.reconnectAttempts += 1 }
        if !failed { counters.connections += 1 }
        condition.unlock()
    }
}
