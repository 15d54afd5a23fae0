import Logging
import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// Writes frames as NDJSON to a file descriptor (stdout or a file), buffered, whole lines only:
/// a write never ends inside a line, so a reader (or a file cut short by a kill) sees whole frames.
public final class LineWriter: FrameSink {
    public let encoder: FrameEncoder
    public private(set) var framesWritten: UInt64 = 0
    /// Frames lost to write errors (a closed pipe, a full disk).
    public private(set) var framesFailed: UInt64 = 0
    /// The reader closed the pipe (EPIPE).
    public private(set) var isClosed = false

    private let fd: Int32
    private let ownsDescriptor: Bool
    private let logger: Logger
    private var buffer: [UInt8] = []
    private var pendingFrames: UInt64 = 0
    private var loggedFailure = false
    private let flushThreshold = 1 << 16

    public init(fd: Int32, encoder: FrameEncoder, ownsDescriptor: Bool = false, logger: Logger) {
        self.fd = fd
        self.encoder = encoder
        self.ownsDescriptor = ownsDescriptor
        self.logger = logger
        buffer.reserveCapacity(flushThreshold + 4096)
    }

    /// Opens (creating or truncating) a file to write to.
    public convenience init(path: String, encoder: FrameEncoder, logger: Logger) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw IOError("cannot open \(path) for writing", errno: errno) }
        self.init(fd: fd, encoder: encoder, ownsDescriptor: true, logger: logger)
    }

    deinit {
        flush()
        if ownsDescriptor { close(fd) }
    }

    public func write(_ frame: FlowFrame) {
        encoder.encode(frame, into: &buffer)
        buffer.append(UInt8(ascii: "\n"))
        pendingFrames += 1
        if buffer.count >= flushThreshold { flush() }
    }

    public func flush() {
        guard !buffer.isEmpty else { return }
        let ok = buffer.withUnsafeBytes { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let end = Self.chunkEnd(bytes, from: offset)
                let n = Glibc.write(fd, bytes.baseAddress! + offset, end - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EPIPE { isClosed = true }
                    if !loggedFailure {
                        logger.error("writing frames failed: \(String(cString: strerror(errno)))")
                        loggedFailure = true
                    }
                    return false
                }
                offset += n
            }
            return true
        }
        if ok { framesWritten += pendingFrames } else { framesFailed += pendingFrames }
        pendingFrames = 0
        buffer.removeAll(keepingCapacity: true)
    }

    /// Each write(2) ends at a line end and holds at most one page (unless one line is longer):
    /// the kernel copies that much in one go, so a process killed between writes leaves whole
    /// lines only.
    static let chunkLimit = 4096

    static func chunkEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        let limit = min(bytes.count, start + chunkLimit)
        if limit == bytes.count { return limit }
        var end = limit
        while end > start, bytes[end - 1] != UInt8(ascii: "\n") { end -= 1 }
        if end > start { return end }
        // One line longer than a page: write through to its end.
        end = limit
        while end < bytes.count, bytes[end - 1] != UInt8(ascii: "\n") { end += 1 }
        return end
    }
}
