import Foundation
import Logging
import SensorCore
import Testing

@testable import SensorIO

@Suite("Line writer")
struct LineWriterTests {
    @Test("every write(2) ends at a line end and holds at most a page unless one line is longer")
    func chunksEndAtLines() {
        var text: [UInt8] = []
        for i in 0..<400 {
            let length = i == 200 ? 9000 : (i * 37) % 700
            text += Array(repeating: UInt8(ascii: "x"), count: length) + [UInt8(ascii: "\n")]
        }
        text.withUnsafeBytes { bytes in
            var start = 0
            var chunks = 0
            while start < bytes.count {
                let end = LineWriter.chunkEnd(bytes, from: start)
                #expect(end > start)
                #expect(bytes[end - 1] == UInt8(ascii: "\n"), "chunk \(chunks) ends inside a line")
                let lines = bytes[start..<end].filter { $0 == UInt8(ascii: "\n") }.count
                #expect(end - start <= LineWriter.chunkLimit || lines == 1, "an oversized chunk holds one line")
                start = end
                chunks += 1
            }
            #expect(chunks > 30)
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
        #expect(Set(lines).count == 1 && lines[0] == Substring(FrameEncoder().string(frame)))
    }
}
