import SensorCore

/// Several outputs at once (Kronos or stdout, plus IPFIX collectors): every frame to each, each
/// with its own queue and counters, so none can stall capture or another. `framesWritten` is the
/// first output's (the one the stats line has always meant).
public final class FanOutSink: FrameSink {
    public let sinks: [any FrameSink]

    /// `sinks` in order; the first is the primary output.
    public init(_ sinks: [any FrameSink]) {
        precondition(!sinks.isEmpty, "a fan-out needs an output")
        self.sinks = sinks
    }

    public func write(_ frame: FlowFrame) {
        for sink in sinks { sink.write(frame) }
    }

    public func flush() {
        for sink in sinks { sink.flush() }
    }

    public var framesWritten: UInt64 { sinks[0].framesWritten }

    /// Each output gets up to `timeout` seconds, one after the other.
    public func finish(timeout: Double) {
        for sink in sinks { sink.finish(timeout: timeout) }
    }

    /// All outputs' counters; the same key from two outputs (two IPFIX collectors) is summed.
    public var statistics: [(key: String, value: UInt64)] {
        var merged: [(key: String, value: UInt64)] = []
        var position: [String: Int] = [:]
        for (key, value) in sinks.flatMap(\.statistics) {
            if let index = position[key] {
                merged[index].value &+= value
            } else {
                position[key] = merged.count
                merged.append((key, value))
            }
        }
        return merged
    }

    /// The primary output is gone (a closed stdout): what stops `dps run`.
    public var isClosed: Bool { sinks[0].isClosed }
}
