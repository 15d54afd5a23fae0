/// Lines stored back to back in one buffer, with where each ends. The writer sends a whole
/// buffer in large `send` calls.
struct KronosLines {
    var bytes: [UInt8] = []
    /// Offset just past each line's newline.
    var ends: [Int] = []
    /// Lines before this index are gone: dropped (queue full) or, in the writer's batch, written.
    var first = 0

    /// Lines still held.
    var count: Int { ends.count - first }
    /// Where line `first` starts.
    var firstStart: Int { first == 0 ? 0 : ends[first - 1] }

    /// Empty, keeping the capacity for reuse.
    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        first = 0
    }
}

/// The sink's bounded queue: lines in buffers of up to `bufferBytes`, oldest first. A line is
/// copied to the end of the newest buffer; the writer takes the oldest buffer whole and gives it
/// back emptied for reuse, so a line costs no allocation. Over `capacity` lines, the oldest line
/// is dropped by moving its buffer's `first` index. Every buffer held has at least one line.
/// Not thread-safe: the sink holds its lock around every call.
struct KronosQueue {
    /// Most lines held.
    let capacity: Int
    /// Most bytes in one buffer (one batch of the writer); no line is longer.
    let bufferBytes: Int
    private var buffers: [KronosLines] = []
    /// Emptied buffers waiting to be filled again.
    private var spare: [KronosLines] = []
    /// Lines held.
    private(set) var count = 0

    init(capacity: Int, bufferBytes: Int) {
        self.capacity = max(1, capacity)
        self.bufferBytes = bufferBytes
    }

    /// Buffers held (tests).
    var bufferCount: Int { buffers.count }

    /// Appends one line (at most `bufferBytes` long). Returns true when the oldest line was
    /// dropped to stay within `capacity`.
    mutating func append(_ line: UnsafeRawBufferPointer) -> Bool {
        precondition(line.count <= bufferBytes, "line longer than a queue buffer")
        if buffers.isEmpty || buffers[buffers.count - 1].bytes.count + line.count > bufferBytes {
            var fresh = spare.popLast() ?? KronosLines()
            fresh.bytes.reserveCapacity(bufferBytes)
            buffers.append(fresh)
        }
        let last = buffers.count - 1
        buffers[last].bytes.append(contentsOf: line)
        buffers[last].ends.append(buffers[last].bytes.count)
        count += 1
        guard count > capacity else { return false }
        buffers[0].first += 1
        count -= 1
        if buffers[0].count == 0 {
            var emptied = buffers.removeFirst()
            recycle(&emptied)
        }
        return true
    }

    /// The oldest buffer, whole (lines from its `first`); nil when nothing is queued.
    mutating func takeOldest() -> KronosLines? {
        guard count > 0 else { return nil }
        let lines = buffers.removeFirst()
        count -= lines.count
        return lines
    }

    /// Keeps a couple of emptied buffers for reuse; more would only hold memory. Emptied here,
    /// through `inout` where the caller holds the only reference, so the capacity is kept.
    mutating func recycle(_ lines: inout KronosLines) {
        guard spare.count < 2 else { return }
        lines.reset()
        spare.append(lines)
    }

    /// Empties the queue; returns how many lines it held.
    mutating func removeAll() -> Int {
        let held = count
        buffers.removeAll()
        count = 0
        return held
    }
}
