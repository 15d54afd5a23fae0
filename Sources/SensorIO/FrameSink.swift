import SensorCore

/// Where frames go: stdout, an NDJSON file, the Kronos socket.
public protocol FrameSink: AnyObject {
    /// Takes one frame. Never blocks for long: a sink that cannot keep up counts what it drops.
    func write(_ frame: FlowFrame)
    /// Pushes out what is buffered.
    func flush()
    /// Frames fully written so far.
    var framesWritten: UInt64 { get }
    /// At shutdown: delivers what is still queued, for at most `timeout` seconds, then stops.
    /// Frames that could not be delivered are counted (and logged) by the sink.
    func finish(timeout: Double)
    /// The sink's own counters for the stats line, as `key=value` pairs (keys prefixed by sink).
    var statistics: [(key: String, value: UInt64)] { get }
    /// The destination is gone for good (the reader of a pipe exited): nothing written from now
    /// on can arrive.
    var isClosed: Bool { get }
}

extension FrameSink {
    public func finish(timeout: Double) { flush() }
    public var statistics: [(key: String, value: UInt64)] { [] }
    public var isClosed: Bool { false }
}
