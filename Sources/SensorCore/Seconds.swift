/// Durations given in seconds (settings, `--duration`).
public enum Seconds {
    /// The longest accepted: about 31 years, far below what nanoseconds in an Int64 can hold.
    public static let maximum = 1e9

    /// Nanoseconds, for a checked value (finite, at most `maximum`).
    public static func nanoseconds(_ value: Double) -> Int64 { Int64((value * 1e9).rounded()) }
}
