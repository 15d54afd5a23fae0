import Prometheus
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The `process_*` families every Prometheus client library exports, read from /proc/self at
/// scrape time: CPU seconds, resident and virtual memory, open and maximum file descriptors, and
/// the start time.
final class ProcessMetrics: Sendable {
    private let cpuSeconds: Counter
    private let residentBytes: Gauge
    private let virtualBytes: Gauge
    private let openFDs: Gauge
    private let maxFDs: Gauge
    private let startTime: Gauge
    /// CPU seconds already added to `cpuSeconds`.
    private let counted = Mutex<Double>(0)

    init(registry r: PrometheusCollectorRegistry) {
        cpuSeconds = r.counter("process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.")
        residentBytes = r.gauge("process_resident_memory_bytes", help: "Resident memory size in bytes.")
        virtualBytes = r.gauge("process_virtual_memory_bytes", help: "Virtual memory size in bytes.")
        openFDs = r.gauge("process_open_fds", help: "Number of open file descriptors.")
        maxFDs = r.gauge("process_max_fds", help: "Maximum number of open file descriptors.")
        startTime = r.gauge(
            "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.")
        if let stat = Self.stat(), let boot = Self.bootTime() {
            startTime.set(to: boot + stat.startTicks / Self.ticksPerSecond)
        }
    }

    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    func update() {
        if let stat = Self.stat() {
            let seconds = (stat.userTicks + stat.systemTicks) / Self.ticksPerSecond
            let delta = counted.withLock { counted in
                defer { counted = max(counted, seconds) }
                return seconds - counted
            }
            if delta > 0 { cpuSeconds.increment(by: delta) }
            virtualBytes.set(to: stat.virtualBytes)
            residentBytes.set(to: stat.residentPages * Double(sysconf(Int32(_SC_PAGESIZE))))
        }
        openFDs.set(to: Double(Self.openFileDescriptors()))
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            maxFDs.set(to: Double(limit.rlim_cur))
        }
    }

    /// Fields of /proc/self/stat (proc(5)): utime 14, stime 15, starttime 22, vsize 23, rss 24.
    struct Stat {
        var userTicks: Double
        var systemTicks: Double
        var startTicks: Double
        var virtualBytes: Double
        var residentPages: Double
    }

    static func stat() -> Stat? {
        guard let text = read("/proc/self/stat"), let end = text.lastIndex(of: ")") else { return nil }
        // After "pid (comm)" the fields start at 3 (state); comm may hold spaces or parentheses.
        let fields = text[text.index(after: end)...].split(separator: " ")
        func field(_ number: Int) -> Double? { fields.count > number - 3 ? Double(fields[number - 3]) : nil }
        guard let user = field(14), let system = field(15), let start = field(22), let virtual = field(23),
            let resident = field(24)
        else { return nil }
        return Stat(
            userTicks: user, systemTicks: system, startTicks: start, virtualBytes: virtual, residentPages: resident)
    }

    /// The boot time in seconds since the epoch: the real-time clock less the time since boot
    /// (/proc/stat's `btime` is not visible under the unit's `ProcSubset=pid`).
    static func bootTime() -> Double? {
        var now = timespec()
        var sinceBoot = timespec()
        guard clock_gettime(CLOCK_REALTIME, &now) == 0, clock_gettime(CLOCK_BOOTTIME, &sinceBoot) == 0 else {
            return nil
        }
        return Double(now.tv_sec - sinceBoot.tv_sec) + Double(now.tv_nsec - sinceBoot.tv_nsec) / 1e9
    }

    static func openFileDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
        }
        return max(0, count - 1)  // less the descriptor opendir holds
    }

    /// A small /proc file whole (they report size 0, so read until EOF).
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
