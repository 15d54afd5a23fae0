import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Measure: backfilling a collector from a capture. The offline measure's built capture (the
/// shared captures replayed) goes to Debian's `nfcapd` twice per round: through
/// `dps label --pcap FILE --ipfix udp://…` (no `--out`: export only) and through
/// `softflowd -r FILE -v 10` (a libpcap flow exporter), each into a fresh nfcapd, rounds
/// interleaved; beside them, `dps label` writing labeled NDJSON to /dev/null with no export. Printed: packets/s of each (its
/// process, start to exit), and what the collector stored against what each tool says it
/// exported (flows or records, and packets against the capture's IP packets): a flow lost
/// anywhere between the tool and nfcapd's file shows there.
enum BackfillBench {
    static let nfcapd = "/usr/bin/nfcapd"
    static let nfdump = "/usr/bin/nfdump"
    static let softflowd = "/usr/sbin/softflowd"

    struct Run {
        var seconds: Double
        /// What the tool says it exported: dps frames, softflowd records.
        var exported: Int
        /// IP packets the tool read.
        var packets: Int
        /// What nfcapd stored.
        var collectedFlows: Int
        var collectedPackets: Int
    }

    static func measure(dps: String, pcaps: String, packets target: Int, rounds: Int, into report: Report) throws {
        for tool in [nfcapd, nfdump, softflowd] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw BenchError("needs \(tool) (apt-get install nfdump softflowd)")
        }
        let (files, _) = try OfflineBench.load(directory: pcaps)
        let perCopy = files.reduce(0) { $0 + $1.count }
        guard perCopy > 0 else { throw BenchError("no Ethernet captures in \(pcaps)") }
        let path = "/tmp/dps-bench-backfill-\(getpid()).pcap"
        defer { unlink(path) }
        let written = try OfflineBench.build(path: path, files: files, copies: max(1, (target + perCopy - 1) / perCopy))
        log("backfill: \(written) packets into nfcapd, dps label --ipfix vs softflowd -r, \(rounds) rounds")
        var dpsRuns: [Run] = []
        var softflowdRuns: [Run] = []
        var labelOnly: [Double] = []
        for _ in 0..<rounds {
            labelOnly.append(Double(written) / (try runDPS(dps, path, nil)).seconds)
            dpsRuns.append(try collect { port in try runDPS(dps, path, port) })
            softflowdRuns.append(try collect { port in try runSoftflowd(path, port) })
        }
        for (name, runs) in [("dps", dpsRuns), ("softflowd", softflowdRuns)] {
            let r = runs[0]
            log(
                "backfill: \(name): \(runs.map { String(Int(Double(written) / $0.seconds)) }.joined(separator: ", ")) pkt/s; "
                    + "exported \(r.exported), nfcapd stored \(r.collectedFlows) flows with \(r.collectedPackets) "
                    + "packets of \(r.packets)")
        }
        func add(_ name: String, _ runs: [Run], atLeast: Double?) {
            report.add(
                Figure(
                    "backfill.\(name).packets_per_s", "backfill: \(name) into nfcapd (median of \(rounds))",
                    median(runs.map { Double(written) / $0.seconds }), "pkt/s", atLeast: atLeast))
            // The worst round: stored/exported flows and stored/read packets.
            report.add(
                Figure(
                    "backfill.\(name).flows_stored", "backfill: \(name) flows stored / exported (worst)",
                    runs.map { Double($0.collectedFlows) / Double(max(1, $0.exported)) }.min()!, "ratio"))
            report.add(
                Figure(
                    "backfill.\(name).packets_stored", "backfill: \(name) packets stored / read (worst)",
                    runs.map { Double($0.collectedPackets) / Double(max(1, $0.packets)) }.min()!, "ratio"))
        }
        report.add(
            Figure(
                "backfill.dps_label_only.packets_per_s", "backfill: dps label to NDJSON, no --ipfix (median)",
                median(labelOnly), "pkt/s"))
        add("softflowd", softflowdRuns, atLeast: nil)
        add("dps", dpsRuns, atLeast: median(softflowdRuns.map { Double(written) / $0.seconds }))
    }

    /// Starts nfcapd on a free port, runs `body` against it, stops nfcapd (SIGTERM: it writes its
    /// file) and reads what it stored.
    static func collect(_ body: (UInt16) throws -> Run) throws -> Run {
        let directory = "/tmp/dps-bench-nfcapd-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = try freeUDPPort()
        let collector = Process()
        collector.executableURL = URL(fileURLWithPath: nfcapd)
        collector.arguments = ["-b", "127.0.0.1", "-p", "\(port)", "-w", directory, "-B", "8388608"]
        collector.standardOutput = FileHandle.nullDevice
        collector.standardError = FileHandle.nullDevice
        try collector.run()
        usleep(300_000)  // nfcapd binds its socket
        var run = try body(port)
        usleep(500_000)  // the last datagrams read and stored
        collector.terminate()
        collector.waitUntilExit()
        let summary = try capture([nfdump, "-N", "-R", directory])
        // "Summary: total flows: 937, total bytes: 523142, total packets: 3882, …"
        run.collectedFlows = number(after: "total flows: ", in: summary)
        run.collectedPackets = number(after: "total packets: ", in: summary)
        return run
    }

    /// `dps label --pcap FILE --ipfix …` (no --out: export only) to `port`; or, when nil, the
    /// labeled NDJSON to /dev/null with no export (every frame: `--unmatched benign`).
    static func runDPS(_ dps: String, _ path: String, _ port: UInt16?) throws -> Run {
        let start = monotonicSeconds()
        let log = try capture(
            [dps, "label", "--pcap", path]
                + (port.map { ["--ipfix", "udp://127.0.0.1:\($0)"] } ?? ["--unmatched", "benign", "--out", "/dev/null"]),
            stderr: true)
        let seconds = monotonicSeconds() - start
        // "… packets=3905 skipped=23 …" and "… written=1508"
        return Run(
            seconds: seconds, exported: number(after: "written=", in: log),
            packets: number(after: "packets=", in: log) - number(after: "skipped=", in: log), collectedFlows: 0,
            collectedPackets: 0)
    }

    static func runSoftflowd(_ path: String, _ port: UInt16) throws -> Run {
        let start = monotonicSeconds()
        let log = try capture([softflowd, "-r", path, "-n", "127.0.0.1:\(port)", "-v", "10", "-d"], stderr: true)
        let seconds = monotonicSeconds() - start
        // "Packets processed: 3882" and "Flows exported: 760 (937 records) in 30 packets"
        return Run(
            seconds: seconds,
            exported: number(after: "Flows exported: \(number(after: "Flows exported: ", in: log)) (", in: log),
            packets: number(after: "Packets processed: ", in: log), collectedFlows: 0, collectedPackets: 0)
    }

    /// The number right after the first `key` in `text`; 0 when there is none.
    static func number(after key: String, in text: String) -> Int {
        guard let range = text.range(of: key) else { return 0 }
        return Int(text[range.upperBound...].prefix { $0.isNumber }) ?? 0
    }

    /// Runs a command to its end; its stdout (with stderr when asked). Fails on a non-zero exit.
    static func capture(_ arguments: [String], stderr: Bool = false) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = stderr ? pipe : FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw BenchError("\(arguments[0]) failed (\(process.terminationStatus)): \(text.suffix(500))")
        }
        return text
    }

    static func freeUDPPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        return try IPFIXBench.bindLoopback(fd)
    }
}
