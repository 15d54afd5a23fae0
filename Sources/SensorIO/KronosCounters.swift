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
