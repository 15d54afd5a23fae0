import Testing

@testable import SensorIO

/// The Kronos sink's queue on its own: buffers, line boundaries, drop-oldest, reuse.
@Suite("Kronos queue")
struct KronosQueueTests {
    /// A line of `length` bytes (newline included) whose text starts with `n`.
    static func line(_ n: Int, length: Int = 100) -> [UInt8] {
        let head = Array("\(n) ".utf8)
        return head + [UInt8](repeating: UInt8(ascii: "x"), count: length - head.count - 1) + [10]
    }

    /// Appends `line`; returns whether the oldest was dropped.
    @discardableResult
    static func append(_ queue: inout KronosQueue, _ line: [UInt8]) -> Bool {
        line.withUnsafeBytes { queue.append($0) }
    }

    /// The lines of a taken buffer, from its `first`.
    static func lines(_ taken: KronosLines) -> [[UInt8]] {
        (taken.first..<taken.ends.count).map { i in
            Array(taken.bytes[(i == 0 ? 0 : taken.ends[i - 1])..<taken.ends[i]])
        }
    }

    /// Takes everything, buffer by buffer, recycling each as the writer does.
    static func drain(_ queue: inout KronosQueue) -> [[UInt8]] {
        var out: [[UInt8]] = []
        while var taken = queue.takeOldest() {
            #expect(taken.bytes.count <= queue.bufferBytes)
            out += lines(taken)
            queue.recycle(&taken)
        }
        return out
    }

    @Test func lineThatDoesNotFitTheSpaceLeftStartsANewBuffer() {
        var queue = KronosQueue(capacity: 100, bufferBytes: 1_000)
        for i in 0..<9 { Self.append(&queue, Self.line(i)) }  // 900 bytes: one buffer
        #expect(queue.bufferCount == 1)
        Self.append(&queue, Self.line(9, length: 101))  // 1,001 would not fit
        #expect(queue.bufferCount == 2)
        Self.append(&queue, Self.line(10, length: 899))  // exactly fills the second
        #expect(queue.bufferCount == 2)
        Self.append(&queue, Self.line(11, length: 4))
        #expect(queue.bufferCount == 3 && queue.count == 12)

        let first = queue.takeOldest()!
        #expect(first.bytes.count == 900 && Self.lines(first) == (0..<9).map { Self.line($0) })
        let second = queue.takeOldest()!
        #expect(second.bytes.count == 1_000)
        #expect(Self.lines(second) == [Self.line(9, length: 101), Self.line(10, length: 899)])
        #expect(Self.lines(queue.takeOldest()!) == [Self.line(11, length: 4)])
        #expect(queue.takeOldest() == nil && queue.count == 0)
    }

    @Test func fullQueueDropsExactlyTheOldestAcrossBuffers() {
        var queue = KronosQueue(capacity: 25, bufferBytes: 1_000)
        var dropped = 0
        for i in 0..<100 where Self.append(&queue, Self.line(i)) { dropped += 1 }
        #expect(dropped == 75 && queue.count == 25)
        // 25 lines of 100 bytes need 3 buffers: the fully dropped ones were released.
        #expect(queue.bufferCount == 3)
        #expect(Self.drain(&queue) == (75..<100).map { Self.line($0) })
    }

    @Test func partlyDroppedBufferIsTakenFromItsFirstLiveLine() {
        var queue = KronosQueue(capacity: 5, bufferBytes: 1_000)
        for i in 0..<8 { Self.append(&queue, Self.line(i)) }
        let taken = queue.takeOldest()!
        #expect(taken.first == 3 && taken.firstStart == 300)
        #expect(Self.lines(taken) == (3..<8).map { Self.line($0) })
    }

    @Test func reusedBuffersCarryNothingOver() {
        // Many fill-and-drain rounds with lines of varying size: every buffer is reused many
        // times (the writer gives each back), and no byte or boundary of an earlier round leaks.
        var queue = KronosQueue(capacity: 1_000, bufferBytes: 1_000)
        var next = 0
        for round in 0..<50 {
            let lengths = (0..<(round % 7 + 3)).map { 2 + ($0 * 37 + round * 11) % 300 }
            let expected = lengths.map { length -> [UInt8] in
                defer { next += 1 }
                return Self.line(next, length: max(length, "\(next) ".utf8.count + 1))
            }
            for line in expected { Self.append(&queue, line) }
            #expect(Self.drain(&queue) == expected)
        }
    }

    @Test func removeAllCountsWhatWasHeld() {
        var queue = KronosQueue(capacity: 10, bufferBytes: 1_000)
        for i in 0..<14 { Self.append(&queue, Self.line(i)) }
        #expect(queue.removeAll() == 10)
        #expect(queue.count == 0 && queue.takeOldest() == nil)
        Self.append(&queue, Self.line(99))
        #expect(Self.drain(&queue) == [Self.line(99)])
    }
}
