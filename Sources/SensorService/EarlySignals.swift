#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM/SIGINT that arrive after the hooks are attached but before the `ServiceGroup` has
/// taken over signal handling: remembered here, so the capture loop stops at once (and detaches)
/// instead of the process dying with its hooks left behind.
enum EarlySignals {
    nonisolated(unsafe) private static var received: sig_atomic_t = 0

    /// Call before attaching anything.
    static func install() {
        for number in [SIGTERM, SIGINT] {
            signal(number) { _ in EarlySignals.received = 1 }
        }
    }

    static var arrived: Bool { received != 0 }
}
