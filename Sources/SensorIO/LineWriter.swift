import Logging
import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// Writes frames as NDJSON to a file descriptor (stdout or a file), buffered, whole lines only,
/// so that a reader, or a file cut short by a kill, sees whole frames.
///
/// Whole lines even under SIGKILL: the kernel copies a write(2) into a file one page at a time and
/// stops between pages when the process is killed (it also sleeps there, killably, when too much
/// of the page cache is dirty), so a write that spans a page boundary can end at that boundary.
/// The output is therefore laid out in 4 KiB pages: a line that would cross a page boundary moves
/// to the next page, and the previous line is padded with spaces up to it (JSON allows whitespace
/// after a value). Each write(2) then stays within one page and ends at a line end. The padding is
/// a function of the frames written, so the same frames give the same bytes, to a file or a pipe.
/// Two exceptions, both outside what `dps` writes in practice: a line longer than a page is
/// written in one go (a frame line is under 1 KiB); and the first line after an explicit
/// `flush()` (`dps run --stdout` flushes every poll) is padded at its own start instead, because
/// the line before it is already written.
public final class LineWriter: FrameSink {
    public let encoder: FrameEncoder
    public private(set) var framesWritten: UInt64 = 0
    /// Frames lost to write errors (a closed pipe, a full disk).
    public private(set) var framesFailed: UInt64 = 0
    /// The reader closed the pipe (EPIPE).
    public private(set) var isClosed = false

    static let pageSize = 4096

    private let fd: Int32
    private let ownsDescriptor: Bool
    private let logger: Logger
    /// Lines not yet written; `buffer[0]` is at stream offset `offset`.
    private var buffer: [UInt8] = []
    private var offset: Int
    /// Where the last line in `buffer` starts (after its padding, if any).
    private var lastLineStart = 0
    private var pendingFrames: UInt64 = 0
    private var loggedFailure = false
    private let flushThreshold = 1 << 16

    public init(fd: Int32, encoder: FrameEncoder, ownsDescriptor: Bool = false, logger: Logger) {
        self.fd = fd
        self.encoder = encoder
        self.ownsDescriptor = ownsDescriptor
        self.logger = logger
        offset = Self.startOffset(fd)
        buffer.reserveCapacity(flushThreshold + 4 * Self.pageSize)
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
        let start = buffer.count
        encoder.encode(frame, into: &buffer)
        buffer.append(UInt8(ascii: "\n"))
        lastLineStart = start
        let used = (offset + start) % Self.pageSize
        let length = buffer.count - start
        if used != 0, used + length > Self.pageSize, length <= Self.pageSize {
            let room = Self.pageSize - used
            // Before the previous line's end if it is still here, else before this line.
            let at = start > 0 ? start - 1 : start
            buffer.insert(contentsOf: repeatElement(UInt8(ascii: " "), count: room), at: at)
            lastLineStart = start + room
        }
        pendingFrames += 1
        if buffer.count >= flushThreshold { write(upTo: lastLineStart, frames: pendingFrames - 1) }
    }

    /// Writes everything buffered.
    public func flush() {
        write(upTo: buffer.count, frames: pendingFrames)
    }

    /// Writes `buffer[..<end]`, which holds `frames` lines, and keeps the rest. A threshold flush
    /// keeps the last line, so the next one can still pad before its end.
    private func write(upTo end: Int, frames: UInt64) {
        guard end > 0 else { return }
        let ok = buffer.withUnsafeBytes { all -> Bool in
            let bytes = UnsafeRawBufferPointer(rebasing: all[..<end])
            var written = 0
            while written < bytes.count {
                let chunk = Self.chunkEnd(bytes, from: written, streamOffset: offset)
                let code = writeAll(fd, UnsafeRawBufferPointer(rebasing: bytes[written..<chunk]))
                if code != 0 {
                    if code == EPIPE { isClosed = true }
                    if !loggedFailure {
                        logger.error("writing frames failed: \(String(cString: strerror(code)))")
                        loggedFailure = true
                    }
                    return false
                }
                written = chunk
            }
            return true
        }
        if ok { framesWritten += frames } else { framesFailed += frames }
        pendingFrames -= frames
        offset += end
        buffer.removeSubrange(..<end)
        lastLineStart = max(0, lastLineStart - end)
    }

    /// Where the write(2) starting at `bytes[start]` ends: at the next page boundary of the stream
    /// (`bytes[0]` is at `streamOffset`), which the layout puts at a line end, or at the end of the
    /// bytes; if that falls inside a line (one longer than a page), at the end of that line.
    static func chunkEnd(_ bytes: UnsafeRawBufferPointer, from start: Int, streamOffset: Int) -> Int {
        let position = streamOffset + start
        let boundary = position - position % pageSize + pageSize
        var end = min(bytes.count, boundary - streamOffset)
        while end < bytes.count, bytes[end - 1] != UInt8(ascii: "\n") { end += 1 }
        return end
    }

    /// The stream offset of the first byte this writer writes: the file's current offset (its size
    /// when opened for appending), or 0 for a pipe or a terminal.
    private static func startOffset(_ fd: Int32) -> Int {
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return 0 }
        if fcntl(fd, F_GETFL) & O_APPEND != 0 { return Int(status.st_size) }
        return max(0, Int(lseek(fd, 0, SEEK_CUR)))
    }
}
