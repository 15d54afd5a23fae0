#if canImport(Glibc)
import Glibc
#endif

/// Counts of non-negative values in fixed log-scale buckets: `bucketsPerDecade` per power of ten
/// from `lowest` to `lowest × 10^decades`, one bucket for 0, values between 0 and `lowest` in the
/// first bucket and values above the top in the last. Memory is fixed (about 10 KB); the exact
/// minimum, maximum and sum are kept beside.
///
/// Quantiles are nearest-rank (the value of rank ⌈p·n⌉), placed inside their bucket by log
/// interpolation and clamped to the exact minimum and maximum: within one bucket's width
/// (10^(1/100), 2.3%) of the exact value.
public struct LogHistogram: Sendable, Equatable {
    public static let bucketsPerDecade = 100
    /// 1 µs (a frame's duration has microsecond resolution).
    public static let lowest = 1e-6
    /// 1 µs to 10^7 s (116 days).
    public static let decades = 13

    public private(set) var count: UInt64 = 0
    public private(set) var zeros: UInt64 = 0
    public private(set) var minimum = Double.infinity
    public private(set) var maximum = 0.0
    public private(set) var sum = 0.0
    /// Bucket `i` holds values in `[lowest × 10^(i/perDecade), lowest × 10^((i+1)/perDecade))`.
    public private(set) var buckets = [UInt64](repeating: 0, count: decades * bucketsPerDecade)

    public init() {}

    public mutating func add(_ value: Double) {
        guard value.isFinite, value >= 0 else { return }
        count += 1
        sum += value
        minimum = Swift.min(minimum, value)
        maximum = Swift.max(maximum, value)
        if value == 0 {
            zeros += 1
        } else {
            buckets[Self.bucket(of: value)] += 1
        }
    }

    public static func bucket(of value: Double) -> Int {
        // In log space: value / lowest overflows for values near Double's largest.
        let position = ((log10(value) - log10(lowest)) * Double(bucketsPerDecade)).rounded(.down)
        let last = decades * bucketsPerDecade - 1
        guard position.isFinite else { return position > 0 ? last : 0 }
        return Int(Swift.min(Swift.max(position, 0), Double(last)))
    }

    /// The lower edge of bucket `index`.
    public static func lowerEdge(_ index: Int) -> Double {
        lowest * pow(10, Double(index) / Double(bucketsPerDecade))
    }

    public var mean: Double? { count == 0 ? nil : sum / Double(count) }

    /// The nearest-rank `p` quantile (0 < p ≤ 1); nil when empty.
    public func quantile(_ p: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = Swift.max(1, UInt64((p * Double(count)).rounded(.up)))
        if rank <= zeros { return 0 }
        var seen = zeros
        for (index, n) in buckets.enumerated() where n > 0 {
            if seen + n >= rank {
                // Log interpolation: the k-th of n values in the bucket sits k/n of the way up.
                let fraction = Double(rank - seen) / Double(n)
                let value = Self.lowest * pow(10, (Double(index) + fraction) / Double(Self.bucketsPerDecade))
                return Swift.min(Swift.max(value, minimum), maximum)
            }
            seen += n
        }
        return maximum
    }

    /// The counts regrouped `factor` buckets at a time (for a chart): `buckets.count / factor`
    /// groups.
    public func grouped(by factor: Int) -> [UInt64] {
        stride(from: 0, to: buckets.count, by: factor).map {
            buckets[$0..<Swift.min($0 + factor, buckets.count)].reduce(0, +)
        }
    }
}
