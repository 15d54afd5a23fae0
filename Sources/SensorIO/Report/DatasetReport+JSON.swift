import Foundation

extension DatasetReport {
    /// `dps-report/1`: the `format` key of the JSON report.
    public static let jsonFormat = "dps-report/1"

    /// The report as one JSON document (pretty-printed, keys sorted; the keys are in the README).
    /// Durations and times are seconds (times since the epoch) with microsecond precision, shares
    /// are 0–1.
    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Plain strings and numbers (all finite): encoding cannot fail.
        return Array((try? encoder.encode(JSONReport(self))) ?? Data()) + [0x0A]
    }
}

/// The JSON document's shape: one place for its keys.
private struct JSONReport: Encodable {
    var format = DatasetReport.jsonFormat
    var files: [File]
    var frames: UInt64
    var distinct_frames: UInt64
    var duplicate_frames: UInt64
    var bad_lines: UInt64
    var bad_line_examples: [String]
    var labels: [Label]
    var rules: [Rules]
    var time: Time

    struct File: Encodable {
        var path: String
        var format: String?
        var lines: UInt64
        var frames: UInt64
        var bad_lines: UInt64
        var ended_early: Bool
        var error: String?
        var header: Header?

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(path, forKey: .path)
            try c.encode(format, forKey: .format)  // null, not left out
            try c.encode(lines, forKey: .lines)
            try c.encode(frames, forKey: .frames)
            try c.encode(bad_lines, forKey: .bad_lines)
            try c.encode(ended_early, forKey: .ended_early)
            try c.encode(error, forKey: .error)
            try c.encode(header, forKey: .header)
        }

        enum CodingKeys: String, CodingKey {
            case path, format, lines, frames, bad_lines, ended_early, error, header
        }
    }

    struct Header: Encodable {
        var host: String
        var started: String
        var rules_source: String
        var rules_sha256: String
    }

    struct Label: Encodable {
        var label: String?
        var other_labels: Bool
        var frames: UInt64
        var share: Double
        var bytes: UInt64
        var bytes_share: Double
        var no_payload: UInt64
        var duplicates: UInt64
        var duration_seconds: Distribution?
        var payload_bytes: Distribution?
        var top_dst_ports: [Port]

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(label, forKey: .label)
            try c.encode(other_labels, forKey: .other_labels)
            try c.encode(frames, forKey: .frames)
            try c.encode(share, forKey: .share)
            try c.encode(bytes, forKey: .bytes)
            try c.encode(bytes_share, forKey: .bytes_share)
            try c.encode(no_payload, forKey: .no_payload)
            try c.encode(duplicates, forKey: .duplicates)
            try c.encode(duration_seconds, forKey: .duration_seconds)
            try c.encode(payload_bytes, forKey: .payload_bytes)
            try c.encode(top_dst_ports, forKey: .top_dst_ports)
        }

        enum CodingKeys: String, CodingKey {
            case label, other_labels, frames, share, bytes, bytes_share, no_payload, duplicates, duration_seconds
            case payload_bytes, top_dst_ports
        }
    }

    struct Distribution: Encodable {
        var frames: UInt64
        var min: Double
        var median: Double
        var p90: Double
        var p99: Double
        var max: Double
        var mean: Double
    }

    struct Port: Encodable {
        var port: UInt16
        var frames: UInt64
    }

    struct Rules: Encodable {
        var source: String
        var sha256: String
        var labels: [String]
        var unmatched: String
        var hosts: [String]
        var files: [String]
    }

    struct Time: Encodable {
        var known: Bool
        var frames_without_time: UInt64
        var first_seen: Double?
        var last_seen: Double?
        var first_seen_utc: String?
        var last_seen_utc: String?
        var span_seconds: Double?
        var gap_threshold_seconds: Double?
        var gaps: [Gap]?

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(known, forKey: .known)
            try c.encode(frames_without_time, forKey: .frames_without_time)
            try c.encode(first_seen, forKey: .first_seen)
            try c.encode(last_seen, forKey: .last_seen)
            try c.encode(first_seen_utc, forKey: .first_seen_utc)
            try c.encode(last_seen_utc, forKey: .last_seen_utc)
            try c.encode(span_seconds, forKey: .span_seconds)
            try c.encode(gap_threshold_seconds, forKey: .gap_threshold_seconds)
            try c.encode(gaps ?? [], forKey: .gaps)
        }

        enum CodingKeys: String, CodingKey {
            case known, frames_without_time, first_seen, last_seen, first_seen_utc, last_seen_utc, span_seconds
            case gap_threshold_seconds, gaps
        }
    }

    struct Gap: Encodable {
        var start: Double
        var end: Double
        var start_utc: String
        var end_utc: String
        var seconds: Double
    }

    /// Rounded to microseconds (or to 6 decimals for shares): no float noise in the text.
    static func micro(_ value: Double) -> Double {
        guard value.isFinite else { return .greatestFiniteMagnitude }  // a sum past 1.8e308 (hostile durations)
        let rounded = (value * 1e6).rounded() / 1e6
        return rounded.isFinite ? rounded : value
    }

    static func seconds(_ micros: Int64) -> Double { Double(micros) / 1e6 }

    static func distribution(_ d: DatasetReport.Distribution?) -> Distribution? {
        guard let d else { return nil }
        return Distribution(
            frames: d.count, min: micro(d.min), median: micro(d.median), p90: micro(d.p90), p99: micro(d.p99),
            max: micro(d.max), mean: micro(d.mean))
    }

    init(_ report: DatasetReport) {
        files = report.files.map { file in
            File(
                path: file.path, format: file.format?.rawValue, lines: file.lines, frames: file.frames,
                bad_lines: file.badLines, ended_early: file.endedEarly, error: file.error,
                header: file.header.map {
                    Header(
                        host: $0.host, started: $0.started, rules_source: $0.rules.source, rules_sha256: $0.rules.sha256
                    )
                })
        }
        frames = report.frames
        distinct_frames = report.frames - report.duplicates
        duplicate_frames = report.duplicates
        bad_lines = report.badLines
        bad_line_examples = report.badLineExamples
        labels = report.labels.map { label in
            Label(
                label: label.folded ? nil : label.name, other_labels: label.folded, frames: label.frames,
                share: Self.micro(label.share), bytes: label.bytes, bytes_share: Self.micro(label.bytesShare),
                no_payload: label.noPayload, duplicates: label.duplicates,
                duration_seconds: Self.distribution(label.durations), payload_bytes: Self.distribution(label.payload),
                top_dst_ports: label.topPorts.map { Port(port: $0.port, frames: $0.frames) })
        }
        rules = report.rules.map {
            Rules(
                source: $0.source, sha256: $0.sha256, labels: $0.labels, unmatched: $0.unmatched, hosts: $0.hosts,
                files: $0.files)
        }
        if let time = report.time {
            self.time = Time(
                known: true, frames_without_time: report.framesWithoutTime, first_seen: Self.seconds(time.first),
                last_seen: Self.seconds(time.last), first_seen_utc: ReportFormat.rfc3339(time.first),
                last_seen_utc: ReportFormat.rfc3339(time.last), span_seconds: Self.micro(time.spanSeconds),
                gap_threshold_seconds: Self.seconds(time.gapThreshold),
                gaps: time.gaps.map {
                    Gap(
                        start: Self.seconds($0.start), end: Self.seconds($0.end),
                        start_utc: ReportFormat.rfc3339($0.start),
                        end_utc: ReportFormat.rfc3339($0.end), seconds: Self.micro($0.seconds))
                })
        } else {
            self.time = Time(known: false, frames_without_time: report.framesWithoutTime)
        }
    }
}
