import ArgumentParser

/// Durations given in seconds on the command line.
enum Seconds {
    /// The longest accepted: about 31 years, far below what nanoseconds in an Int64 can hold.
    static let maximum = 1e9

    /// Throws unless `value` is a finite number of seconds above 0 and at most `maximum`.
    static func validate(_ value: Double, _ option: String) throws {
        guard value.isFinite, value > 0, value <= maximum else {
            throw ValidationError("\(option) must be a number of seconds above 0 and at most \(Int(maximum))")
        }
    }

    /// Nanoseconds, for a value `validate` accepted.
    static func nanoseconds(_ value: Double) -> Int64 { Int64((value * 1e9).rounded()) }
}
