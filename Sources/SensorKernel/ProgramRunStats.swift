import CLibbpf

#if canImport(Glibc)
import Glibc
#endif

/// The kernel's own account of what the BPF programs cost: run time and run count, summed over
/// every loaded program of a name. The kernel keeps them only while statistics are on, which
/// costs two clock reads per run, so they are turned on for a measurement only (`enable`), never
/// in the daemon.
public enum ProgramRunStats {
    public struct Totals: Sendable, Equatable {
        public var nanoseconds: UInt64
        public var runs: UInt64

        /// Mean run time per run since `earlier`, or nil when nothing ran.
        public func nanosecondsPerRun(since earlier: Totals) -> Double? {
            guard runs > earlier.runs else { return nil }
            return Double(nanoseconds &- earlier.nanoseconds) / Double(runs - earlier.runs)
        }
    }

    /// Turns statistics on until the returned descriptor is closed (BPF_ENABLE_STATS).
    public static func enable() throws(KernelError) -> Int32 {
        let fd = bpf_enable_stats(BPF_STATS_RUN_TIME)
        guard fd >= 0 else { throw KernelError(.system, "turning on BPF run-time statistics", errno: fd) }
        return fd
    }

    /// The totals of the programs named in `names` (the kernel keeps the first 15 bytes of a name).
    public static func totals(_ names: [String]) throws(KernelError) -> Totals {
        var sum = Totals(nanoseconds: 0, runs: 0)
        for name in names {
            var time: UInt64 = 0
            var count: UInt64 = 0
            let found = CLibbpf_prog_run_totals(name, &time, &count)
            guard found >= 0 else { throw KernelError(.system, "reading the statistics of \(name)", errno: found) }
            sum.nanoseconds &+= time
            sum.runs &+= count
        }
        return sum
    }
}
