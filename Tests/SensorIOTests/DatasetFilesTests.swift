import Foundation
import Logging
import SensorCore
import Synchronization
import TestSupport
import Testing

@testable import SensorIO

/// The dataset files: rotation on the clock and by size, the temporary name until complete, the
/// header in each file, retention, and the sink that labels into them. Files are read back by the
/// real `gzip` and `zstd` tools and Python's `gzip`.
@Suite struct DatasetFilesTests {
    static let logger = Logger(label: "dataset-test")
    static let second: Int64 = 1_000_000_000
    /// 2026-11-30T15:00:00Z.
    static let start: Int64 = 1_796_050_800 * second

    /// A clock the test moves.
    final class Clock: Sendable {
        let time = Mutex<Int64>(DatasetFilesTests.start)
        func now() -> Int64 { time.withLock { $0 } }
        func set(_ value: Int64) { time.withLock { $0 = value } }
    }

    static func header(_ labels: [String] = ["benign"]) -> DatasetHeader {
        DatasetHeader(
            host: "sensor-1", started: "",
            rules: .init(source: "test", sha256: String(repeating: "0", count: 64), labels: labels, text: "rules"),
            unmatched: "no label")
    }

    static func line(_ i: Int) -> [UInt8] { Array("{\"n\":\(i),\"pad\":\"\(String(repeating: "x", count: i % 50))\"}\n".utf8) }

    /// The decompressed text of a dataset file, by the real tool for its kind.
    static func decompressed(_ path: String) throws -> String {
        let tool = path.hasSuffix(".zst") ? ["/usr/bin/zstd", "-dcq", path] : ["/usr/bin/gzip", "-dc", path]
        let result = try sh(tool)
        #expect(result.status == 0, "\(tool): \(result.err)")
        return result.out
    }

    static func names(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    @Test(arguments: DatasetCompression.allCases)
    func rotatesOnTheClockAndRenamesOnlyWhenComplete(_ kind: DatasetCompression) throws {
        let directory = KronosTempDir()
        let clock = Clock()
        var configuration = DatasetConfiguration(directory: directory.path, host: "sensor-1", compression: kind)
        configuration.rotateSeconds = 10
        let files = DatasetFiles(configuration: configuration, header: Self.header(), logger: Self.logger, now: clock.now)
        try files.start()
        clock.set(Self.start + 3 * Self.second)
        for i in 0..<100 { Self.line(i).withUnsafeBytes { files.append($0) } }
        clock.set(Self.start + 5 * Self.second)
        files.tick()  // a flush: the lines reach the temporary file
        let ending = kind.fileExtension
        #expect(try Self.names(directory.path) == [".dps-20261130T150003Z-sensor-1\(ending).part"])
        #expect(files.counters.framesWritten == 100)

        clock.set(Self.start + 10 * Self.second)
        files.tick()  // the boundary: finished and renamed
        #expect(try Self.names(directory.path) == ["dps-20261130T150003Z-sensor-1\(ending)"])
        for i in 100..<150 { Self.line(i).withUnsafeBytes { files.append($0) } }
        files.close()
        let names = try Self.names(directory.path)
        #expect(names == ["dps-20261130T150003Z-sensor-1\(ending)", "dps-20261130T150010Z-sensor-1\(ending)"])
        let first = try Self.decompressed(directory.file(names[0]))
        let second = try Self.decompressed(directory.file(names[1]))
        #expect(first == (0..<100).map { String(decoding: Self.line($0), as: UTF8.self) }.joined())
        #expect(second == (100..<150).map { String(decoding: Self.line($0), as: UTF8.self) }.joined())
        #expect(files.counters.filesFinished == 2)
        #expect(files.counters.framesWritten == 150)

        // The header: the start time filled in, the rules recorded.
        let header = try #require(Self.readHeader(directory.file(names[1])))
        #expect(header.started == "2026-11-30T15:00:10Z")
        #expect(header.host == "sensor-1")
        #expect(header.rules == Self.header().rules)
    }

    @Test func pythonGzipReadsTheLinesAndTheHeaderIsInTheComment() throws {
        let directory = KronosTempDir()
        let configuration = DatasetConfiguration(directory: directory.path, host: "h")
        let header = DatasetHeader(
            host: "h", started: "",
            rules: .init(source: "/etc/dps/rules.yaml", rules: .defaults), unmatched: "no label")
        let files = DatasetFiles(configuration: configuration, header: header, logger: Self.logger)
        try files.start()
        for i in 0..<1000 { Self.line(i).withUnsafeBytes { files.append($0) } }
        files.close()
        let name = try #require(try Self.names(directory.path).first)
        let script = """
            import gzip, json, sys
            lines = [json.loads(l) for l in gzip.open(sys.argv[1], "rt")]
            print(len(lines), lines[0]["n"], lines[-1]["n"])
            """
        let result = try sh(["/usr/bin/python3", "-c", script, directory.file(name)])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out == "1000 0 999\n")
        let read = try #require(Self.readHeader(directory.file(name)))
        #expect(read.rules.labels == RuleSet.defaults.rules.map(\.label))
        #expect(read.rules.source == "/etc/dps/rules.yaml")
        // The rules text is what reading it back gives the same rules from.
        #expect(try RulesFile.parse(read.rules.text, format: .yaml, source: "header") == RuleSet.defaults)
    }

    @Test func theSizeBoundRotatesAndEveryLineIsInOneFile() throws {
        let directory = KronosTempDir()
        let clock = Clock()
        var configuration = DatasetConfiguration(directory: directory.path, host: "h", compression: .zstd)
        configuration.rotateBytes = 4096
        let files = DatasetFiles(configuration: configuration, header: Self.header(), logger: Self.logger, now: clock.now)
        try files.start()
        var random = SystemRandomNumberGenerator()
        var expected = ""
        for i in 0..<20_000 {
            // Random text compresses poorly: the 4 KiB bound is reached often.
            let text = "{\"n\":\(i),\"r\":\"\((0..<20).map { _ in String(random.next() % 10) }.joined())\"}\n"
            expected += text
            Array(text.utf8).withUnsafeBytes { files.append($0) }
        }
        files.close()
        let names = try Self.names(directory.path)
        #expect(names.count > 3)
        #expect(names.allSatisfy { $0.hasPrefix("dps-20261130T150000Z") && $0.hasSuffix("-h.ndjson.zst") })
        // Several files in one second: numbered, in order.
        #expect(names[1] == "dps-20261130T150000Z.1-h.ndjson.zst")
        let ordered = names.sorted { sequence($0) < sequence($1) }
        #expect(try ordered.map { try Self.decompressed(directory.file($0)) }.joined() == expected)
        #expect(files.counters.framesWritten == 20_000)
        #expect(files.counters.filesFinished == UInt64(names.count))

        func sequence(_ name: String) -> Int {
            let stamp = name.split(separator: "-")[1]
            return stamp.split(separator: ".").dropFirst().first.flatMap { Int($0) } ?? 0
        }
    }

    @Test func retentionDeletesTheOldestFilesFirst() throws {
        let directory = KronosTempDir()
        let clock = Clock()
        var configuration = DatasetConfiguration(directory: directory.path, host: "h")
        configuration.rotateSeconds = 1
        configuration.maxBytes = 3000
        let files = DatasetFiles(configuration: configuration, header: Self.header(), logger: Self.logger, now: clock.now)
        try files.start()
        var random = SystemRandomNumberGenerator()
        for second in 0..<10 {
            clock.set(Self.start + Int64(second) * Self.second)
            files.tick()
            for _ in 0..<40 {
                Array("{\"r\":\(random.next())}\n".utf8).withUnsafeBytes { files.append($0) }
            }
        }
        files.close()
        let left = files.finishedFiles()
        #expect(left.reduce(0) { $0 + $1.size } <= 3000)
        #expect(files.counters.filesDeleted == 10 - UInt64(left.count))
        #expect(files.counters.filesDeleted > 0)
        // The newest are kept.
        #expect(left.last?.path.hasSuffix("dps-20261130T150009Z-h.ndjson.gz") == true)
        #expect(left.first?.path.hasSuffix("dps-20261130T15000\(10 - left.count)Z-h.ndjson.gz") == true)
    }

    @Test func aFolderThatCannotBeMadeIsAClearError() throws {
        let directory = KronosTempDir()
        FileManager.default.createFile(atPath: directory.file("plain"), contents: Data("x".utf8))
        let configuration = DatasetConfiguration(directory: directory.file("plain/datasets"), host: "h")
        let files = DatasetFiles(configuration: configuration, header: Self.header(), logger: Self.logger)
        #expect(throws: IOError.self) { try files.start() }
    }

    @Test func theSinkLabelsEveryFrameAndNewRulesStartANewFile() throws {
        let directory = KronosTempDir()
        var configuration = DatasetConfiguration(directory: directory.path, host: "h")
        configuration.rotateSeconds = 3600
        let sshOnly = RuleSet([LabelRule(label: "ssh", match: RuleConditions(anyPort: [22]))])
        let first = DatasetHeader(host: "h", started: "", rules: .init(source: "a", rules: sshOnly), unmatched: "no label")
        let sink = try DatasetSink(configuration: configuration, rules: sshOnly, header: first, logger: Self.logger)
        var generator = FrameGenerator(seed: 7)
        var frames: [FlowFrame] = []
        for _ in 0..<500 { frames.append(generator.next().1) }
        for frame in frames { sink.write(frame) }
        let webOnly = RuleSet([LabelRule(label: "web", match: RuleConditions(anyPort: [80, 443]))])
        let second = DatasetHeader(host: "h", started: "", rules: .init(source: "b", rules: webOnly), unmatched: "no label")
        #expect(sink.replaceRules(webOnly, header: second))
        #expect(!sink.replaceRules(webOnly, header: second))  // the same rules: no new file
        for frame in frames { sink.write(frame) }
        sink.finish(timeout: 5)
        let names = try Self.names(directory.path)
        #expect(names.count == 2)
        let snapshot = sink.snapshot()
        #expect(snapshot.produced == 1000)
        #expect(snapshot.files.framesWritten == 1000)
        #expect(snapshot.dropped == 0 && snapshot.files.framesFailed == 0)

        var expectedUnmatched: UInt64 = 0
        for (index, name) in names.enumerated() {
            let rules = index == 0 ? sshOnly : webOnly
            let header = try #require(Self.readHeader(directory.file(name)))
            #expect(header.rules.source == (index == 0 ? "a" : "b"))
            let lines = try Self.decompressed(directory.file(name)).split(separator: "\n")
            #expect(lines.count == 500)
            for (line, original) in zip(lines, frames) {
                let frame = try FlowFrameJSON.parse(Array(line.utf8))
                let expected = rules.firstMatch(original).map { rules.rules[$0].label }
                if expected == nil { expectedUnmatched += 1 }
                #expect(frame.label == expected)
                #expect(frame.destinationPort == original.destinationPort && frame.bytesIn == original.bytesIn)
                // Always the extended keys: first_seen/last_seen give the report its time line.
                #expect(line.contains("\"first_seen\""))
            }
        }
        #expect(snapshot.unmatched == expectedUnmatched)
    }

    @Test(arguments: DatasetCompression.allCases)
    func aPartialFileIsFinishedAtTheNextStart(_ kind: DatasetCompression) throws {
        let directory = KronosTempDir()
        let configuration = DatasetConfiguration(directory: directory.path, host: "h", compression: kind)
        let crashed = DatasetFiles(configuration: configuration, header: Self.header(), logger: Self.logger)
        try crashed.start()
        for i in 0..<3000 {
            Self.line(i).withUnsafeBytes { crashed.append($0) }
            if i % 300 == 299 { crashed.tick(force: true) }  // the writer's flushes (each second)
        }
        let part = try #require(try Self.names(directory.path).first)
        #expect(part.hasPrefix(".dps-") && part.hasSuffix(".part"))
        // Cut the file anywhere, as a crash mid-write would: the whole lines before the cut stay.
        let path = directory.file(part)
        let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(truncate(path, off_t(size * 2 / 3)) == 0)
        let survivors = try sh(["/bin/sh", "-c", "\(kind == .zstd ? "zstd -dcq" : "gzip -dc") '\(path)' 2>/dev/null; true"])
            .out.split(separator: "\n", omittingEmptySubsequences: false).dropLast().count  // up to the last whole line
        #expect(survivors > 100)

        let next = DatasetFiles(configuration: configuration, header: Self.header(), logger: Self.logger)
        try next.start()
        #expect(next.counters.filesRecovered == 1)
        let final = String(part.dropFirst().dropLast(".part".count))
        #expect(try Self.names(directory.path) == [final])
        let text = try Self.decompressed(directory.file(final))
        #expect(text == (0..<survivors).map { String(decoding: Self.line($0), as: UTF8.self) }.joined())
        #expect(Self.readHeader(directory.file(final))?.rules == Self.header().rules)
    }

    /// The `DatasetHeader` of a file: the gzip comment, or the zstd skippable frame first.
    static func readHeader(_ path: String) -> DatasetHeader? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let bytes = [UInt8](data)
        if bytes.starts(with: [0x1F, 0x8B]), bytes.count > 10, bytes[3] & 0x10 != 0, bytes[3] & 0x0C == 0 {
            let comment = bytes[10...].prefix { $0 != 0 }
            return DatasetHeader.parse(Array(comment))
        }
        if bytes.starts(with: [0x50, 0x2A, 0x4D, 0x18]), bytes.count > 8 {
            let size = Int(bytes[4]) | Int(bytes[5]) << 8 | Int(bytes[6]) << 16 | Int(bytes[7]) << 24
            return DatasetHeader.parse(Array(bytes[8..<min(bytes.count, 8 + size)]))
        }
        return nil
    }
}
