import Foundation
import Logging
import SensorCore

/// The labeled dataset beside the other outputs (`dps run --dataset-dir`): every frame, labeled
/// by the rules, into rotated compressed NDJSON files (`DatasetFiles`), from a writer thread of
/// its own. `write(_:)` only queues the frame, so capture and the other sinks never wait for the
/// disk; a full queue drops its oldest frame (counted, logged once until it drains).
///
/// Labeling, encoding and compressing happen on the writer thread. A frame no rule matches is
/// written without a label. New rules (`replaceRules`, on SIGHUP) apply to the frames queued
/// from then on and start a new file, whose header records them.
public final class DatasetSink: FrameSink, @unchecked Sendable {
    public let configuration: DatasetConfiguration
    private let logger: Logger
    private let files: DatasetFiles
    private let encoder = FrameEncoder(extended: true)

    // Shared with the writer thread, under `condition`.
    private let condition = NSCondition()
    private var queue: [FlowFrame] = []
    /// `queue[head...]` are waiting (the taken ones are dropped in bulk).
    private var head = 0
    private var produced: UInt64 = 0
    private var dropped: UInt64 = 0
    private var undelivered: UInt64 = 0
    private var unmatched: UInt64 = 0
    private var loggedQueueFull = false
    private var droppedAtLastTake: UInt64 = 0
    /// Rules and headers to switch to, each before the frame at `queue[at]`.
    private var newRules: [(at: Int, rules: RuleSet, header: DatasetHeader)] = []
    private var rulesInEffect: DatasetHeader.Rules
    private var closing = false
    private var deadline = Date.distantFuture
    private var finished = false
    private var filesCounters = DatasetCounters()

    /// Makes the folder, finishes what an earlier run left there, and starts the writer. `rules`
    /// label the frames; `header` records them in each file.
    public init(
        configuration: DatasetConfiguration, rules: RuleSet, header: DatasetHeader, logger: Logger,
        now: @escaping () -> Int64 = DatasetFiles.wallClock
    ) throws(IOError) {
        self.configuration = configuration
        self.logger = logger
        rulesInEffect = header.rules
        files = DatasetFiles(configuration: configuration, header: header, logger: logger, now: now)
        try files.start()
        filesCounters = files.counters
        let thread = Thread { [self] in writerLoop(rules) }
        thread.name = "dps-dataset"
        thread.start()
    }

    // MARK: Caller side

    public func write(_ frame: FlowFrame) {
        condition.lock()
        defer { condition.unlock() }
        produced += 1
        if finished {
            undelivered += 1
            return
        }
        queue.append(frame)
        if queue.count - head > configuration.queueFrames {
            head += 1
            dropped += 1
            if head >= configuration.queueFrames {
                // The writer is stuck (a slow disk): let go of the dropped frames' slots.
                queue.removeFirst(head)
                for i in newRules.indices { newRules[i].at = max(0, newRules[i].at - head) }
                head = 0
            }
            if !loggedQueueFull {
                loggedQueueFull = true
                logger.warning(
                    "dataset queue full: dropping the oldest frames",
                    metadata: ["queue_frames": "\(configuration.queueFrames)"])
            }
        }
        if queue.count - head == 1 || queue.count - head >= 1024 { condition.signal() }
    }

    public func flush() {}

    /// Labels the frames queued from now on with `rules`, when they differ from the rules in
    /// effect: the file being written is finished and the next records `header`. Returns whether
    /// the rules changed.
    @discardableResult
    public func replaceRules(_ rules: RuleSet, header: DatasetHeader) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard header.rules != rulesInEffect else { return false }
        rulesInEffect = header.rules
        newRules.append((queue.count, rules, header))
        condition.signal()
        return true
    }

    public var framesWritten: UInt64 { snapshot().files.framesWritten }

    /// A consistent copy of the counters.
    public func snapshot() -> (produced: UInt64, dropped: UInt64, undelivered: UInt64, unmatched: UInt64, queued: UInt64, files: DatasetCounters) {
        condition.lock()
        defer { condition.unlock() }
        return (produced, dropped, undelivered, unmatched, UInt64(queue.count - head), filesCounters)
    }

    public var statistics: [(key: String, value: UInt64)] {
        let c = snapshot()
        return [
            ("dataset_produced", c.produced), ("dataset_written", c.files.framesWritten),
            ("dataset_dropped", c.dropped), ("dataset_failed", c.files.framesFailed),
            ("dataset_undelivered", c.undelivered), ("dataset_unmatched", c.unmatched), ("dataset_queued", c.queued),
            ("dataset_files", c.files.filesFinished), ("dataset_files_recovered", c.files.filesRecovered),
            ("dataset_files_deleted", c.files.filesDeleted), ("dataset_write_errors", c.files.writeErrors),
        ]
    }

    /// Writes what is queued for at most `timeout` seconds and finishes the file; frames still
    /// queued then are counted as undelivered and logged.
    public func finish(timeout: Double) {
        condition.lock()
        if !closing {
            closing = true
            deadline = Date(timeIntervalSinceNow: timeout.isFinite ? min(max(0, timeout), 1e6) : 1e6)
        }
        condition.broadcast()
        while !finished { condition.wait() }
        let left = undelivered
        condition.unlock()
        if left > 0 {
            logger.warning("frames not written to the dataset at shutdown", metadata: ["undelivered": "\(left)"])
        }
    }

    // MARK: Writer thread

    private func writerLoop(_ firstRules: RuleSet) {
        func makeLabeler(_ rules: RuleSet) -> Labeler { Labeler(rules: rules, maxPendingFlows: 2 * configuration.queueFrames) }
        var labeler = makeLabeler(firstRules)
        /// New rules: a fresh labeler, and the file finished for one recording them.
        func switchTo(_ change: (at: Int, rules: RuleSet, header: DatasetHeader)) {
            labeler = makeLabeler(change.rules)
            files.replaceHeader(change.header)
        }
        var batch: [FlowFrame] = []
        while true {
            condition.lock()
            while queue.count == head && newRules.isEmpty && !closing {
                let next = files.nextTick()
                if next == .max {
                    condition.wait()
                } else {
                    let wait = Double(next - DatasetFiles.wallClock()) / 1e9
                    if wait <= 0 { break }
                    _ = condition.wait(until: Date(timeIntervalSinceNow: wait))
                    break
                }
            }
            var changes = newRules[...]
            newRules.removeAll()
            let pastDeadline = closing && Date() >= deadline
            if pastDeadline {
                undelivered += UInt64(queue.count - head)
                queue.removeAll()
                head = 0
            }
            swap(&batch, &queue)
            let start = head
            head = 0
            // The queue-full warning again only after a take with no drop since the one before.
            if dropped == droppedAtLastTake { loggedQueueFull = false }
            droppedAtLastTake = dropped
            let stop = closing && (batch.count == start || pastDeadline)
            filesCounters = files.counters
            condition.unlock()

            var unmatchedHere: UInt64 = 0
            for index in start..<batch.count {
                while let change = changes.first, change.at <= index {
                    changes.removeFirst()
                    switchTo(change)
                }
                var frame = batch[index]
                if let rule = labeler.decide(frame) {
                    frame.label = labeler.rules.rules[rule].label
                } else {
                    frame.label = nil
                    unmatchedHere += 1
                }
                files.append { buffer in
                    encoder.encode(frame, into: &buffer)
                    buffer.append(UInt8(ascii: "\n"))
                }
            }
            batch.removeAll(keepingCapacity: true)
            for change in changes { switchTo(change) }
            files.tick()
            condition.lock()
            unmatched += unmatchedHere
            filesCounters = files.counters
            condition.unlock()
            if stop { break }
        }
        files.close()
        condition.lock()
        filesCounters = files.counters
        finished = true
        condition.broadcast()
        condition.unlock()
    }
}
