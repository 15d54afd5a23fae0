import CZlib
import CZstd

/// How dataset files are compressed.
public enum DatasetCompression: String, Sendable, CaseIterable {
    /// zlib's deflate in a gzip wrapper (RFC 1952): `.gz`.
    case gzip
    /// Zstandard (RFC 8878): `.zst`.
    case zstd

    /// The file name's ending, `.ndjson` included.
    public var fileExtension: String {
        switch self {
        case .gzip: ".ndjson.gz"
        case .zstd: ".ndjson.zst"
        }
    }

    /// A fast level: zlib 1 (of 1–9), zstd 1 (of 1–19).
    public var defaultLevel: Int32 { 1 }
}

/// A compression failure (zlib or zstd refused a call): not expected with valid input.
public struct CompressionError: Error, CustomStringConvertible {
    public var description: String
}

/// One compressed stream (one file), fed in pieces.
///
/// `header` (a `DatasetHeader`'s JSON) goes where decompressors skip it: the gzip header's comment
/// field, or a zstd skippable frame before the data frame. `compress(_:flush:into:)` appends the
/// compressed bytes to `out`; with `flush`, every input byte given so far can be decoded from what
/// was appended (zlib's `Z_SYNC_FLUSH`, zstd's `ZSTD_e_flush`), so a file cut off after a flushed
/// write still decodes up to there. `finish(into:)` ends the stream (the gzip trailer, the zstd
/// frame's end).
public final class StreamCompressor {
    public let kind: DatasetCompression
    private var deflater: UnsafeMutablePointer<z_stream>?
    /// The gzip header's comment, NUL-terminated; zlib reads it during the first `deflate` call.
    private var gzipComment: UnsafeMutablePointer<UInt8>?
    private var gzipHeader: UnsafeMutablePointer<gz_header>?
    private var zstd: OpaquePointer?
    /// Bytes to put before the first output (the zstd skippable frame).
    private var prefix: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)

    public init(kind: DatasetCompression, level: Int32, header: [UInt8]) throws(CompressionError) {
        self.kind = kind
        switch kind {
        case .gzip:
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            // 15 + 16: a gzip wrapper; memory level 8 is zlib's default.
            guard deflateInit2_(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                Int32(MemoryLayout<z_stream>.size)) == Z_OK
            else {
                stream.deallocate()
                throw CompressionError(description: "zlib: deflateInit2 failed")
            }
            deflater = stream
            let comment = UnsafeMutablePointer<UInt8>.allocate(capacity: header.count + 1)
            comment.initialize(from: header.map { $0 == 0 ? 0x20 : $0 }, count: header.count)
            comment[header.count] = 0
            gzipComment = comment
            let gz = UnsafeMutablePointer<gz_header>.allocate(capacity: 1)
            gz.initialize(to: gz_header())
            gz.pointee.os = 3  // Unix
            gz.pointee.comment = UnsafeMutablePointer<Bytef>(comment)
            gzipHeader = gz
            deflateSetHeader(stream, gz)
        case .zstd:
            guard let context = ZSTD_createCCtx() else { throw CompressionError(description: "zstd: no context") }
            zstd = context
            ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
            ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
            if !header.isEmpty {
                prefix = Self.littleEndian(DatasetHeader.zstdFrameMagic) + Self.littleEndian(UInt32(header.count)) + header
            }
        }
    }

    deinit {
        if let deflater {
            deflateEnd(deflater)
            deflater.deallocate()
        }
        gzipHeader?.deallocate()
        gzipComment?.deallocate()
        if let zstd { ZSTD_freeCCtx(zstd) }
    }

    /// Compresses `input`, appending to `out`.
    public func compress(_ input: UnsafeRawBufferPointer, flush: Bool, into out: inout [UInt8]) throws(CompressionError) {
        try run(input, mode: flush ? .flush : .none, into: &out)
    }

    /// Ends the stream; nothing may be compressed after.
    public func finish(into out: inout [UInt8]) throws(CompressionError) {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), mode: .finish, into: &out)
    }

    private enum Mode { case none, flush, finish }

    private func run(_ input: UnsafeRawBufferPointer, mode: Mode, into out: inout [UInt8]) throws(CompressionError) {
        if !prefix.isEmpty {
            out.append(contentsOf: prefix)
            prefix = []
        }
        if let stream = deflater {
            try deflate(stream, input, mode: mode, into: &out)
        } else if let zstd {
            try compressZstd(zstd, input, mode: mode, into: &out)
        }
    }

    private func deflate(
        _ stream: UnsafeMutablePointer<z_stream>, _ input: UnsafeRawBufferPointer, mode: Mode, into out: inout [UInt8]
    ) throws(CompressionError) {
        let flush: Int32 = switch mode {
        case .none: Z_NO_FLUSH
        case .flush: Z_SYNC_FLUSH
        case .finish: Z_FINISH
        }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        let capacity = chunk.count
        while true {
            let (result, produced) = chunk.withUnsafeMutableBytes { raw -> (Int32, Int) in
                stream.pointee.next_out = raw.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(capacity)
                let result = CZlib.deflate(stream, flush)
                return (result, capacity - Int(stream.pointee.avail_out))
            }
            out.append(contentsOf: chunk[0..<produced])
            if result == Z_STREAM_END { return }
            guard result == Z_OK || result == Z_BUF_ERROR else {
                throw CompressionError(description: "zlib: deflate failed (\(result))")
            }
            // Done when zlib took every input byte and had room left (nothing pending).
            if stream.pointee.avail_in == 0 && produced < capacity && mode != .finish { return }
        }
    }

    private func compressZstd(
        _ context: OpaquePointer, _ input: UnsafeRawBufferPointer, mode: Mode, into out: inout [UInt8]
    ) throws(CompressionError) {
        let directive: ZSTD_EndDirective = switch mode {
        case .none: ZSTD_e_continue
        case .flush: ZSTD_e_flush
        case .finish: ZSTD_e_end
        }
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            let (remaining, produced) = chunk.withUnsafeMutableBytes { raw -> (Int, Int) in
                var sink = ZSTD_outBuffer(dst: raw.baseAddress, size: raw.count, pos: 0)
                let remaining = ZSTD_compressStream2(context, &sink, &source, directive)
                return (remaining, sink.pos)
            }
            if ZSTD_isError(remaining) != 0 {
                throw CompressionError(description: "zstd: \(String(cString: ZSTD_getErrorName(remaining)))")
            }
            out.append(contentsOf: chunk[0..<produced])
            // ZSTD_e_continue: done when all input is taken; flush/end: when nothing is left to write.
            if mode == .none ? source.pos == source.size : remaining == 0 { return }
        }
    }

    private static func littleEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)]
    }
}
