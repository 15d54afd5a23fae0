/// What the IPFIX sink has done. At any moment
/// `produced == recordsSent + dropped + lost + undelivered + queued + inFlight`; once it has
/// finished `queued` and `inFlight` are 0.
public struct IPFIXCounters: Sendable, Equatable {
    /// Frames handed to the sink.
    public var produced: UInt64 = 0
    /// Data records in messages the kernel took (UDP: sent; TCP: written to the connection).
    public var recordsSent: UInt64 = 0
    /// Messages the kernel took.
    public var messagesSent: UInt64 = 0
    /// Of those, messages that carried the template set (both templates).
    public var templatesSent: UInt64 = 0
    /// Frames dropped: the oldest when the queue was full (lossy mode), plus any whose record is
    /// over `IPFIXMessage.maximumRecordBytes`.
    public var dropped: UInt64 = 0
    /// Of `dropped`, records too large for any message.
    public var oversize: UInt64 = 0
    /// Messages sent alone because their one record did not fit `mtu` with the headers.
    public var oversizeMessages: UInt64 = 0
    /// Failed sends: UDP errors (ECONNREFUSED after an ICMP port unreachable, ENETUNREACH...),
    /// TCP connections lost while sending.
    public var sendErrors: UInt64 = 0
    /// Records of UDP messages that could not be sent (a send failed, even after its retry).
    public var lost: UInt64 = 0
    /// Frames still queued or in hand when the shutdown drain ran out of time, or written after it.
    public var undelivered: UInt64 = 0
    /// Connections made (UDP: the socket, once; TCP: each connection).
    public var connections: UInt64 = 0
    /// Connections made after the first (TCP).
    public var reconnects: UInt64 = 0
    /// Connect attempts that failed (name resolution, refused, timed out).
    public var connectFailures: UInt64 = 0
    /// TCP: messages half-written when a connection broke, sent again whole on the next.
    public var resentMessages: UInt64 = 0
    /// Records waiting in the queue now.
    public var queued: UInt64 = 0
    /// Records taken from the queue by the writer and not yet sent.
    public var inFlight: UInt64 = 0
    /// The most records the queue has held at once.
    public var queuedPeak: UInt64 = 0
}
