import CZlib
import CZstd

#if canImport(Glibc)
import Glibc
#endif

/// Reads a file, or standard input (`-`), that may be compressed: the format comes from the first
/// bytes, never from the name.
///
/// - gzip (`1f 8b`, RFC 1952): every member, one after the other (`cat a.gz b.gz`); zero bytes
///   after a member (padding) are skipped, anything else there is an error.
/// - zstd (`28 b5 2f fd`, or a skippable frame `0x184D2A5?` first; RFC 8878): every frame;
///   skippable frames are skipped wherever they are.
/// - anything else: plain bytes, passed through.
///
/// Memory is bounded: 64 KiB of input, the decoder's state (zlib: a 32 KiB window; zstd: the
/// frame's window, refused above zstd's default limit of 128 MiB), and for a gzip file up to
/// `maxHeaderBytes` for the header's comment.
///
/// **Cut-short files.** A compressed stream that stops mid-way (a file whose writer was killed) is
/// not an error: `read(into:)` returns every byte that can be decoded, then 0, and `endedEarly` is
/// true. Damage (bad compressed data, a failed checksum, bytes that are no member or frame) throws
/// an `IOError` naming the file and the byte offset; what was returned before it stays good.
public final class DecompressingReader {
    public enum Format: String, Sendable {
        case plain, gzip, zstd
    }

    /// As given (`-` for standard input); it names the file in errors.
    public let path: String
    /// Known from `init`.
    public private(set) var format = Format.plain
    /// The `DatasetHeader` the file carries: the first gzip member's comment (FCOMMENT), or the
    /// first zstd skippable frame with magic `0x184D2A50` before the first data frame that holds
    /// one. nil when there is none or it is not a header this build reads. Known from `init`.
    public private(set) var header: DatasetHeader?
    /// After `read(into:)` returned 0: whether the compressed stream stopped mid-way (inside a
    /// gzip member or its header, a zstd frame, or a skippable frame). Always false for plain files.
    public private(set) var endedEarly = false
    /// Bytes of the file consumed so far (compressed bytes; for a plain file, the bytes returned).
    public private(set) var bytesConsumed: UInt64 = 0

    /// The largest header read: a gzip comment or skippable frame beyond it is skipped, not read.
    public static let maxHeaderBytes = 1 << 20

    private let fd: Int32
    private let ownsDescriptor: Bool
    private let input: UnsafeMutableRawBufferPointer
    /// The unconsumed input is `input[inputStart..<inputEnd]`.
    private var inputStart = 0
    private var inputEnd = 0
    private var inputAtEOF = false
    /// `read(into:)` has returned 0 (or thrown): it stays so.
    private var finished = false
    /// Damage found by a call that also decoded bytes: thrown by the next call, after they were
    /// returned.
    private var pendingError: IOError?

    private var inflater: UnsafeMutablePointer<z_stream>?
    private var gzipHeader: UnsafeMutablePointer<gz_header>?
    private var gzipComment: UnsafeMutablePointer<UInt8>?
    /// Between two gzip members: the next one has not started.
    private var betweenMembers = false

    private var zstd: OpaquePointer?
    /// The last `ZSTD_decompressStream` left a frame unfinished.
    private var zstdFrameOpen = false

    private static let inputSize = 1 << 16

    /// Opens `path` (`-`: standard input, not closed at the end), reads the first bytes to know the
    /// format, and the header if there is one. Throws an `IOError` when the file cannot be opened
    /// or read, or its compressed header is damaged.
    public convenience init(path: String) throws {
        if path == "-" {
            try self.init(fd: STDIN_FILENO, path: path, ownsDescriptor: false)
        } else {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw IOError("cannot open \(path)", errno: errno) }
            try self.init(fd: fd, path: path, ownsDescriptor: true)
        }
    }

    /// Reads from an open descriptor; `path` names it in errors. With `ownsDescriptor` it is closed
    /// at deinit (also when `init` throws).
    public init(fd: Int32, path: String, ownsDescriptor: Bool) throws {
        self.fd = fd
        self.path = path
        self.ownsDescriptor = ownsDescriptor
        input = .allocate(byteCount: Self.inputSize, alignment: 16)
        // From here `self` is whole: when `init` throws, deinit still frees and closes.
        let start = try peekMagic()
        if start.count >= 2 && start[0] == 0x1F && start[1] == 0x8B {
            format = .gzip
            try startGzip()
        } else if Self.isZstdFrame(start) || Self.isSkippableFrame(start) {
            format = .zstd
            try startZstd()
        }
    }

    deinit {
        if let inflater {
            inflateEnd(inflater)
            inflater.deallocate()
        }
        gzipHeader?.deallocate()
        gzipComment?.deallocate()
        if let zstd { ZSTD_freeDCtx(zstd) }
        if ownsDescriptor { close(fd) }
        input.deallocate()
    }

    /// Fills `buffer` with the next decoded bytes; returns how many, 0 at the end (then see
    /// `endedEarly`). Throws an `IOError` when the file cannot be read or its data is damaged.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, !buffer.isEmpty else { return 0 }
        if let pendingError {
            finished = true
            throw pendingError
        }
        do {
            let count: Int
            switch format {
            case .plain: count = try readPlain(into: buffer)
            case .gzip: count = try inflate(into: buffer)
            case .zstd: count = try decompressZstd(into: buffer)
            }
            if count == 0 { finished = true }
            return count
        } catch {
            finished = true
            throw error
        }
    }

    // MARK: - Input

    private var available: Int { inputEnd - inputStart }

    /// Reads once more into the free space after the unconsumed input (moved to the front first).
    /// Returns the bytes read; 0 sets `inputAtEOF`.
    @discardableResult
    private func fillInput() throws -> Int {
        if inputAtEOF { return 0 }
        if inputStart > 0 {
            if available > 0, let base = input.baseAddress {
                memmove(base, base + inputStart, available)
            }
            inputEnd = available
            inputStart = 0
        }
        guard inputEnd < input.count, let base = input.baseAddress else { return 0 }
        while true {
            let n = Glibc.read(fd, base + inputEnd, input.count - inputEnd)
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError("cannot read \(path)", errno: errno)
            }
            if n == 0 { inputAtEOF = true }
            inputEnd += n
            return n
        }
    }

    /// Reads until `count` unconsumed bytes are there or the input ends; true when they are.
    private func ensureInput(_ count: Int) throws -> Bool {
        while available < count {
            if try fillInput() == 0 { return false }
        }
        return true
    }

    private func consume(_ count: Int) {
        inputStart += count
        bytesConsumed += UInt64(count)
    }

    private func byte(_ offset: Int) -> UInt8 { input[inputStart + offset] }

    /// Up to four first bytes, not consumed.
    private func peekMagic() throws -> [UInt8] {
        _ = try ensureInput(4)
        return (0..<min(4, available)).map { byte($0) }
    }

    private static func isZstdFrame(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes.starts(with: [0x28, 0xB5, 0x2F, 0xFD])
    }

    private static func isSkippableFrame(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0] & 0xF0 == 0x50 && bytes[1] == 0x2A && bytes[2] == 0x4D && bytes[3] == 0x18
    }

    private func damaged(_ what: String) -> IOError {
        IOError("\(path): not valid \(format.rawValue) data at byte \(bytesConsumed): \(what)")
    }

    // MARK: - Plain

    private func readPlain(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if available == 0 {
            inputStart = 0
            inputEnd = 0
            if try fillInput() == 0 { return 0 }
        }
        let count = min(available, buffer.count)
        buffer.baseAddress?.copyMemory(from: input.baseAddress! + inputStart, byteCount: count)
        consume(count)
        return count
    }

    // MARK: - gzip

    /// Sets up zlib for gzip (windowBits 15 + 16) and reads the first member's header, for its
    /// comment.
    private func startGzip() throws {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard inflateInit2_(stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            throw IOError("\(path): zlib could not start (out of memory?)")
        }
        inflater = stream
        let comment = UnsafeMutablePointer<UInt8>.allocate(capacity: Self.maxHeaderBytes)
        gzipComment = comment
        let head = UnsafeMutablePointer<gz_header>.allocate(capacity: 1)
        head.initialize(to: gz_header())
        head.pointee.comment = comment
        head.pointee.comm_max = UInt32(Self.maxHeaderBytes)
        gzipHeader = head
        inflateGetHeader(stream, head)

        // Z_BLOCK stops right after the gzip header, before any data; nothing is written.
        var sink: UInt8 = 0
        while head.pointee.done == 0 {
            if available == 0 && !inputAtEOF { try fillInput() }
            if available == 0 {
                endedEarly = true
                finished = true
                return
            }
            let before = available
            stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self) + inputStart
            stream.pointee.avail_in = UInt32(before)
            let result = withUnsafeMutablePointer(to: &sink) { out -> Int32 in
                stream.pointee.next_out = out
                stream.pointee.avail_out = 0
                return CZlib.inflate(stream, Z_BLOCK)
            }
            consume(before - Int(stream.pointee.avail_in))
            guard result == Z_OK || result == Z_BUF_ERROR else { throw damaged(zlibReason(result)) }
        }
        if let text = head.pointee.comment {
            // zlib cuts a longer comment at comm_max, without its NUL: then it is not read.
            let length = strnlen(UnsafeRawPointer(text).assumingMemoryBound(to: CChar.self), Self.maxHeaderBytes)
            if length < Self.maxHeaderBytes {
                header = DatasetHeader.parse(Array(UnsafeBufferPointer(start: text, count: length)))
            }
        }
        // Later members' headers are not kept (inflateReset forgets `head`).
        gzipComment?.deallocate()
        gzipComment = nil
        head.pointee.comment = nil
        head.pointee.comm_max = 0
    }

    private func inflate(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let stream = inflater else { return 0 }
        let room = UInt32(clamping: buffer.count)
        while true {
            if betweenMembers {
                guard try startNextMember(stream) else { return 0 }
            }
            if available == 0 && !inputAtEOF { try fillInput() }
            let before = available
            stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self) + inputStart
            stream.pointee.avail_in = UInt32(before)
            stream.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = room
            let result = CZlib.inflate(stream, Z_NO_FLUSH)
            consume(before - Int(stream.pointee.avail_in))
            let produced = Int(room - stream.pointee.avail_out)
            switch result {
            case Z_STREAM_END:
                betweenMembers = true
                if produced > 0 { return produced }
            case Z_OK:
                if produced > 0 { return produced }
            case Z_BUF_ERROR:
                // No progress: more input is needed, and at the end of the file there is none.
                if produced > 0 { return produced }
                if available == 0 && inputAtEOF {
                    endedEarly = true
                    return 0
                }
                // Input and room were there: zlib never stalls so (a guard against a loop).
                guard available == 0 || before != available else { throw damaged("zlib made no progress") }
            default:
                // The bytes decoded before the damage (a failed check comes after all of them).
                if produced > 0 {
                    pendingError = damaged(zlibReason(result))
                    return produced
                }
                throw damaged(zlibReason(result))
            }
        }
    }

    /// After a member: skips zero padding; true when another member starts (zlib is reset for
    /// it), false at the end of the file (`endedEarly` when it ends inside a member's magic).
    private func startNextMember(_ stream: UnsafeMutablePointer<z_stream>) throws -> Bool {
        while true {
            guard try ensureInput(1) else { return false }
            if byte(0) == 0 {
                consume(1)
                continue
            }
            guard byte(0) == 0x1F else { break }
            guard try ensureInput(2) else {  // the file ends after `1f`: a member cut short
                endedEarly = true
                consume(available)
                return false
            }
            guard byte(1) == 0x8B else { break }
            inflateReset(stream)
            betweenMembers = false
            return true
        }
        throw damaged("bytes after a gzip member that are not another member (\(String(byte(0), radix: 16)))")
    }

    private func zlibReason(_ code: Int32) -> String {
        if let message = inflater?.pointee.msg { return String(cString: message) }
        switch code {
        case Z_MEM_ERROR: return "out of memory"
        case Z_NEED_DICT: return "a preset dictionary is needed"
        default: return "zlib error \(code)"
        }
    }

    // MARK: - zstd

    /// Sets up a zstd context, after reading the skippable frames that come first (one may hold
    /// the header).
    private func startZstd() throws {
        guard let context = ZSTD_createDCtx() else { throw IOError("\(path): zstd could not start (out of memory?)") }
        zstd = context
        while true {
            _ = try ensureInput(4)
            let start = (0..<min(4, available)).map { byte($0) }
            guard Self.isSkippableFrame(start) else { return }  // a data frame, or the end
            guard try ensureInput(8) else {
                endedEarly = true
                finished = true
                return
            }
            let magic = (0..<4).reduce(UInt32(0)) { $0 | UInt32(byte($1)) << (8 * $1) }
            let size = (0..<4).reduce(Int(0)) { $0 | Int(byte($1 + 4)) << (8 * $1) }
            consume(8)
            let keep = header == nil && magic == DatasetHeader.zstdFrameMagic && size <= Self.maxHeaderBytes
            var content: [UInt8] = []
            var left = size
            while left > 0 {
                if available == 0, try fillInput() == 0 {
                    endedEarly = true
                    finished = true
                    return
                }
                let count = min(left, available)
                if keep {
                    content.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[inputStart..<inputStart + count]))
                }
                consume(count)
                left -= count
            }
            if keep { header = DatasetHeader.parse(content) }
        }
    }

    private func decompressZstd(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let context = zstd else { return 0 }
        while true {
            if available == 0 && !inputAtEOF { try fillInput() }
            let atEnd = available == 0 && inputAtEOF
            var source = ZSTD_inBuffer(src: input.baseAddress! + inputStart, size: available, pos: 0)
            var target = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let result = ZSTD_decompressStream(context, &target, &source)
            consume(source.pos)
            if ZSTD_isError(result) != 0 {
                let error = damaged(String(cString: ZSTD_getErrorName(result)))
                if target.pos > 0 {  // returned first, as for gzip
                    pendingError = error
                    return target.pos
                }
                throw error
            }
            // Called with no input after a frame's end, zstd asks for the next frame's header:
            // only a call that did something says whether a frame is open.
            if source.pos > 0 || target.pos > 0 { zstdFrameOpen = result != 0 }
            if target.pos > 0 { return target.pos }
            if atEnd {
                endedEarly = zstdFrameOpen
                return 0
            }
            // Input and room were there: zstd takes input into its own buffer, never stalls so.
            guard source.pos > 0 || source.size == 0 else { throw damaged("zstd made no progress") }
        }
    }
}
