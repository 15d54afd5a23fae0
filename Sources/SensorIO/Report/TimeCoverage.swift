/// When frames happened, in bounded memory: frames are counted in time buckets by `first_seen`
/// (per label, for the frames-over-time chart), and each bucket keeps its earliest `first_seen`
/// and latest `last_seen`. Buckets start 1 s wide; whenever more than `maxBuckets` are in use
/// their width doubles (neighbours merge), so memory is bounded whatever the span.
///
/// Gaps come from a sweep over the buckets in time order: the time covered so far is the latest
/// `last_seen` of the frames before; a bucket whose earliest `first_seen` lies beyond it by more
/// than the threshold leaves a gap between the two. Its ends are exact frame times; a gap inside a
/// single bucket (shorter than the bucket width, under 1/4096 of the span) is not seen, and the
/// threshold is larger than that.
public struct TimeCoverage: Sendable {
    public static let maxBuckets = 4096

    struct Bucket: Sendable {
        var earliest: Int64
        var latest: Int64
        /// Frames per label index.
        var frames: [UInt64]
    }

    /// Microseconds; a power-of-two multiple of 1 s.
    private(set) var width: Int64 = 1_000_000
    private(set) var buckets: [Int64: Bucket] = [:]
    public private(set) var frames: UInt64 = 0

    public init() {}

    /// A frame seen from `first` to `last` (epoch microseconds), labeled with label index `label`.
    public mutating func add(first: Int64, last: Int64, label: Int) {
        frames += 1
        let key = Self.floorDivide(first, width)
        let end = max(first, last)
        if var bucket = buckets[key] {
            buckets[key] = nil  // no copy on write of `frames`
            bucket.earliest = min(bucket.earliest, first)
            bucket.latest = max(bucket.latest, end)
            Self.count(label, in: &bucket.frames)
            buckets[key] = bucket
        } else {
            var bucket = Bucket(earliest: first, latest: end, frames: [])
            Self.count(label, in: &bucket.frames)
            buckets[key] = bucket
            if buckets.count > Self.maxBuckets { coarsen() }
        }
    }

    private static func count(_ label: Int, in frames: inout [UInt64]) {
        if frames.count <= label { frames += [UInt64](repeating: 0, count: label + 1 - frames.count) }
        frames[label] += 1
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor != 0 && value < 0) ? quotient - 1 : quotient
    }

    /// Doubles the width until the buckets fit.
    private mutating func coarsen() {
        while buckets.count > Self.maxBuckets {
            width *= 2
            var merged: [Int64: Bucket] = [:]
            merged.reserveCapacity(buckets.count / 2 + 1)
            for (key, bucket) in buckets {
                let newKey = key >> 1  // floor division by 2, also below zero
                if var other = merged[newKey] {
                    other.earliest = min(other.earliest, bucket.earliest)
                    other.latest = max(other.latest, bucket.latest)
                    for (label, n) in bucket.frames.enumerated() where n > 0 {
                        if other.frames.count <= label {
                            other.frames += [UInt64](repeating: 0, count: label + 1 - other.frames.count)
                        }
                        other.frames[label] += n
                    }
                    merged[newKey] = other
                } else {
                    merged[newKey] = bucket
                }
            }
            buckets = merged
        }
    }

    /// The result, with gaps longer than max(60 s, 1% of the span). nil without frames.
    public func summary(labels: Int, maxBins: Int = 120) -> DatasetReport.Time? {
        guard !buckets.isEmpty else { return nil }
        let keys = buckets.keys.sorted()
        let first = buckets.values.map(\.earliest).min()!
        let last = buckets.values.map(\.latest).max()!
        let span = last.subtractingReportingOverflow(first)
        let spanMicros = span.overflow ? Int64.max : span.partialValue
        let threshold = max(60_000_000, spanMicros / 100)
        var gaps: [DatasetReport.Gap] = []
        var covered: Int64?
        for key in keys {
            let bucket = buckets[key]!
            if let covered, bucket.earliest > covered {
                let (length, overflow) = bucket.earliest.subtractingReportingOverflow(covered)
                if overflow || length > threshold {
                    gaps.append(DatasetReport.Gap(start: covered, end: bucket.earliest))
                }
            }
            covered = max(covered ?? bucket.latest, bucket.latest)
        }

        // The chart: at most `maxBins` bins, each a whole number of buckets.
        let firstKey = keys.first!
        let lastKey = keys.last!
        let (bucketSpan, spanOverflow) = lastKey.subtractingReportingOverflow(firstKey)
        let perBin = spanOverflow ? Int64.max : max(1, bucketSpan / Int64(maxBins) + 1)
        let binCount = spanOverflow ? 1 : Int(bucketSpan / perBin) + 1
        var bins = [[UInt64]](repeating: [UInt64](repeating: 0, count: labels), count: binCount)
        for key in keys {
            let bin = spanOverflow ? 0 : Int((key - firstKey) / perBin)
            for (label, n) in buckets[key]!.frames.enumerated() where label < labels {
                bins[bin][label] += n
            }
        }
        let (binStart, startOverflow) = firstKey.multipliedReportingOverflow(by: width)
        let (binWidth, widthOverflow) = perBin.multipliedReportingOverflow(by: width)
        return DatasetReport.Time(
            first: first, last: last, gapThreshold: threshold, gaps: gaps,
            binStart: startOverflow ? first : binStart, binWidth: widthOverflow ? Int64.max : binWidth, bins: bins)
    }
}
