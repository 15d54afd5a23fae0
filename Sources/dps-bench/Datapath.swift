import Foundation
import Logging
import SensorCore
import SensorKernel

/// Measures 1–3, live: two network namespaces joined by a veth pair (198.51.100.1 in `dpsb-a`,
/// 198.51.100.2 in `dpsb-b`; IPv6 off and static neighbours, so the only packets are the
/// benchmark's), a UDP sender in `dpsb-a` (sendmmsg, 64 messages per call, 200-byte payloads,
/// 8 destination ports, pinned to CPU 0), a sink in `dpsb-b` that binds the ports and never
/// reads (no ICMP unreachables). Rounds alternate: no hook, then `dps run --stdout --extended`
/// attached to `dpsb1` (ingress and egress; `--attach` as given, auto by default). In each hook
/// round: the interface's counters (rx+tx packets) vs the packets in the frames plus the counted
/// drops, and the daemon's CPU (utime+stime from /proc/PID/stat) over the sending window. The
/// baseline, when Debian's softflowd and nfdump are there: softflowd on the same interface in the
/// same flood, interleaved (`softflowdRound`), its ratio and the packets nfcapd stored. Then the
/// floors (`floorRound`): the program stopped early, recording nothing, in rounds of their own.
final class DatapathBench {
    static let nsA = "dpsb-a"
    static let nsB = "dpsb-b"
    let dps: String
    let workdir: String
    let rounds: Int
    let seconds: Double
    let attach: String
    var tool = ""

    /// More arguments for `dps run` (`--dps-arg`).
    let extraArguments: [String]

    init(dps: String, rounds: Int, seconds: Double, attach: String, extraArguments: [String] = []) {
        self.extraArguments = extraArguments
        self.dps = dps
        self.attach = attach
        self.rounds = rounds
        self.seconds = seconds
        workdir = "/tmp/dps-bench-\(getpid())"
    }

    static let cSource = #"""
        #define _GNU_SOURCE
        #include <arpa/inet.h>
        #include <errno.h>
        #include <netinet/in.h>
        #include <sched.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/socket.h>
        #include <time.h>
        #include <unistd.h>

        static double now(void) {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            return t.tv_sec + t.tv_nsec / 1e9;
        }

        int main(int argc, char **argv) {
            if (argc == 4 && strcmp(argv[1], "sink") == 0) {
                int base = atoi(argv[2]), n = atoi(argv[3]);
                for (int i = 0; i < n; i++) {
                    int s = socket(AF_INET, SOCK_DGRAM, 0);
                    int size = 4096;
                    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
                    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(base + i)};
                    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
                }
                printf("ready\n");
                fflush(stdout);
                pause();
                return 0;
            }
            if (argc == 8 && strcmp(argv[1], "send") == 0) {
                int base = atoi(argv[3]), n = atoi(argv[4]), size = atoi(argv[5]), cpu = atoi(argv[7]);
                double seconds = atof(argv[6]);
                if (cpu >= 0) {
                    cpu_set_t set;
                    CPU_ZERO(&set);
                    CPU_SET(cpu, &set);
                    sched_setaffinity(0, sizeof set, &set);
                }
                int s = socket(AF_INET, SOCK_DGRAM, 0);
                static char buf[1500];
                memset(buf, 'x', sizeof buf);
                struct sockaddr_in addrs[64];
                struct iovec iov[64];
                struct mmsghdr msgs[64];
                memset(msgs, 0, sizeof msgs);
                for (int i = 0; i < 64; i++) {
                    memset(&addrs[i], 0, sizeof addrs[i]);
                    addrs[i].sin_family = AF_INET;
                    addrs[i].sin_port = htons(base + i % n);
                    inet_pton(AF_INET, argv[2], &addrs[i].sin_addr);
                    iov[i].iov_base = buf;
                    iov[i].iov_len = size;
                    msgs[i].msg_hdr.msg_name = &addrs[i];
                    msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
                    msgs[i].msg_hdr.msg_iov = &iov[i];
                    msgs[i].msg_hdr.msg_iovlen = 1;
                }
                unsigned long long sent = 0;
                double start = now(), end = start + seconds, t = start;
                while (t < end) {
                    int r = sendmmsg(s, msgs, 64, 0);
                    if (r > 0) sent += r;
                    else if (r < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
                        perror("sendmmsg");
                        return 1;
                    }
                    t = now();
                }
                printf("%llu %.6f\n", sent, t - start);
                return 0;
            }
            fprintf(stderr, "usage: udpbench sink PORT N | send DST PORT N SIZE SECONDS CPU\n");
            return 2;
        }
        """#

    // MARK: Shell

    /// Runs a shell command (`system(3)`: fork, exec, waitpid) with its output in temporary
    /// files; returns stdout. Foundation's `Process` with pipes hung here once daemons (nfcapd,
    /// softflowd) were started from the same process.
    @discardableResult
    static func sh(_ command: String, check: Bool = true) throws -> String {
        let base = "/tmp/dps-bench-sh-\(getpid())"
        defer {
            unlink(base + ".out")
            unlink(base + ".err")
        }
        let status = system("(\(command)) >\(base).out 2>\(base).err </dev/null")
        let out = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        if check && status != 0 {
            let err = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
            throw BenchError("`\(command)` failed (\(status)): \(err)")
        }
        return out
    }

    static func cleanup() {
        _ = try? sh("ip netns del \(nsA) 2>/dev/null; ip netns del \(nsB) 2>/dev/null; true", check: false)
    }

    func setUp() throws {
        Self.cleanup()
        try FileManager.default.createDirectory(atPath: workdir, withIntermediateDirectories: true)
        try Self.cSource.write(toFile: workdir + "/udpbench.c", atomically: true, encoding: .utf8)
        tool = workdir + "/udpbench"
        try Self.sh("cc -O2 -o \(tool) \(workdir)/udpbench.c")
        let a = Self.nsA, b = Self.nsB
        try Self.sh(
            """
            set -e
            ip netns add \(a); ip netns add \(b)
            for ns in \(a) \(b); do
              ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
              ip -n $ns link set lo up
            done
            ip link add dpsb0 netns \(a) type veth peer name dpsb1 netns \(b)
            ip -n \(a) addr add 198.51.100.1/24 dev dpsb0
            ip -n \(b) addr add 198.51.100.2/24 dev dpsb1
            ip -n \(a) link set dpsb0 up
            ip -n \(b) link set dpsb1 up
            ip -n \(a) neigh replace 198.51.100.2 lladdr $(ip netns exec \(b) cat /sys/class/net/dpsb1/address) dev dpsb0 nud permanent
            ip -n \(b) neigh replace 198.51.100.1 lladdr $(ip netns exec \(a) cat /sys/class/net/dpsb0/address) dev dpsb1 nud permanent
            """)
    }

    func tearDown() {
        Self.cleanup()
        try? FileManager.default.removeItem(atPath: workdir)
    }

    func interfacePackets() throws -> UInt64 {
        let out = try Self.sh(
            "ip netns exec \(Self.nsB) cat /sys/class/net/dpsb1/statistics/rx_packets /sys/class/net/dpsb1/statistics/tx_packets")
        return out.split(separator: "\n").compactMap { UInt64($0) }.reduce(0, +)
    }

    /// Sends for `seconds`; returns packets/s.
    func send() throws -> (packets: UInt64, rate: Double) {
        let out = try Self.sh("ip netns exec \(Self.nsA) \(tool) send 198.51.100.2 9000 8 200 \(seconds) 0")
        let fields = out.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 2, let n = UInt64(fields[0]), let t = Double(fields[1]), t > 0 else {
            throw BenchError("sender printed \(out)")
        }
        return (n, Double(n) / t)
    }

    static func cpuTicks(_ pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14, stime 15 (1-based over the whole line).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    struct HookRound {
        var rate: Double
        var sent: UInt64
        var received: UInt64
        var inFrames: UInt64
        var drops: UInt64
        var otherCounted: UInt64
        var cpuSeconds: Double
        /// The programs' mean run time per packet (`measureProgram` rounds only).
        var programNanoseconds: Double?
    }

    /// The programs `dps` attaches (tcx and TC alike).
    static let programNames = ["tc_ingress", "tc_egress"]

    /// One round with `dps` attached. With `measureProgram`, the kernel's run-time statistics are
    /// on during the sending window (they cost two clock reads per run, so that round's rate is
    /// not a fair ratio): the programs' own time per packet, apart from the sender's noise.
    func hookRound(_ index: Int, measureProgram: Bool = false) throws -> HookRound {
        let framesPath = "\(workdir)/frames-\(index).ndjson"
        let logPath = "\(workdir)/dps-\(index).log"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        if !FileManager.default.fileExists(atPath: "/usr/sbin/ip") {
            process.executableURL = URL(fileURLWithPath: "/sbin/ip")
        }
        process.arguments = [
            "netns", "exec", Self.nsB, dps, "run", "--interface", "dpsb1", "--stdout", "--extended",
            "--stats-interval", "3600", "--attach", attach,
        ] + extraArguments
        _ = FileManager.default.createFile(atPath: framesPath, contents: nil)
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: framesPath)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        try process.run()
        let pid = process.processIdentifier
        defer {
            if process.isRunning {
                kill(pid, SIGKILL)
                process.waitUntilExit()
            }
        }
        let deadline = monotonicSeconds() + 20
        while true {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if text.contains("capturing") { break }
            guard process.isRunning, monotonicSeconds() < deadline else {
                throw BenchError("dps did not start: \(text)")
            }
            usleep(20_000)
        }
        let statistics = measureProgram ? try ProgramRunStats.enable() : -1
        defer { if statistics >= 0 { close(statistics) } }
        let program0 = measureProgram ? try ProgramRunStats.totals(Self.programNames) : nil
        let before = try interfacePackets()
        let cpu0 = Self.cpuTicks(pid) ?? 0
        let (sent, rate) = try send()
        let program1 = measureProgram ? try ProgramRunStats.totals(Self.programNames) : nil
        usleep(300_000)  // the consumer catches up (poll timeout 100 ms)
        let cpu1 = Self.cpuTicks(pid) ?? 0
        let after = try interfacePackets()
        kill(pid, SIGINT)
        let stopDeadline = monotonicSeconds() + 20
        while process.isRunning && monotonicSeconds() < stopDeadline { usleep(20_000) }
        guard !process.isRunning else { throw BenchError("dps did not stop on SIGINT") }
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        guard let final = log.split(separator: "\n").last(where: { $0.contains("final stats") }) else {
            throw BenchError("no final stats line from dps: \(log)")
        }
        func stat(_ key: String) -> UInt64 {
            for field in final.split(separator: " ") where field.hasPrefix(key + "=") {
                return UInt64(field.dropFirst(key.count + 1)) ?? 0
            }
            return 0
        }
        var inFrames: UInt64 = 0
        let frames = (try? String(contentsOfFile: framesPath, encoding: .utf8)) ?? ""
        for line in frames.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            else { continue }
            inFrames += UInt64((object["packets_in"] as? Int) ?? 0) + UInt64((object["packets_out"] as? Int) ?? 0)
        }
        return HookRound(
            rate: rate, sent: sent, received: after - before, inFrames: inFrames, drops: stat("ringbuf_drops"),
            otherCounted: stat("trailing") + stat("not_ip") + stat("malformed") + stat("filtered_excluded")
                + stat("filtered_not_included"), cpuSeconds: cpu1 - cpu0,
            programNanoseconds: program0.flatMap { before in program1?.nanosecondsPerRun(since: before) })
    }

    /// setns(2), which Swift's Glibc module leaves out (it is _GNU_SOURCE): from libc itself.
    static let setns: @convention(c) (Int32, Int32) -> Int32 = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "setns") else { fatalError("libc has no setns") }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
    }()
    static let newNetworkNamespace: Int32 = 0x4000_0000  // CLONE_NEWNET

    /// Runs `body` in network namespace `name` (this thread only), then back in ours.
    static func inNamespace<T>(_ name: String, _ body: () throws -> T) throws -> T {
        let ours = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)
        let theirs = open("/var/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
        defer {
            if ours >= 0 { close(ours) }
            if theirs >= 0 { close(theirs) }
        }
        guard ours >= 0, theirs >= 0, setns(theirs, newNetworkNamespace) == 0 else {
            throw BenchError("entering network namespace \(name): \(String(cString: strerror(errno)))")
        }
        defer { precondition(setns(ours, newNetworkNamespace) == 0, "cannot return to our network namespace") }
        return try body()
    }

    /// One round with the program stopped at `floor` (`DatapathFloor`: it records nothing)
    /// attached to `dpsb1` as `dps run` attaches (ingress and egress), loaded in this process:
    /// the sender's rate. The parse and clock floors count what they read: every packet the
    /// interface received, or the round is not a measure of them.
    func floorRound(_ floor: DatapathFloor) throws -> Double {
        guard let mode = HookMode(rawValue: attach) else { throw BenchError("--attach \(attach): auto, tcx or tc") }
        let sensor = try Self.inNamespace(Self.nsB) {
            try KernelSensor(
                interfaces: ["dpsb1"], egress: true, ringBytes: 1 << 20, attach: mode,
                filter: PacketFilter(includeRules: [], excludeRules: []), floor: floor,
                logger: Logger(label: "dps-bench")
            ) { _, _ in }
        }
        defer { _ = try? Self.inNamespace(Self.nsB) { sensor.close() } }
        let before = try interfacePackets()
        let rate = try send().rate
        let received = try interfacePackets() - before
        let counted = sensor.counters().packets
        if floor != .hook && counted != received {
            throw BenchError("the \(floor.rawValue) floor counted \(counted) of \(received) packets received")
        }
        return rate
    }

    /// One softflowd round: softflowd (libpcap on `dpsb1`, both directions) exporting NetFlow v10
    /// (IPFIX) to an `nfcapd` in the same namespace; after the sending window `softflowctl
    /// shutdown` exports every flow, and nfdump counts the packets nfcapd stored.
    func softflowdRound(_ index: Int) throws -> (rate: Double, received: UInt64, collected: UInt64, cpuSeconds: Double) {
        // Both run as daemons with pid files: Foundation's Process, with two long-lived children
        // of its own, stopped reaping the short ones (`sh`) and hung.
        let directory = "\(workdir)/nfcapd-\(index)"
        let control = "\(workdir)/softflowd-\(index).ctl"
        let collectorPid = "\(workdir)/nfcapd-\(index).pid"
        let exporterPid = "\(workdir)/softflowd-\(index).pid"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func pid(_ file: String) -> Int32? {
            (try? String(contentsOfFile: file, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        func stop(_ file: String) {
            guard let p = pid(file) else { return }
            kill(p, SIGTERM)
            let deadline = monotonicSeconds() + 10
            while kill(p, 0) == 0 && monotonicSeconds() < deadline { usleep(20_000) }
            if kill(p, 0) == 0 { kill(p, SIGKILL) }
        }
        try Self.sh(
            "ip netns exec \(Self.nsB) \(BackfillBench.nfcapd) -D -P \(collectorPid) -b 127.0.0.1 -p 9995 -w \(directory) "
                + "-B 8388608 >/dev/null 2>&1")
        defer { stop(collectorPid) }
        try Self.sh(
            "ip netns exec \(Self.nsB) \(BackfillBench.softflowd) -i dpsb1 -n 127.0.0.1:9995 -v 10 -c \(control) "
                + "-p \(exporterPid) >/dev/null 2>&1")
        defer { stop(exporterPid) }
        let deadline = monotonicSeconds() + 10
        while !FileManager.default.fileExists(atPath: control) || pid(exporterPid) == nil || pid(collectorPid) == nil {
            guard monotonicSeconds() < deadline else { throw BenchError("softflowd or nfcapd did not start") }
            usleep(20_000)
        }
        usleep(300_000)  // the pcap handle is open before the control socket; nfcapd binds
        let softflowd = pid(exporterPid)!
        let before = try interfacePackets()
        let cpu0 = Self.cpuTicks(softflowd) ?? 0
        let (_, rate) = try send()
        usleep(300_000)
        let cpu1 = Self.cpuTicks(softflowd) ?? 0
        let after = try interfacePackets()
        // Exports every flow, then exits.
        try Self.sh("ip netns exec \(Self.nsB) softflowctl -c \(control) shutdown >/dev/null 2>&1")
        let stopDeadline = monotonicSeconds() + 20
        while kill(softflowd, 0) == 0 && monotonicSeconds() < stopDeadline { usleep(20_000) }
        usleep(500_000)  // nfcapd reads and stores the last datagrams
        stop(collectorPid)
        let summary = try Self.sh("\(BackfillBench.nfdump) -N -R \(directory)")
        let collected = UInt64(BackfillBench.number(after: "total packets: ", in: summary))
        return (rate, after - before, collected, cpu1 - cpu0)
    }

    func measure(into report: Report) throws {
        log(
            "datapath: \(rounds) alternating rounds of \(seconds) s, UDP 200-byte payloads over veth, --attach \(attach)"
                + extraArguments.map { " \($0)" }.joined())
        try setUp()
        defer { tearDown() }
        let sink = Process()
        sink.executableURL = URL(fileURLWithPath: "/bin/sh")
        sink.arguments = ["-c", "exec ip netns exec \(Self.nsB) \(tool) sink 9000 8"]
        sink.standardOutput = FileHandle.nullDevice
        try sink.run()
        defer {
            sink.terminate()
            sink.waitUntilExit()
        }
        usleep(200_000)
        _ = try send()  // warm-up
        // Each round: no hook, dps, no hook, softflowd, no hook; each sensor's rate is divided by
        // the mean of the no-hook rates just before and after it.
        let withSoftflowd = FileManager.default.isExecutableFile(atPath: BackfillBench.softflowd)
            && FileManager.default.isExecutableFile(atPath: BackfillBench.nfcapd)
        if !withSoftflowd { report.note("datapath: no softflowd/nfcapd (apt-get install softflowd nfdump): dps alone") }
        var base: [Double] = []
        var hooked: [HookRound] = []
        var ratios: [Double] = []
        var softflowdRatios: [Double] = []
        var softflowdAccounted: [Double] = []
        var softflowdCPU: [Double] = []
        var next = try send().rate
        for i in 0..<rounds {
            let b = next
            base.append(b)
            log(String(format: "  round %d: no hook   %.0f pkt/s", i + 1, b))
            let h = try hookRound(i)
            hooked.append(h)
            log(String(format: "  round %d: dps       %.0f pkt/s, received %llu, in frames %llu, drops %llu, cpu %.2f s",
                       i + 1, h.rate, h.received, h.inFrames, h.drops, h.cpuSeconds))
            next = try send().rate
            log(String(format: "  round %d: no hook   %.0f pkt/s", i + 1, next))
            ratios.append(h.rate / ((b + next) / 2))
            guard withSoftflowd else { continue }
            let between = next
            let f = try softflowdRound(i)
            next = try send().rate
            log(String(format: "  round %d: softflowd %.0f pkt/s, received %llu, collected %llu, cpu %.2f s; no hook %.0f pkt/s",
                       i + 1, f.rate, f.received, f.collected, f.cpuSeconds, next))
            softflowdRatios.append(f.rate / ((between + next) / 2))
            softflowdAccounted.append(f.received == 0 ? .nan : Double(f.collected) / Double(f.received) * 100)
            softflowdCPU.append(f.received == 0 ? .nan : f.cpuSeconds / (Double(f.received) / 1e6))
        }
        // Then the programs' own cost, in rounds of their own (statistics on).
        var programNanoseconds: [Double] = []
        for i in 0..<3 {
            if let ns = try hookRound(rounds + i, measureProgram: true).programNanoseconds {
                programNanoseconds.append(ns)
                log(String(format: "  program round %d: %.0f ns per packet", i + 1, ns))
            }
        }
        // The floors: what any sensor that reads every packet in the kernel costs here, before it
        // records anything (rounds: no hook, hook, no hook, parse, no hook, clock, no hook).
        var floorRatios: [DatapathFloor: [Double]] = [:]
        for i in 0..<rounds {
            var line = "  floor round \(i + 1):"
            for floor in DatapathFloor.allCases {
                let before = next
                let rate = try floorRound(floor)
                next = try send().rate
                floorRatios[floor, default: []].append(rate / ((before + next) / 2))
                line += String(format: " %@ %.3f", floor.rawValue, floorRatios[floor]!.last!)
            }
            log(line)
        }
        log("  ratios: dps \(ratios.map { String(format: "%.3f", $0) }.joined(separator: " "))"
            + (withSoftflowd ? "; softflowd \(softflowdRatios.map { String(format: "%.3f", $0) }.joined(separator: " "))" : ""))
        if withSoftflowd {
            report.add(Figure("datapath.softflowd_ratio", "datapath: softflowd (libpcap) / no hook (median of rounds)",
                              median(softflowdRatios), "ratio"))
            report.add(Figure("datapath.softflowd_accounted_pct",
                              "datapath: softflowd, received packets stored by nfcapd (min of rounds)",
                              softflowdAccounted.min() ?? .nan, "%"))
            report.add(Figure("datapath.softflowd_cpu", "datapath: softflowd CPU-seconds per million packets (median)",
                              median(softflowdCPU), "CPU s/Mpkt"))
        }
        report.add(Figure("datapath.rate_no_hook", "datapath: sender pkt/s, no hook (median)", median(base), "pkt/s"))
        report.add(Figure("datapath.rate_dps", "datapath: sender pkt/s, dps attached (median)",
                          median(hooked.map(\.rate)), "pkt/s"))
        report.add(Figure("datapath.ratio", "datapath: attached / no hook (median of rounds)", median(ratios),
                          "ratio", atLeast: 0.95))
        for floor in DatapathFloor.allCases {
            let what = switch floor {
            case .hook: "the hook alone"
            case .parse: "parse, no record"
            case .clock: "parse and clock read, no record"
            }
            report.add(Figure("datapath.floor_\(floor.rawValue)", "datapath floor: \(what) / no hook (median of rounds)",
                              median(floorRatios[floor] ?? []), "ratio"))
        }
        if withSoftflowd {
            report.add(Figure("datapath.ratio_over_softflowd", "datapath: dps ratio / softflowd ratio (medians)",
                              median(ratios) / median(softflowdRatios), "ratio", atLeast: 1))
        }
        report.add(Figure("datapath.program_ns", "datapath: BPF program run time per packet (kernel statistics, median of 3 rounds)",
                          median(programNanoseconds), "ns"))
        let completeness = hooked.map { r -> Double in
            r.received == 0 ? .nan : Double(r.inFrames + r.drops + r.otherCounted) / Double(r.received) * 100
        }
        let seen = hooked.map { r -> Double in
            r.received == 0 ? .nan : Double(r.inFrames) / Double(r.received) * 100
        }
        report.add(Figure("completeness.accounted_pct", "completeness: received packets accounted (min of rounds)",
                          completeness.min() ?? .nan, "%", atLeast: 100))
        report.add(Figure("completeness.in_frames_pct", "completeness: received packets in frames (min of rounds)",
                          seen.min() ?? .nan, "%"))
        report.add(Figure("completeness.ringbuf_drops", "completeness: ring-buffer drops (max of rounds)",
                          Double(hooked.map(\.drops).max() ?? 0), "pkt", atMost: 0))
        let cpu = hooked.map { r -> Double in r.received == 0 ? .nan : r.cpuSeconds / (Double(r.received) / 1e6) }
        report.add(Figure("cpu.seconds_per_mpkt", "cpu: dps CPU-seconds per million packets (median)",
                          median(cpu), "CPU s/Mpkt", atMost: 0.5))
        let utilisation = hooked.map { $0.cpuSeconds / (seconds + 0.3) * 100 }
        report.add(Figure("cpu.core_pct", "cpu: dps share of one core while sending (median)",
                          median(utilisation), "%"))
    }
}
