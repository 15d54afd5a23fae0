/// What a set of labeled NDJSON files holds, as `dps report` shows it: per label the frames, their
/// share, bytes, duration and payload-length distributions, top destination ports, frames without
/// payload; exact duplicates; the rules the files' headers record; time coverage and gaps; bad
/// lines. Built in one pass by `DatasetReportBuilder`; rendered as text, JSON and HTML by its
/// extensions.
public struct DatasetReport: Sendable {
    public var files: [File]
    /// Frames read (good lines), duplicates included.
    public var frames: UInt64
    /// Frames equal to an earlier frame (every field, label included); `frames - duplicates` are
    /// distinct.
    public var duplicates: UInt64
    public var badLines: UInt64
    /// The first bad lines, `file:line: what is wrong` (`DatasetReportBuilder.maxExamples`).
    public var badLineExamples: [String]
    /// Most frames first (then by name).
    public var labels: [Label]
    /// Labels beyond `DatasetReportBuilder.maxLabels` are counted in one `Label` with `folded`.
    public var rules: [Rules]
    /// nil when no frame has `first_seen` (basic frames).
    public var time: Time?
    /// Frames without `first_seen`/`last_seen` (both absent or 0).
    public var framesWithoutTime: UInt64

    public struct File: Sendable, Equatable {
        public var path: String
        public var format: DecompressingReader.Format?
        public var lines: UInt64
        public var frames: UInt64
        public var badLines: UInt64
        /// The compressed data stopped mid-way (the file was cut short).
        public var endedEarly: Bool
        /// Why the file could not be read, or not to the end.
        public var error: String?
        public var header: DatasetHeader?
    }

    public struct Label: Sendable {
        /// nil for frames without a label.
        public var name: String?
        /// The bucket of the labels beyond the limit.
        public var folded: Bool
        public var frames: UInt64
        /// Of all frames, 0–1.
        public var share: Double
        /// bytes_in + bytes_out, summed (saturating at 2^64 − 1).
        public var bytes: UInt64
        public var bytesShare: Double
        public var noPayload: UInt64
        public var duplicates: UInt64
        /// Seconds.
        public var duration: LogHistogram
        /// Payload snapshot lengths of the frames that have one: `payloadLengths[n]` frames of n
        /// bytes (1–128; index 0 unused).
        public var payloadLengths: [UInt64]
        /// Most frames first, then lower port; at most `DatasetReportBuilder.topPorts`.
        public var topPorts: [(port: UInt16, frames: UInt64)]

        /// What a person reads: the name, `(unlabeled)` or `(other labels)`.
        public var displayName: String {
            if folded { return "(other labels)" }
            return name ?? "(unlabeled)"
        }

        public var payload: Distribution? {
            Distribution(exactCounts: payloadLengths)
        }

        public var durations: Distribution? {
            guard duration.count > 0 else { return nil }
            return Distribution(
                count: duration.count, min: duration.minimum, median: duration.quantile(0.5)!,
                p90: duration.quantile(0.9)!, p99: duration.quantile(0.99)!, max: duration.maximum,
                mean: duration.mean!)
        }
    }

    /// Nearest-rank quantiles.
    public struct Distribution: Sendable, Equatable {
        public var count: UInt64
        public var min: Double
        public var median: Double
        public var p90: Double
        public var p99: Double
        public var max: Double
        public var mean: Double

        public init(count: UInt64, min: Double, median: Double, p90: Double, p99: Double, max: Double, mean: Double) {
            self.count = count
            self.min = min
            self.median = median
            self.p90 = p90
            self.p99 = p99
            self.max = max
            self.mean = mean
        }

        /// From exact counts: `counts[v]` values equal to v. nil when there are none.
        init?(exactCounts counts: [UInt64]) {
            let total = counts.reduce(0, +)
            guard total > 0 else { return nil }
            func quantile(_ p: Double) -> Double {
                let rank = Swift.max(1, UInt64((p * Double(total)).rounded(.up)))
                var seen: UInt64 = 0
                for (value, n) in counts.enumerated() {
                    seen += n
                    if seen >= rank { return Double(value) }
                }
                return Double(counts.count - 1)
            }
            let sum = counts.enumerated().reduce(0.0) { $0 + Double($1.offset) * Double($1.element) }
            self.init(
                count: total, min: Double(counts.firstIndex { $0 > 0 }!), median: quantile(0.5), p90: quantile(0.9),
                p99: quantile(0.99), max: Double(counts.lastIndex { $0 > 0 }!), mean: sum / Double(total))
        }
    }

    /// A set of rules recorded in file headers, and the files that carry it.
    public struct Rules: Sendable, Equatable {
        public var source: String
        public var sha256: String
        public var labels: [String]
        public var unmatched: String
        public var files: [String]
        public var hosts: [String]
    }

    /// Epoch microseconds.
    public struct Gap: Sendable, Equatable {
        public var start: Int64
        public var end: Int64
        public var seconds: Double { (Double(end) - Double(start)) / 1e6 }
    }

    public struct Time: Sendable {
        /// The earliest `first_seen`, the latest `last_seen`: epoch microseconds.
        public var first: Int64
        public var last: Int64
        /// Gaps are longer than this: max(60 s, 1% of the span), microseconds.
        public var gapThreshold: Int64
        public var gaps: [Gap]
        /// The frames-over-time chart: bin `i` starts at `binStart + i × binWidth`; `bins[i][l]`
        /// frames of `labels[l]` whose `first_seen` falls in it.
        public var binStart: Int64
        public var binWidth: Int64
        public var bins: [[UInt64]]

        public var spanSeconds: Double { (Double(last) - Double(first)) / 1e6 }
    }
}
