import SensorCore

/// Where frames go: stdout, an NDJSON file, the Kronos socket.
public protocol FrameSink: AnyObject {
    /// Takes one frame. Never blocks for long: a sink that cannot keep up counts what it drops.
    func write(_ frame: FlowFrame)
    /// Pushes out what is buffered.
    func flush()
    /// Frames fully written so far.
    var framesWritten: UInt64 { get }
}
