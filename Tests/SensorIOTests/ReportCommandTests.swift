import Foundation
import SensorCore
import TestSupport
import Testing

@testable import SensorIO

/// `dps report` as a user runs it: text, `--json`, exit status, compressed input.
@Suite("dps report (CLI)")
struct ReportCommandTests {
    typealias Scratch = DecompressingReaderTests.Scratch

    @Test("the shared sample, gzip'd and zstd'd: twice the frames, every second one a duplicate; text and JSON")
    func sampleTwice() throws {
        let dir = try Scratch()
        try FileManager.default.copyItem(atPath: LabelSharedData.sampleFlows, toPath: dir.path("s.ndjson"))
        try dir.shell("gzip -k s.ndjson && zstd -q s.ndjson")
        let text = try sh([TestPaths.dps, "report", dir.path("s.ndjson.gz"), dir.path("s.ndjson.zst")])
        #expect(text.status == 0, "\(text.err)")
        #expect(
            text.out.hasPrefix("dps report: 2 files, 2,000 frames, 4 labels, 1,000 duplicate frames, 0 bad lines\n"))
        #expect(text.out.contains("  benign           1,486   74.3%"))
        #expect(text.out.contains("unknown: frames carry no first_seen"))

        let json = try sh([TestPaths.dps, "report", "--json", dir.path("s.ndjson.gz"), dir.path("s.ndjson.zst")])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        #expect(object["frames"] as? Int == 2000 && object["duplicate_frames"] as? Int == 1000)
        let files = try #require(object["files"] as? [[String: Any]])
        #expect(files.map { $0["format"] as? String } == ["gzip", "zstd"])
        let labels = try #require(object["labels"] as? [[String: Any]])
        #expect(labels.map { $0["label"] as? String } == ["benign", "bittorrent", "malware_c2", "ssh_bruteforce"])
        #expect(labels.map { $0["frames"] as? Int } == [1486, 226, 164, 124])
    }

    @Test("a missing file and a damaged one: reported, the rest still read, exit 1; a cut file warns, exit 0")
    func badFiles() throws {
        let dir = try Scratch()
        try FileManager.default.copyItem(atPath: LabelSharedData.sampleFlows, toPath: dir.path("s.ndjson"))
        try dir.shell("gzip -k s.ndjson && head -c 20000 s.ndjson.gz > cut.gz && cp s.ndjson.gz bad.gz")
        var bad = try dir.bytes("bad.gz")
        bad[bad.count - 6] ^= 0xFF  // the CRC
        try dir.write("bad.gz", bad)
        let result = try sh([TestPaths.dps, "report", dir.path("s.ndjson"), dir.path("nope.gz"), dir.path("bad.gz")])
        #expect(result.status == 1)
        #expect(result.err.contains("dps: error: cannot open \(dir.path("nope.gz"))"))
        #expect(result.err.contains("dps: error: \(dir.path("bad.gz")): not valid gzip data at byte"))
        #expect(result.out.contains("dps report: 3 files, 2,000 frames"))
        #expect(result.out.contains("error: cannot open"))

        let cut = try sh([TestPaths.dps, "report", dir.path("cut.gz")])
        #expect(cut.status == 0)
        #expect(cut.err.contains("dps: warning: \(dir.path("cut.gz")): the compressed data ends early"))
        #expect(cut.out.contains("cut short: the compressed data ends early"))
        #expect(cut.out.contains("BAD LINES: 1"))

        let none = try sh([TestPaths.dps, "report"])
        #expect(none.status != 0)
    }
}
