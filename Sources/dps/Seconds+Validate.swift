import ArgumentParser
import SensorCore
import SensorService

extension Seconds {
    /// Throws unless `value` is a finite number of seconds above 0 and at most `maximum`.
    static func validate(_ value: Double, _ option: String) throws {
        guard value.isFinite, value > 0, value <= maximum else {
            throw ValidationError("\(option) must be a number of seconds above 0 and at most \(Int(maximum))")
        }
    }
}
