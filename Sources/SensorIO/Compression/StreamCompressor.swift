import CIsal
import CZstd

/// How dataset files are compressed.
public enum DatasetCompression: String, Sendable, CaseIterable {
    /// Deflate in a gzip wrapper (RFC 1952), written by ISA-L's igzip: `.gz`.
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

    /// A fast level: igzip 1 (of 0–3), zstd 1 (of 1–19).
    public var defaultLevel: Int32 { 1 }
}

/// A compression failure (igzip or zstd refused a call): not expected with valid input.
public struct CompressionError: Error, CustomStringConvertible {
    public var description: String
}

/// One compressed stream (one file), fed in pieces.
///
/// `header` (a `DatasetHeader`'s JSON) goes where decompressors skip it: the gzip header's comment
/// field, or a zstd skippable frame before the data frame. `compress(_:flush:into:)` appends the
/// compressed bytes to `out`; with `flush`, every input byte given so far can be decoded from what
/// was appended (igzip's `SYNC_FLUSH`, zstd's `ZSTD_e_flush`), so a file cut off after a flushed
/// write still decodes up to there. `finish(into:)` ends the stream (the gzip trailer, the zstd
/// frame's end).
public final class StreamCompressor {
    public let kind: DatasetCompression
    private var deflater: UnsafeMutablePointer<isal_zstream>?
    private var zstd: OpaquePointer?
    /// Bytes to put before the first output (the zstd skippable frame).
    private var prefix: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)

    public init(kind: DatasetCompression, level: Int32, header: [UInt8]) throws(CompressionError) {
        self.kind = kind
        switch kind {
        case .gzip:
            // igzip writes the deflate data and the trailer; the header, with the comment, first.
            guard let stream = CIsal_stream_create(level) else {
                throw CompressionError(description: "igzip: no stream at level \(level) (0–3, or out of memory)")
            }
            deflater = stream
            let comment = header.map { $0 == 0 ? CChar(0x20) : CChar(bitPattern: $0) } + [0]
            var written: UInt32 = 0
            var room = header.count + 64
            while written == 0 {
                prefix = [UInt8](repeating: 0, count: room)
                written = prefix.withUnsafeMutableBufferPointer { out in
                    CIsal_write_header(stream, comment, out.baseAddress, UInt32(out.count))
                }
                room *= 2
            }
            prefix.removeSubrange(Int(written)...)
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
        CIsal_stream_free(deflater)
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
        _ stream: UnsafeMutablePointer<isal_zstream>, _ input: UnsafeRawBufferPointer, mode: Mode,
        into out: inout [UInt8]
    ) throws(CompressionError) {
        let flush: Int32 = switch mode {
        case .none: 0
        case .flush: 1
        case .finish: 2
        }
        var offset = 0
        let capacity = chunk.count
        while true {
            var consumed: UInt32 = 0
            var produced: UInt32 = 0
            var ended: Int32 = 0
            let result = chunk.withUnsafeMutableBytes { raw in
                CIsal_deflate(
                    stream, input.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + offset },
                    UInt32(input.count - offset), raw.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    UInt32(capacity), flush, &consumed, &produced, &ended)
            }
            guard result == COMP_OK else { throw CompressionError(description: "igzip: deflate failed (\(result))") }
            offset += Int(consumed)
            out.append(contentsOf: chunk[0..<Int(produced)])
            // Done when every input byte is taken and the output had room left (nothing pending),
            // or, ending, when the trailer is out.
            if mode == .finish ? ended != 0 : offset == input.count && Int(produced) < capacity { return }
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
