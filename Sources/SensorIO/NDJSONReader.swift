import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// A line of an NDJSON file that is not a FlowFrame: `file:line: what is wrong`.
public struct NDJSONLineError: Error, CustomStringConvertible, Equatable {
    public var path: String
    /// 1-based.
    public var line: UInt64
    public var message: String

    public init(path: String, line: UInt64, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String { "\(path):\(line): \(message)" }
}

/// Reads FlowFrames from an NDJSON file (or stdin, `-`), one JSON object per line; the file may be
/// gzip or zstd compressed (`DecompressingReader`: known by its first bytes, not its name).
///
/// Blank lines are skipped; a line ending in `\r\n` is read without the `\r`. Each other line must
/// be a FlowFrame object (see `FlowFrameJSON`); a line that is not is reported with its number and
/// the reading goes on. A compressed file cut short gives its lines up to the cut (the broken last
/// one is a bad line like any other), then `endedEarly` is true.
public final class NDJSONReader {
    public let path: String
    /// Lines read so far, blank ones included.
    public private(set) var linesRead: UInt64 = 0

    private let source: DecompressingReader

    /// Throws an `IOError` when the file cannot be opened or its compressed header is damaged.
    public init(path: String) throws {
        self.path = path
        source = try DecompressingReader(path: path)
    }

    public var format: DecompressingReader.Format { source.format }

    /// The `DatasetHeader` the compressed file carries, if any.
    public var header: DatasetHeader? { source.header }

    /// After `forEachFrame`: the compressed data stopped mid-way (the file was cut short).
    public var endedEarly: Bool { source.endedEarly }

    /// Calls `body` with each non-blank line's frame or error, in order. Throws an `IOError` when
    /// the file cannot be read, or what `body` throws (to stop early).
    public func forEachFrame(_ body: (Result<FlowFrame, NDJSONLineError>) throws -> Void) throws {
        try forEachLine { number, line in
            guard let line else {
                let message = "line longer than \(Self.maximumLineBytes) bytes (no FlowFrame is), skipped"
                try body(.failure(NDJSONLineError(path: path, line: number, message: message)))
                return
            }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
            do {
                try body(.success(FlowFrameJSON.parse(line)))
            } catch let error as FrameParseError {
                try body(.failure(NDJSONLineError(path: path, line: number, message: error.message)))
            }
        }
    }

    /// The longest line kept: a FlowFrame line is under 1 KiB. Beyond it a line's bytes are
    /// skipped to its end, so a small compressed file that inflates to one endless line cannot
    /// take the memory.
    public static let maximumLineBytes = 1 << 20

    /// Calls `body` with each line (nil: a line over `maximumLineBytes`, skipped).
    private func forEachLine(_ body: (UInt64, ArraySlice<UInt8>?) throws -> Void) throws {
        var pending: [UInt8] = []
        var overlong = false
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        func keep(_ bytes: ArraySlice<UInt8>) {
            guard !overlong else { return }
            if pending.count + bytes.count > Self.maximumLineBytes {
                overlong = true
                pending.removeAll()
            } else {
                pending.append(contentsOf: bytes)
            }
        }
        while true {
            let n = try chunk.withUnsafeMutableBytes { try source.read(into: $0) }
            if n == 0 { break }
            var start = 0
            for i in 0..<n where chunk[i] == 0x0A {
                keep(chunk[start..<i])
                try emit(&pending, &overlong, body)
                start = i + 1
            }
            keep(chunk[start..<n])
        }
        if !pending.isEmpty || overlong { try emit(&pending, &overlong, body) }
    }

    private func emit(
        _ line: inout [UInt8], _ overlong: inout Bool, _ body: (UInt64, ArraySlice<UInt8>?) throws -> Void
    ) throws {
        linesRead += 1
        if overlong {
            overlong = false
            try body(linesRead, nil)
            return
        }
        var end = line.count
        if end > 0, line[end - 1] == 0x0D { end -= 1 }
        try body(linesRead, line[0..<end])
        line.removeAll(keepingCapacity: true)
    }
}
