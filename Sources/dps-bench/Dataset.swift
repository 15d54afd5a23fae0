import Foundation
import Logging
import SensorCore
import SensorIO
import SensorService

/// Measure 9: the dataset files, one core: label (the built-in rules), encode (the extended
/// keys, as the sink writes them), compress and write rotated files to a folder in /tmp, on the
/// calling thread (`DatasetFiles` directly, as the sink's writer thread runs it). Two inputs: `dps
/// generate` frames, and the frames of the shared captures; gzip and zstd at the fast level the
/// sink uses. Also the compression ratio (NDJSON bytes / file bytes) of each, over one pass of the
/// distinct frames (the rate cycles through them).
enum DatasetBench {
    /// Collects frames.
    final class Collect: FrameSink {
        var frames: [FlowFrame] = []
        func write(_ frame: FlowFrame) { frames.append(frame) }
        func flush() {}
        var framesWritten: UInt64 { UInt64(frames.count) }
    }

    /// The frames of every capture in `directory` (each file through its own flow table).
    static func captureFrames(directory: String) -> [FlowFrame] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted()
        let collect = Collect()
        let labeling = LabelingSink(labeler: Labeler(maxPendingFlows: 1 << 20), next: nil, unlabeled: collect)
        let configuration = RunOptions().flowTable
        for name in names {
            _ = try? labeling.labelCapture(path: directory + "/" + name, configuration: configuration)
        }
        return collect.frames
    }

    struct Result {
        var seconds: Double
        var lineBytes: Int
        var fileBytes: Int64
    }

    static func run(_ frames: [FlowFrame], count: Int, compression: DatasetCompression) throws -> Result {
        let directory = "/tmp/dps-bench-dataset-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "dps-bench")
        logger.logLevel = .error
        let configuration = DatasetConfiguration(directory: directory, host: "bench", compression: compression)
        let header = DatasetHeader(
            host: "bench", started: "", rules: .init(source: "built-in", rules: .defaults), unmatched: "no label")
        let files = DatasetFiles(configuration: configuration, header: header, logger: logger)
        try files.start()
        let labeler = Labeler(maxPendingFlows: 1 << 17)
        let encoder = FrameEncoder(extended: true)
        var lineBytes = 0
        let start = threadCPUSeconds()
        for i in 0..<count {
            var frame = frames[i % frames.count]
            frame.label = labeler.decide(frame).map { labeler.rules.rules[$0].label }
            files.append { buffer in
                let before = buffer.count
                encoder.encode(frame, into: &buffer)
                buffer.append(UInt8(ascii: "\n"))
                lineBytes += buffer.count - before
            }
            if i & 0xFFFF == 0 { files.tick() }
        }
        files.close()
        let seconds = threadCPUSeconds() - start
        let fileBytes = files.finishedFiles().reduce(Int64(0)) { $0 + $1.size }
        return Result(seconds: seconds, lineBytes: lineBytes, fileBytes: fileBytes)
    }

    /// Label and encode only, into a buffer emptied every 128 KiB: what the files add is the rest.
    static func labelAndEncode(_ frames: [FlowFrame], count: Int) -> Double {
        let labeler = Labeler(maxPendingFlows: 1 << 17)
        let encoder = FrameEncoder(extended: true)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 18)
        let start = threadCPUSeconds()
        for i in 0..<count {
            var frame = frames[i % frames.count]
            frame.label = labeler.decide(frame).map { labeler.rules.rules[$0].label }
            encoder.encode(frame, into: &buffer)
            buffer.append(UInt8(ascii: "\n"))
            if buffer.count >= 1 << 17 { buffer.removeAll(keepingCapacity: true) }
        }
        return threadCPUSeconds() - start
    }

    static func measure(frames count: Int, rounds: Int, pcaps: String, into report: Report) throws {
        var generator = FrameGenerator(seed: 42)
        let generated = (0..<100_000).map { _ in generator.next().1 }
        log("dataset: reading the shared captures' frames")
        let captured = captureFrames(directory: pcaps)
        guard !captured.isEmpty else { throw BenchError("no frames from the captures in \(pcaps)") }
        for (input, frames) in [("generate", generated), ("captures", captured)] {
            let encodeRate = median((0..<rounds).map { _ in Double(count) / labelAndEncode(frames, count: count) })
            log("dataset \(input): label + encode only: \(Int(encodeRate)) frames/s")
            report.add(Figure(
                "dataset.encode_\(input)_frames_per_s",
                "dataset: label + encode only (no file), \(input) frames: frames/s, one core (median of \(rounds))",
                encodeRate, "frames/s"))
            for compression in DatasetCompression.allCases {
                // The ratio over one pass of the distinct frames (repeats would flatter it).
                let once = try run(frames, count: frames.count, compression: compression)
                let ratio = Double(once.lineBytes) / Double(max(1, once.fileBytes))
                var rates: [Double] = []
                for _ in 0..<rounds {
                    let r = try run(frames, count: count, compression: compression)
                    rates.append(Double(count) / r.seconds)
                }
                let name = "\(compression.rawValue)_\(input)"
                log("dataset \(name): \(rates.map { String(Int($0)) }.joined(separator: ", ")) frames/s, ratio \(String(format: "%.2f", ratio))")
                report.add(Figure(
                    "dataset.\(name)_frames_per_s",
                    "dataset: \(compression.rawValue), \(input) frames (\(frames.count) distinct): frames/s, one core (median of \(rounds))",
                    median(rates), "frames/s", atLeast: compression == .gzip ? 250_000 : 800_000))
                report.add(Figure(
                    "dataset.\(name)_ratio", "dataset: \(compression.rawValue), \(input) frames: NDJSON bytes / file bytes",
                    ratio, "x"))
            }
        }
    }
}
