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

/// Reads FlowFrames from an NDJSON file (or stdin, `-`), one JSON object per line.
///
/// Blank lines are skipped; a line ending in `\r\n` is read without the `\r`. Each other line must
/// be a FlowFrame object (see `FlowFrameJSON`); a line that is not is reported with its number and
/// the reading goes on.
public final class NDJSONReader {
    public let path: String
    /// Lines read so far, blank ones included.
    public private(set) var linesRead: UInt64 = 0

    private let fd: Int32
    private let ownsDescriptor: Bool

    public init(path: String) throws {
        self.path = path
        if path == "-" {
            fd = STDIN_FILENO
            ownsDescriptor = false
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw IOError("cannot open \(path)", errno: errno) }
            ownsDescriptor = true
        }
    }

    deinit {
        if ownsDescriptor { close(fd) }
    }

    /// Calls `body` with each non-blank line's frame or error, in order. Throws an `IOError` when
    /// the file cannot be read, or what `body` throws (to stop early).
    public func forEachFrame(_ body: (Result<FlowFrame, NDJSONLineError>) throws -> Void) throws {
        try forEachLine { number, line in
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
            do {
                try body(.success(FlowFrameJSON.parse(line)))
            } catch let error as FrameParseError {
                try body(.failure(NDJSONLineError(path: path, line: number, message: error.message)))
            }
        }
    }

    private func forEachLine(_ body: (UInt64, ArraySlice<UInt8>) throws -> Void) throws {
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError("cannot read \(path)", errno: errno)
            }
            if n == 0 { break }
            var start = 0
            for i in 0..<n where chunk[i] == 0x0A {
                pending.append(contentsOf: chunk[start..<i])
                try emit(&pending, body)
                start = i + 1
            }
            pending.append(contentsOf: chunk[start..<n])
        }
        if !pending.isEmpty { try emit(&pending, body) }
    }

    private func emit(_ line: inout [UInt8], _ body: (UInt64, ArraySlice<UInt8>) throws -> Void) throws {
        linesRead += 1
        var end = line.count
        if end > 0, line[end - 1] == 0x0D { end -= 1 }
        try body(linesRead, line[0..<end])
        line.removeAll(keepingCapacity: true)
    }
}
