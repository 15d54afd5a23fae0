import Foundation
import Logging
import SensorCore
import Testing

@testable import SensorIO

@Suite("Line writer")
struct LineWriterTests {
    /// Frames of many lengths (payload snapshots of 0 to 128 bytes, extended fields).
    static func frames(_ count: Int) -> [FlowFrame] {
        (0..<count).map { i in
            var frame = FlowFrame(
                source: IPAddress(ipv4: 198, 51, 100, UInt8(i % 250)), destination: IPAddress(ipv4: 203, 0, 113, 9),
                sourcePort: UInt16(1024 + i), destinationPort: 443, transport: i % 3 == 0 ? .udp : .tcp,
                bytesIn: UInt64(i * 7919), bytesOut: UInt64(i), duration: Double(i) / 7,
                payload: (i * 37) % 5 == 0 ? nil : Array(repeating: UInt8(i % 256), count: (i * 37) % 128 + 1))
            frame.packetsIn = UInt64(i)
            return frame
        }
    }

    static func scratchFile() -> String {
        FileManager.default.temporaryDirectory.appending(path: "dps-lines-\(UUID()).ndjson").path
    }

    @Test("no line crosses a 4 KiB page: each page ends at a line end, padded with spaces; every line parses")
    func pageLayout() throws {
        let path = Self.scratchFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let frames = Self.frames(3000)
        do {
            let writer = try LineWriter(path: path, encoder: FrameEncoder(extended: true), logger: Logger(label: "test"))
            for frame in frames { writer.write(frame) }
            writer.flush()
            #expect(writer.framesWritten == 3000)
        }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes.count > 100 * LineWriter.pageSize)
        for end in stride(from: LineWriter.pageSize, through: bytes.count, by: LineWriter.pageSize) {
            #expect(bytes[end - 1] == UInt8(ascii: "\n"), "page ending at \(end) ends inside a line")
        }
        let lines = bytes.split(separator: UInt8(ascii: "\n"))
        #expect(lines.count == 3000)
        for (line, frame) in zip(lines, frames) {
            #expect(try FlowFrameJSON.parse(line) == frame)
        }
        // Padding only where a line would have crossed: at most one line's worth per page.
        let unpadded = frames.reduce(0) { $0 + FrameEncoder(extended: true).string($1).utf8.count + 1 }
        #expect(bytes.count - unpadded < bytes.count / LineWriter.pageSize * 700)
    }

    @Test("the same frames give the same bytes to a file and to a pipe, appended or not")
    func sameBytesEverywhere() throws {
        let frames = Self.frames(500)
        let path = Self.scratchFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let writer = try LineWriter(path: path, encoder: FrameEncoder(), logger: Logger(label: "test"))
            for frame in frames { writer.write(frame) }
        }
        let file = try Data(contentsOf: URL(fileURLWithPath: path))
        var pipe: [Int32] = [0, 0]
        #expect(Glibc.pipe(&pipe) == 0)
        // A pipe large enough to hold it all (pipe-max-size is 1 MiB by default), read after.
        #expect(fcntl(pipe[1], 1031 /* F_SETPIPE_SZ */, 1 << 20) >= file.count)
        do {
            let writer = LineWriter(fd: pipe[1], encoder: FrameEncoder(), logger: Logger(label: "test"))
            for frame in frames { writer.write(frame) }
        }
        close(pipe[1])
        var piped = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while case let n = read(pipe[0], &chunk, chunk.count), n > 0 { piped.append(contentsOf: chunk[..<n]) }
        close(pipe[0])
        #expect(piped == file)

        // Appending to a file that ends mid-page keeps the layout of the file, not of the writer.
        let fd = open(path, O_WRONLY | O_APPEND)
        do {
            let writer = LineWriter(fd: fd, encoder: FrameEncoder(), logger: Logger(label: "test"))
            for frame in frames { writer.write(frame) }
        }
        close(fd)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for end in stride(from: LineWriter.pageSize, through: bytes.count, by: LineWriter.pageSize) {
            #expect(bytes[end - 1] == UInt8(ascii: "\n"), "page ending at \(end) ends inside a line")
        }
        #expect(bytes.split(separator: UInt8(ascii: "\n")).count == 1000)
    }

    @Test("after an explicit flush the next line pads at its own start; lines still parse")
    func flushThenCross() throws {
        let path = Self.scratchFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let frames = Self.frames(400)
        do {
            let writer = try LineWriter(path: path, encoder: FrameEncoder(extended: true), logger: Logger(label: "test"))
            for frame in frames {
                writer.write(frame)
                writer.flush()
            }
        }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let lines = bytes.split(separator: UInt8(ascii: "\n"))
        #expect(lines.count == 400)
        #expect(lines.contains { $0.first == UInt8(ascii: " ") }, "some line starts with padding")
        for (line, frame) in zip(lines, frames) {
            #expect(try FlowFrameJSON.parse(line) == frame)
        }
        for end in stride(from: LineWriter.pageSize, through: bytes.count, by: LineWriter.pageSize) {
            let next = bytes[end...].prefix { $0 != UInt8(ascii: "\n") }
            #expect(bytes[end - 1] == UInt8(ascii: "\n") || next.first == UInt8(ascii: "{"),
                    "a page ends inside a line, not in its leading padding")
        }
    }

    @Test("each write(2) stays within one page and ends at a line end, unless one line is longer than a page")
    func chunksStayInPages() {
        var text: [UInt8] = []
        var used = 0
        for i in 0..<400 {
            let length = i == 200 ? 9000 : (i * 37) % 700 + 1
            if used + length > LineWriter.pageSize, length <= LineWriter.pageSize, used > 0 {
                text.insert(contentsOf: repeatElement(UInt8(ascii: " "), count: LineWriter.pageSize - used), at: text.count - 1)
            }
            text += Array(repeating: UInt8(ascii: "x"), count: length - 1) + [UInt8(ascii: "\n")]
            used = text.count % LineWriter.pageSize
        }
        for streamOffset in [0, 4096] {
            text.withUnsafeBytes { bytes in
                var start = 0
                var chunks = 0
                while start < bytes.count {
                    let end = LineWriter.chunkEnd(bytes, from: start, streamOffset: streamOffset)
                    #expect(end > start)
                    #expect(bytes[end - 1] == UInt8(ascii: "\n"), "chunk \(chunks) ends inside a line")
                    let samePage = (streamOffset + start) / LineWriter.pageSize == (streamOffset + end - 1) / LineWriter.pageSize
                    let lastLine = bytes[start..<end - 1].reversed().prefix { $0 != UInt8(ascii: "\n") }.count + 1
                    #expect(samePage || lastLine > LineWriter.pageSize, "a chunk across pages ends with a line longer than a page")
                    start = end
                    chunks += 1
                }
                #expect(chunks > 30)
            }
        }
    }

    @Test("frames land in the file as whole lines, counted")
    func writesFile() throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "dps-lines-\(UUID()).ndjson").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try LineWriter(path: path, encoder: FrameEncoder(), logger: Logger(label: "test"))
        let frame = FlowFrame(
            source: IPAddress(ipv4: 198, 51, 100, 1), destination: IPAddress(ipv4: 198, 51, 100, 2),
            sourcePort: 1, destinationPort: 2, transport: .udp, bytesIn: 3, bytesOut: 4, duration: 0.5,
            payload: Array(repeating: 7, count: 128))
        for _ in 0..<2000 { writer.write(frame) }
        writer.flush()
        #expect(writer.framesWritten == 2000)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2000)
        let trimmed = lines.map { $0.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed() }
        #expect(Set(trimmed.map { String($0) }) == [FrameEncoder().string(frame)])
    }
}
