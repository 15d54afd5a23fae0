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
    /// The most bytes in one queue buffer, which the writer takes and sends as one batch.
    public var batchBytes: Int
    /// SO_SNDBUF for the socket (tests use a small one to force partial writes); nil: the default.
    public var sendBufferBytes: Int32?

    public init(
        socketPath: String, queueFrames: Int, initialBackoff: Double = 0.1,
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
}
