import CDatagrams
import Foundation
import Logging
import SensorCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Exports frames to an IPFIX collector (RFC 7011) over UDP or TCP, from a writer thread of its
/// own: `write(_:)` only encodes the frame's data record and puts it in a bounded queue (a
/// `KronosQueue`), so the capture thread never waits for the network. A full queue drops its
/// oldest record (counted), or, when `lossless` (pcap input), makes `write` wait for room.
///
/// The writer packs the records into messages of at most `mtu` bytes on UDP, with the templates
/// first and again every `templateRefreshSeconds` or `templateRefreshMessages` (see
/// `IPFIXExportState` for the rules). UDP send errors, such as the ECONNREFUSED an ICMP port
/// unreachable gives when no collector listens, are counted and never stop the export. TCP
/// reconnects at once after a connection that worked, then with backoff; each new connection gets
/// the templates again, and a message half-written when a connection broke is sent again whole.
/// The outage is logged once when it starts and once when it ends.
public final class IPFIXSink: FrameSink, @unchecked Sendable {
    public let configuration: IPFIXSinkConfiguration
    private let logger: Logger

    // Shared between callers and the writer thread, under `condition`.
    private let condition = NSCondition()
    private var queue: KronosQueue
    private var counters = IPFIXCounters()
    private var writerWaiting = false
    /// Callers waiting for room (lossless mode).
    private var callersWaiting = 0
    private var closing = false
    private var deadline: Int64 = .max
    private var finished = false
    private var loggedQueueFull = false
    private var loggedOversize = false

    /// The caller's record, encoded before `condition` is taken. In a mutex in case callers come
    /// from two threads.
    private let record = Mutex<[UInt8]>([])

    /// Wakes the writer when this many records wait (besides `flush()`).
    private let wakeThreshold: Int

    public init(configuration: IPFIXSinkConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        // A queue buffer holds any record (the queue's lines are tagged records).
        queue = KronosQueue(capacity: configuration.effectiveQueueFrames, bufferBytes: 64 * 1024 + 1024)
        wakeThreshold = max(1, min(64, configuration.effectiveQueueFrames / 2))
        let thread = Thread { [self] in writerLoop() }
        thread.name = "dps-ipfix"
        thread.start()
    }

    // MARK: Caller side

    public func write(_ frame: FlowFrame) {
        record.withLock { record in
            record.removeAll(keepingCapacity: true)
            IPFIXQueuedRecord.append(frame, to: &record)
            record.withUnsafeBytes { enqueue($0) }
        }
    }

    private func enqueue(_ entry: UnsafeRawBufferPointer) {
        condition.lock()
        defer { condition.unlock() }
        counters.produced += 1
        if finished {
            counters.undelivered += 1
            return
        }
        guard entry.count - 1 <= IPFIXMessage.maximumRecordBytes else {
            counters.dropped += 1
            counters.oversize += 1
            if !loggedOversize {
                loggedOversize = true
                logger.warning(
                    "frame too large for an IPFIX message dropped",
                    metadata: ["bytes": "\(entry.count - 1)", "limit": "\(IPFIXMessage.maximumRecordBytes)"])
            }
            return
        }
        if configuration.lossless {
            while queue.count >= queue.capacity && !finished {
                callersWaiting += 1
                condition.wait()
                callersWaiting -= 1
            }
            if finished {
                counters.undelivered += 1
                return
            }
        }
        if queue.append(entry) {
            counters.dropped += 1
            if !loggedQueueFull {
                loggedQueueFull = true
                logger.warning(
                    "IPFIX queue full: dropping the oldest records",
                    metadata: ["queue_frames": "\(queue.capacity)", "collector": "\(configuration.destination)"])
            }
        }
        let count = queue.count
        if UInt64(count) > counters.queuedPeak { counters.queuedPeak = UInt64(count) }
        if writerWaiting && count >= wakeThreshold { condition.broadcast() }
    }

    public func flush() {
        condition.lock()
        if writerWaiting && queue.count > 0 { condition.broadcast() }
        condition.unlock()
    }

    public var framesWritten: UInt64 { snapshot().recordsSent }

    /// A consistent copy of the counters.
    public func snapshot() -> IPFIXCounters {
        condition.lock()
        defer { condition.unlock() }
        var copy = counters
        copy.queued = UInt64(queue.count)
        return copy
    }

    public var statistics: [(key: String, value: UInt64)] {
        let c = snapshot()
        return [
            ("ipfix_records_sent", c.recordsSent), ("ipfix_messages_sent", c.messagesSent),
            ("ipfix_templates_sent", c.templatesSent), ("ipfix_dropped", c.dropped),
            ("ipfix_send_errors", c.sendErrors), ("ipfix_lost", c.lost), ("ipfix_reconnects", c.reconnects),
            ("ipfix_undelivered", c.undelivered), ("ipfix_queued", c.queued + c.inFlight),
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
                "IPFIX records not delivered at shutdown",
                metadata: ["undelivered": "\(c.undelivered)", "drain_timeout": "\(timeout)"])
        }
    }

    // MARK: Writer thread

    /// Performs the steps `IPFIXExportState` gives, until shutdown has delivered what it could.
    private func writerLoop() {
        var state = IPFIXExportState(configuration: configuration)
        var fd: Int32 = -1
        var outage = Outage()

        // Connect at once, so that the log tells at start whether the collector is there.
        connect(&state, &fd, &outage, now: KronosSocket.now())

        steps: while true {
            let now = KronosSocket.now()
            let drainDeadline = self.drainDeadline()
            switch state.next(now: now, drainDeadline: drainDeadline) {
            case .takeBatch:
                guard takeBatch(&state) else { break steps }  // closing, all delivered
            case .stop(let midMessage):
                if midMessage { logger.warning("shutdown drain timed out in the middle of an IPFIX message") }
                break steps
            case .wait(let until):
                condition.lock()
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(until - now) / 1e9))
                condition.unlock()
            case .connect:
                connect(&state, &fd, &outage, now: now)
            case .send:
                let oversize = state.prepareMessage(now: now, exportTime: UInt32(truncatingIfNeeded: time(nil)))
                if oversize > 0 { bump { $0.oversizeMessages += UInt64(oversize) } }
                let n = send(fd, state)
                if n >= 0 {
                    let done = state.sent(n, now: KronosSocket.now())
                    if done.messages > 0 {
                        bump {
                            $0.recordsSent += UInt64(done.records)
                            $0.inFlight -= UInt64(done.records)
                            $0.messagesSent += UInt64(done.messages)
                            $0.templatesSent += UInt64(done.templates)
                        }
                        outage.sendSucceeded(logger, configuration.destination, now: now)
                    }
                    continue
                }
                let code = errno
                switch state.sendFailed(errno: code, now: now) {
                case .wouldBlock:
                    var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    let wait = state.pollMilliseconds(now: now, drainDeadline: drainDeadline)
                    if poll(&pfd, 1, wait) < 0 && errno != EINTR {
                        close(fd)
                        fd = -1
                        state.disconnected(now: now)
                    }
                case .interrupted:
                    break
                case .retry:
                    bump { $0.sendErrors += 1 }
                    outage.sendFailed(logger, configuration.destination, code: code, now: now)
                case .dropMessage(let records):
                    bump {
                        $0.sendErrors += 1
                        $0.lost += UInt64(records)
                        $0.inFlight -= UInt64(records)
                    }
                    outage.sendFailed(logger, configuration.destination, code: code, now: now)
                case .connectionLost(let midMessage):
                    bump {
                        $0.sendErrors += 1
                        if midMessage { $0.resentMessages += 1 }
                    }
                    close(fd)
                    fd = -1
                    outage.connectionLost(logger, configuration.destination, code: code, now: now)
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

    /// Sends the packed messages from `state.written`: the rest of a TCP message, or the UDP
    /// messages in one `sendmmsg`. Returns the bytes that went out, or -1 with `errno`.
    private func send(_ fd: Int32, _ state: IPFIXExportState) -> Int {
        let flags = Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)
        return state.messages.withUnsafeBytes { raw in
            guard configuration.destination.transport == .udp else {
                return Glibc.send(fd, raw.baseAddress! + state.written, raw.count - state.written, flags)
            }
            let ends = state.unsentEnds
            let count = ends.withUnsafeBufferPointer { ends in
                dps_send_datagrams(
                    fd, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), state.written, ends.baseAddress,
                    UInt32(ends.count), flags)
            }
            return count <= 0 ? Int(count) : ends[ends.startIndex + Int(count) - 1] - state.written
        }
    }

    /// Waits for records and takes the oldest queue buffer whole, giving back the emptied one;
    /// wakes callers waiting for room. Returns false when the sink is closing and the queue is
    /// empty.
    private func takeBatch(_ state: inout IPFIXExportState) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while queue.count == 0 && !closing {
            writerWaiting = true
            condition.wait()
            writerWaiting = false
        }
        queue.recycle(&state.batch)
        guard let records = queue.takeOldest() else { return false }
        state.took(records)
        if queue.count == 0 { loggedQueueFull = false }
        counters.inFlight = UInt64(state.remaining)
        if callersWaiting > 0 { condition.broadcast() }
        return true
    }

    /// One connect attempt, counted and logged (once per outage, once when it ends).
    private func connect(_ state: inout IPFIXExportState, _ fd: inout Int32, _ outage: inout Outage, now: Int64) {
        let destination = configuration.destination
        do {
            fd = try IPFIXSocket.connect(destination, timeout: connectTimeout())
            let reconnect = state.connected(now: KronosSocket.now())
            bump {
                $0.connections += 1
                if reconnect { $0.reconnects += 1 }
            }
            outage.connected(logger, destination, reconnect: reconnect, now: KronosSocket.now())
        } catch {
            state.connectFailed(now: KronosSocket.now())
            bump { $0.connectFailures += 1 }
            outage.connectFailed(
                logger, destination, error: error, queueFrames: configuration.effectiveQueueFrames, now: now)
        }
    }

    /// The connect timeout, shortened to the drain deadline once shutdown has started.
    private func connectTimeout() -> Double {
        guard let drainDeadline = drainDeadline() else { return configuration.connectTimeout }
        return max(0.01, min(configuration.connectTimeout, Double(drainDeadline - KronosSocket.now()) / 1e9))
    }

    /// The shutdown drain's deadline once `finish` has started it, read under the lock.
    private func drainDeadline() -> Int64? {
        condition.lock()
        defer { condition.unlock() }
        return closing ? deadline : nil
    }

    private func bump(_ change: (inout IPFIXCounters) -> Void) {
        condition.lock()
        change(&counters)
        condition.unlock()
    }
}

/// When to log trouble with the collector: once when an outage starts (a failed connect, a lost
/// TCP connection, a UDP send error), once when it ends; UDP send errors that go on are summed up
/// at most once a minute.
private struct Outage {
    private var since: Int64?
    private var errors = 0
    private var lastError: Int64 = 0
    private var lastReport: Int64 = 0
    static let reportInterval: Int64 = 60_000_000_000

    mutating func connectFailed(
        _ logger: Logger, _ destination: IPFIXDestination, error: Error, queueFrames: Int, now: Int64
    ) {
        guard start(now) else { return }
        logger.warning(
            "IPFIX collector not reachable; queueing records and retrying",
            metadata: ["collector": "\(destination)", "error": "\(error)", "queue_frames": "\(queueFrames)"])
    }

    mutating func connectionLost(_ logger: Logger, _ destination: IPFIXDestination, code: Int32, now: Int64) {
        guard start(now) else { return }
        logger.warning(
            "IPFIX connection lost; reconnecting",
            metadata: ["collector": "\(destination)", "error": "\(String(cString: strerror(code)))"])
    }

    mutating func sendFailed(_ logger: Logger, _ destination: IPFIXDestination, code: Int32, now: Int64) {
        if start(now) {
            logger.warning(
                "IPFIX send failed; going on (ECONNREFUSED: no collector listens there)",
                metadata: ["collector": "\(destination)", "error": "\(String(cString: strerror(code)))"])
        } else if now - lastReport >= Self.reportInterval {
            lastReport = now
            logger.warning(
                "IPFIX sends still failing",
                metadata: [
                    "collector": "\(destination)", "errors": "\(errors)", "error": "\(String(cString: strerror(code)))",
                ])
        }
    }

    /// A message went out. On UDP an error comes one send late, and only when a datagram is
    /// refused: the outage ends after a report interval without errors.
    mutating func sendSucceeded(_ logger: Logger, _ destination: IPFIXDestination, now: Int64) {
        guard let start = since, now - lastError >= Self.reportInterval else { return }
        logger.notice(
            "IPFIX sends succeeding again",
            metadata: [
                "collector": "\(destination)", "outage_seconds": "\(Double((now - start) / 1_000_000) / 1000)",
                "errors": "\(errors)",
            ])
        since = nil
        errors = 0
    }

    mutating func connected(_ logger: Logger, _ destination: IPFIXDestination, reconnect: Bool, now: Int64) {
        if let start = since {
            logger.notice(
                "IPFIX collector reachable again",
                metadata: [
                    "collector": "\(destination)", "outage_seconds": "\(Double((now - start) / 1_000_000) / 1000)",
                    "errors": "\(errors)",
                ])
        } else if !reconnect {
            logger.info("exporting IPFIX", metadata: ["collector": "\(destination)"])
        } else {
            logger.debug("reconnected to the IPFIX collector", metadata: ["collector": "\(destination)"])
        }
        since = nil
        errors = 0
    }

    /// Counts an error; true when it starts an outage.
    private mutating func start(_ now: Int64) -> Bool {
        errors += 1
        lastError = now
        guard since == nil else { return false }
        since = now
        lastReport = now
        return true
    }
}
