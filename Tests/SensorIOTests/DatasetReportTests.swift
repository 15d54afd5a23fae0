import Foundation
import SensorCore
import TestSupport
import Testing

@testable import SensorIO

/// `DatasetReportBuilder` on hand-made frames with known answers, and the JSON and text it gives.
@Suite("Dataset report")
struct DatasetReportTests {
    /// 2026-11-30 15:00:00 UTC.
    static let t0: Int64 = 1_796_050_800_000_000

    static func frame(
        label: String?, duration: Double = 0.5, bytesIn: UInt64 = 10, bytesOut: UInt64 = 20, payload: Int? = nil,
        dport: UInt16 = 443, sport: UInt16 = 40000, first: Int64 = 0, last: Int64? = nil
    ) -> FlowFrame {
        FlowFrame(
            source: IPAddress(ipv4: 198, 51, 100, 1), destination: IPAddress(ipv4: 203, 0, 113, 2), sourcePort: sport,
            destinationPort: dport, transport: .tcp, bytesIn: bytesIn, bytesOut: bytesOut, duration: duration,
            payload: payload.map { [UInt8](repeating: 0x41, count: $0) }, firstSeen: first,
            lastSeen: last ?? (first == 0 ? 0 : first + Int64(duration * 1e6)), label: label)
    }

    static func report(_ frames: [FlowFrame]) -> DatasetReport {
        var builder = DatasetReportBuilder()
        for (i, frame) in frames.enumerated() {
            var frame = frame
            // Distinct unless a test makes them equal on purpose: vary the source port.
            if frame.sourcePort == 40000 { frame.sourcePort = UInt16(1024 + i % 60000) }
            builder.add(frame)
        }
        return builder.finish()
    }

    @Test("frames, shares and bytes per label; most frames first, ties by name, unlabeled as (unlabeled)")
    func countsAndShares() throws {
        let frames =
            Array(repeating: Self.frame(label: "a", bytesIn: 100, bytesOut: 50), count: 6)
            + Array(repeating: Self.frame(label: "b", bytesIn: 1, bytesOut: 1), count: 2)
            + Array(repeating: Self.frame(label: nil, bytesIn: 0, bytesOut: 50), count: 2)
        let report = Self.report(frames)
        #expect(report.frames == 10)
        #expect(report.labels.map(\.displayName) == ["a", "(unlabeled)", "b"])
        #expect(report.labels.map(\.frames) == [6, 2, 2])
        #expect(report.labels.map(\.share) == [0.6, 0.2, 0.2])
        #expect(report.labels.map(\.bytes) == [900, 100, 4])
        #expect(abs(report.labels[0].bytesShare - 900.0 / 1004) < 1e-12)
        #expect(report.duplicates == 0)
    }

    @Test("bytes saturate at 2^64 - 1 instead of wrapping")
    func bytesSaturate() {
        let report = Self.report([
            Self.frame(label: "x", bytesIn: .max, bytesOut: 5), Self.frame(label: "x", bytesIn: .max - 1, bytesOut: 0),
        ])
        #expect(report.labels[0].bytes == .max)
    }

    @Test("exact duplicates: equal frames (every field, label included) counted once per extra copy")
    func duplicates() {
        let a = Self.frame(label: "x", sport: 5000)
        var otherLabel = a
        otherLabel.label = "y"
        var otherPayload = a
        otherPayload.payload = [1]
        var otherDuration = a
        otherDuration.duration = 0.500001
        var builder = DatasetReportBuilder()
        for frame in [a, a, a, otherLabel, otherPayload, otherDuration, otherLabel] { builder.add(frame) }
        let report = builder.finish()
        #expect(report.frames == 7)
        #expect(report.duplicates == 3)
        #expect(report.labels.map(\.displayName) == ["x", "y"])
        #expect(report.labels.map(\.duplicates) == [2, 1])
    }

    @Test("duration quantiles: min and max exact, median/p90/p99 nearest-rank within 2.3%")
    func durationQuantiles() throws {
        // 1, 2, ..., 1000 ms: nearest rank gives 500, 900, 990 ms.
        let report = Self.report((1...1000).map { Self.frame(label: "x", duration: Double($0) / 1000) })
        let d = try #require(report.labels[0].durations)
        #expect(d.count == 1000)
        #expect(d.min == 0.001 && d.max == 1.0)
        for (value, exact) in [(d.median, 0.5), (d.p90, 0.9), (d.p99, 0.99)] {
            #expect(abs(value - exact) / exact < 0.023, "\(value) for \(exact)")
        }
        #expect(abs(d.mean - 0.5005) < 1e-9)

        // Zero durations (single-packet flows) are exact.
        let zeros = Self.report((0..<10).map { Self.frame(label: "z", duration: $0 < 7 ? 0 : 2.5) })
        let z = try #require(zeros.labels[0].durations)
        #expect(z.min == 0 && z.median == 0 && z.max == 2.5)
        #expect(abs(z.p90 - 2.5) / 2.5 < 0.023)
        // One frame: every quantile is its value.
        let one = try #require(Self.report([Self.frame(label: "o", duration: 0.123456)]).labels[0].durations)
        #expect([one.min, one.median, one.p90, one.p99, one.max] == Array(repeating: 0.123456, count: 5))
    }

    @Test("payload lengths: exact quantiles over frames with a payload; frames without are counted apart")
    func payloadLengths() throws {
        let frames =
            (1...100).map { Self.frame(label: "x", payload: $0) } + (0..<25).map { _ in Self.frame(label: "x") }
        let label = Self.report(frames).labels[0]
        #expect(label.noPayload == 25)
        let p = try #require(label.payload)
        #expect(p.count == 100)
        #expect([p.min, p.median, p.p90, p.p99, p.max] == [1, 50, 90, 99, 100])
        #expect(p.mean == 50.5)
        #expect(Self.report([Self.frame(label: "n")]).labels[0].payload == nil)
    }

    @Test("top destination ports: most frames first, ties by port, at most five")
    func topPorts() {
        let ports: [UInt16] = [443, 443, 443, 80, 80, 53, 53, 22, 8080, 9001, 9001, 9001, 9001]
        let label = Self.report(ports.map { Self.frame(label: "x", dport: $0) }).labels[0]
        #expect(label.topPorts.map(\.port) == [9001, 443, 53, 80, 22])
        #expect(label.topPorts.map(\.frames) == [4, 3, 2, 2, 1])
    }

    @Test("time: first/last seen, and a gap longer than max(60 s, 1% of the span) with exact ends")
    func gaps() throws {
        let s: Int64 = 1_000_000
        // A frame every 10 s for 10 minutes (1 s each), nothing for ~50 minutes, then 400 s more.
        var frames = (0..<60).map { Self.frame(label: "a", duration: 1, first: Self.t0 + Int64($0) * 10 * s) }
        frames += (0..<40).map { Self.frame(label: "b", duration: 1, first: Self.t0 + 3600 * s + Int64($0) * 10 * s) }
        frames.shuffle()  // order does not matter
        let report = Self.report(frames)
        let time = try #require(report.time)
        #expect(time.first == Self.t0)
        #expect(time.last == Self.t0 + 3991 * s)
        #expect(time.gapThreshold == 60 * s)
        #expect(time.gaps == [DatasetReport.Gap(start: Self.t0 + 591 * s, end: Self.t0 + 3600 * s)])
        #expect(report.framesWithoutTime == 0)
        // The chart's bins hold every frame, per label (labels in report order: a, then b).
        #expect(time.bins.reduce(0) { $0 + $1[0] } == 60 && time.bins.reduce(0) { $0 + $1[1] } == 40)
        #expect(time.bins.count <= 120)

        // A long flow across the quiet stretch covers it: no gap.
        let covered = Self.report(frames + [Self.frame(label: "a", duration: 3000, first: Self.t0 + 595 * s)])
        #expect(covered.time?.gaps == [])
        // A 50 s pause is under the threshold.
        let short = (0..<10).map { Self.frame(label: "a", duration: 1, first: Self.t0 + Int64($0) * 51 * s) }
        #expect(Self.report(short).time?.gaps == [])
    }

    @Test("time over 20 days (buckets coarsen past 4096): the gap is still found with exact ends")
    func gapsCoarsened() throws {
        let s: Int64 = 1_000_000
        var frames: [FlowFrame] = []
        // Every 2 minutes for 20 days (30 s each), except a 2-day hole from day 8.
        for i in 0..<(20 * 720) {
            let start = Self.t0 + Int64(i) * 120 * s
            if start >= Self.t0 + 8 * 86400 * s && start < Self.t0 + 10 * 86400 * s { continue }
            frames.append(Self.frame(label: "a", duration: 30, first: start))
        }
        let report = Self.report(frames)
        let time = try #require(report.time)
        #expect(time.gaps.count == 1)
        #expect(time.gaps.first?.start == Self.t0 + (8 * 86400 - 120 + 30) * s)
        #expect(time.gaps.first?.end == Self.t0 + 10 * 86400 * s)
        #expect(time.bins.reduce(0) { $0 + $1[0] } == UInt64(frames.count))
    }

    @Test("frames without first_seen: time unknown, counted")
    func noTime() {
        let report = Self.report([Self.frame(label: "a"), Self.frame(label: "b")])
        #expect(report.time == nil)
        #expect(report.framesWithoutTime == 2)
        #expect(report.text().contains("unknown: frames carry no first_seen"))
    }

    @Test("labels past 100 distinct ones are folded into one (other labels)")
    func folding() {
        let report = Self.report((0..<150).map { Self.frame(label: "l\($0)") } + [Self.frame(label: "l0")])
        #expect(report.labels.count == 101)
        #expect(report.labels.last?.folded == true)
        #expect(report.labels.last?.frames == 50)
        #expect(report.labels.first?.displayName == "l0")
        #expect(report.labels.reduce(0) { $0 + $1.frames } == 151)
    }

    @Test("rules from dataset headers: distinct sets, with their files and hosts")
    func rules() {
        func header(_ host: String, _ sha: String) -> DatasetHeader {
            DatasetHeader(
                host: host, started: "2026-11-30T15:00:00Z",
                rules: .init(source: "built-in", sha256: sha, labels: ["benign"], text: ""), unmatched: "skip")
        }
        var builder = DatasetReportBuilder()
        for (path, h) in [("a.gz", header("s1", "aa")), ("b.gz", header("s2", "aa")), ("c.zst", header("s1", "bb"))] {
            builder.add(
                file: DatasetReport.File(
                    path: path, format: .gzip, lines: 0, frames: 0, badLines: 0, endedEarly: false, error: nil,
                    header: h))
        }
        builder.add(
            file: DatasetReport.File(
                path: "plain", format: .plain, lines: 0, frames: 0, badLines: 0, endedEarly: false, error: nil,
                header: nil))
        let rules = builder.finish().rules
        #expect(rules.map(\.sha256) == ["aa", "bb"])
        #expect(rules[0].files == ["a.gz", "b.gz"] && rules[0].hosts == ["s1", "s2"])
        #expect(rules[1].files == ["c.zst"])
    }

    @Test("files: bad lines counted with examples, a missing file recorded with its error")
    func files() throws {
        let good = FrameEncoder(extended: true).string(Self.frame(label: "a", first: Self.t0))
        let file = try LabelTestFile([good, "{oops", good, "", "[]"].joined(separator: "\n"))
        var builder = DatasetReportBuilder()
        let entry = builder.read(path: file.path)
        let missing = builder.read(path: "/nonexistent/dps.ndjson.gz")
        let report = builder.finish()
        #expect(entry.frames == 2 && entry.badLines == 2 && entry.lines == 5 && entry.error == nil)
        #expect(entry.format == .plain)
        #expect(missing.error?.contains("cannot open /nonexistent/dps.ndjson.gz") == true)
        #expect(report.badLines == 2)
        #expect(report.badLineExamples.count == 2)
        #expect(report.badLineExamples.first?.hasPrefix("\(file.path):2: not JSON") == true)
        #expect(report.badLineExamples.last == "\(file.path):5: not a JSON object (an array)")
        #expect(report.duplicates == 1)
    }

    @Test("JSON: stable keys and the known values")
    func json() throws {
        var frames = (1...10).map {
            Self.frame(label: "a", duration: Double($0), payload: $0, first: Self.t0 + Int64($0) * 1_000_000)
        }
        frames.append(frames[0])
        frames.append(Self.frame(label: nil, duration: 0, dport: 53))
        var builder = DatasetReportBuilder()
        for frame in frames { builder.add(frame) }
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(builder.finish().json())) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "format", "files", "frames", "distinct_frames", "duplicate_frames", "bad_lines", "bad_line_examples",
                "labels",
                "rules", "time",
            ])
        #expect(object["format"] as? String == "dps-report/1")
        #expect(
            object["frames"] as? Int == 12 && object["duplicate_frames"] as? Int == 1
                && object["distinct_frames"] as? Int == 11)
        let labels = try #require(object["labels"] as? [[String: Any]])
        #expect(labels.count == 2)
        #expect(
            Set(labels[0].keys) == [
                "label", "other_labels", "frames", "share", "bytes", "bytes_share", "no_payload", "duplicates",
                "duration_seconds",
                "payload_bytes", "top_dst_ports",
            ])
        #expect(labels[0]["label"] as? String == "a" && labels[0]["frames"] as? Int == 11)
        #expect(labels[1]["label"] is NSNull && labels[1]["frames"] as? Int == 1)
        #expect(labels[1]["payload_bytes"] is NSNull)
        let duration = try #require(labels[0]["duration_seconds"] as? [String: Any])
        #expect(Set(duration.keys) == ["frames", "min", "median", "p90", "p99", "max", "mean"])
        #expect(duration["min"] as? Double == 1 && duration["max"] as? Double == 10)
        let payload = try #require(labels[0]["payload_bytes"] as? [String: Any])
        #expect(payload["median"] as? Double == 5 && payload["max"] as? Double == 10)
        let ports = try #require(labels[1]["top_dst_ports"] as? [[String: Any]])
        #expect(ports.first?["port"] as? Int == 53 && ports.first?["frames"] as? Int == 1)
        let time = try #require(object["time"] as? [String: Any])
        #expect(
            Set(time.keys) == [
                "known", "frames_without_time", "first_seen", "last_seen", "first_seen_utc", "last_seen_utc",
                "span_seconds",
                "gap_threshold_seconds", "gaps",
            ])
        #expect(time["known"] as? Bool == true && time["frames_without_time"] as? Int == 1)
        #expect(time["first_seen_utc"] as? String == "2026-11-30T15:00:01.000000Z")
        #expect(time["last_seen_utc"] as? String == "2026-11-30T15:00:20.000000Z")
        #expect(time["span_seconds"] as? Double == 19)
        #expect((time["gaps"] as? [Any])?.isEmpty == true)
    }

    @Test("text: aligned sections with the numbers")
    func text() {
        var frames = (1...4).map { _ in Self.frame(label: "benign", duration: 0.25, payload: 32, first: Self.t0) }
        frames += [Self.frame(label: "c2", duration: 2, dport: 4444, first: Self.t0 + 7200 * 1_000_000)]
        let text = Self.report(frames).text()
        #expect(text.hasPrefix("dps report: 0 files, 5 frames, 2 labels, 0 duplicate frames, 0 bad lines\n"))
        #expect(text.contains("\n  benign       4   80.0%  120 B        80.0%           0           0\n"))
        #expect(text.contains("\n  c2           1   20.0%   30 B        20.0%           1           0\n"))
        #expect(text.contains("\n  benign  250 ms  250 ms  250 ms  250 ms  250 ms  250 ms\n"))
        #expect(text.contains("  c2      4444 (100.0%)"))
        #expect(text.contains("  first seen  2026-11-30 15:00:00\n"))
        #expect(text.contains("  gaps longer than 1 min 12 s: 1\n"))
        #expect(text.contains("    2026-11-30 15:00:00 → 2026-11-30 17:00:00  2 h 0 min\n"))
        #expect(!text.contains(" \n"), "no trailing spaces")
    }

    @Test("hostile values (huge durations and bytes, times at Int64's ends, odd labels) render as text, JSON and HTML")
    func hostileValues() throws {
        let edge: Int64 = 9_000_000_000_000_000_000
        var builder = DatasetReportBuilder()
        for (i, duration) in [1.7e308, 1.7e308, 1e300, 0, Double.leastNonzeroMagnitude].enumerated() {
            builder.add(
                Self.frame(
                    label: "x\u{1b}[2J\n<b>", duration: duration, bytesIn: .max, bytesOut: .max, sport: UInt16(i)))
        }
        builder.add(Self.frame(label: "early", first: -edge, last: -edge))
        builder.add(Self.frame(label: "late", first: edge, last: edge))
        builder.add(Self.frame(label: "", first: 1, last: 0))
        let report = builder.finish()
        #expect(report.time?.gaps.count == 2)
        #expect(!report.text().contains("\u{1b}"))
        let json = try JSONSerialization.jsonObject(with: Data(report.json())) as? [String: Any]
        #expect(json?["frames"] as? Int == 8)
        let html = report.html()
        #expect(html.contains("id=\"time-chart\"") && !html.contains("<b>"))
    }

    @Test("UTC times from epoch microseconds, also before 1970 and in leap years")
    func utc() {
        #expect(ReportFormat.utc(0) == "1970-01-01 00:00:00")
        #expect(ReportFormat.utc(Self.t0) == "2026-11-30 15:00:00")
        #expect(ReportFormat.rfc3339(951_782_400_000_001) == "2000-02-29T00:00:00.000001Z")
        #expect(ReportFormat.rfc3339(-1) == "1969-12-31T23:59:59.999999Z")
    }
}
