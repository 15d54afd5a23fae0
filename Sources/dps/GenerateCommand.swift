import ArgumentParser
import Foundation
import Logging
import SensorCore
import SensorIO
import SensorService

#if canImport(Glibc)
import Glibc
#endif

/// `dps generate`: synthetic labeled FlowFrames with the reference generator's mix.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write synthetic labeled FlowFrames (the same frames for the same seed).",
        discussion: """
            Mix: HTTP 30%, HTTPS 30%, DNS 15%, BitTorrent 10%, SSH brute force 8%, C2 7%. The \
            class distribution goes to stderr.
            """
    )

    @Option(help: "How many frames.")
    var count: Int = 1000

    @Option(help: "Where to write them: a file (its directory is created), or - for stdout.")
    var out: String = "data/sample_flows.ndjson"

    @Option(help: "The random seed.")
    var seed: UInt64 = 42

    func validate() throws {
        guard count >= 0 else { throw ValidationError("--count must be 0 or more") }
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        let logger = Logs.bootstrap(level: .info)
        let writer: LineWriter
        do {
            if out == "-" {
                writer = LineWriter(fd: STDOUT_FILENO, encoder: FrameEncoder(), logger: logger)
            } else {
                let directory = (out as NSString).deletingLastPathComponent
                if !directory.isEmpty {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                }
                writer = try LineWriter(path: out, encoder: FrameEncoder(), logger: logger)
            }
        } catch {
            Stderr.line("dps: error: \(error)")
            throw ExitCode.failure
        }
        var generator = FrameGenerator(seed: seed)
        var perClass = [SyntheticClass: Int]()
        for _ in 0..<count {
            let (kind, frame) = generator.next()
            perClass[kind, default: 0] += 1
            writer.write(frame)
        }
        writer.flush()
        var perLabel: [(String, Int)] = []
        for kind in SyntheticClass.allCases {
            let n = perClass[kind] ?? 0
            if let i = perLabel.firstIndex(where: { $0.0 == kind.label }) {
                perLabel[i].1 += n
            } else {
                perLabel.append((kind.label, n))
            }
        }
        let classes = SyntheticClass.allCases.map { "\($0.rawValue)=\(perClass[$0] ?? 0)" }.joined(separator: " ")
        let labels = perLabel.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        Stderr.line("dps: generated \(count) frames (seed \(seed)): \(classes); labels: \(labels)")
        if writer.framesFailed > 0 {
            Stderr.line("dps: error: \(writer.framesFailed) frames could not be written")
            throw ExitCode.failure
        }
    }
}
