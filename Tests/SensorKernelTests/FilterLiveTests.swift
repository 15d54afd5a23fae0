import Foundation
import SensorCore
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The include/exclude rules on a live veth pair: excluded flows give no frame and are counted,
/// and a reload (SIGHUP with a new config) changes the rules in the kernel's maps without
/// re-attaching, while a steady flow beside them loses no packet.
@Suite(
    "Filters live", .serialized,
    .enabled(if: Privilege.isRoot, "needs root for BPF and namespaces"))
struct FilterLiveTests {
    /// Sends `count` 20-byte UDP datagrams from the peer to the sensor's `port`, one every
    /// `gap` seconds, from one source port.
    static func send(_ pair: NamespacePair, port: Int, count: Int, gap: Double) throws -> Spawned {
        let script = """
            import socket, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for _ in range(\(count)):
                s.sendto(b"x" * 20, ("\(NamespacePair.sensorV4)", \(port)))
                time.sleep(\(gap))
            """
        return try pair.spawn(in: pair.peer, ["python3", "-c", script])
    }

    /// Frames (JSON objects) whose destination port is `port`.
    static func frames(_ stdout: String, port: Int) throws -> [[String: Any]] {
        try stdout.split(separator: "\n").compactMap { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (object?["dst_port"] as? Int) == port ? object : nil
        }
    }

    @Test func excludedFlowsAreCountedAndAReloadChangesTheRulesWithoutLoss() throws {
        let pair = try NamespacePair()
        defer { pair.remove() }
        let directory = FileManager.default.temporaryDirectory.appending(path: "dps-filter-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appending(path: "dps.yaml")
        try "exclude: [\"port 5001\"]\n".write(to: config, atomically: true, encoding: .utf8)
        let dps = try pair.spawn(
            in: pair.sensor,
            [
                TestPaths.dps, "run", "--config", config.path, "--interface", NamespacePair.sensorInterface,
                "--stdout", "--extended", "--idle-timeout", "60",
            ])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        guard dps.waitFor("capturing", inStderr: true, timeout: 20) else {
            Issue.record("dps did not start: \(dps.stderr)")
            return
        }
        let hooksBefore = try pair.sensorHooks()

        // A steady flow across the reload: 300 datagrams over about 3 seconds.
        let steady = try Self.send(pair, port: 6000, count: 300, gap: 0.01)
        for port in [5001, 5002] { #expect(try Self.send(pair, port: port, count: 5, gap: 0.01).wait() == 0) }
        usleep(500_000)
        try "exclude: [\"port 5002\"]\n".write(to: config, atomically: true, encoding: .utf8)
        dps.signal(SIGHUP)
        #expect(dps.waitFor("key=exclude", inStderr: true), "\(dps.stderr)")
        for port in [5001, 5002] { #expect(try Self.send(pair, port: port, count: 5, gap: 0.01).wait() == 0) }
        #expect(steady.wait(timeout: 30) == 0, "\(steady.stderr)")
        #expect(try pair.sensorHooks() == hooksBefore, "the programs were attached again")
        usleep(300_000)
        dps.signal(SIGTERM)
        #expect(dps.wait() == 0, "\(dps.stderr)")

        // Port 5001: only the packets after the reload; 5002: only those before.
        for port in [5001, 5002] {
            let frames = try Self.frames(dps.stdout, port: port)
            #expect(frames.count == 1 && frames.first?["packets_in"] as? Int == 5, "port \(port): \(frames)")
        }
        let steadyPackets = try Self.frames(dps.stdout, port: 6000).reduce(0) { $0 + ($1["packets_in"] as? Int ?? 0) }
        #expect(steadyPackets == 300, "the steady flow lost packets across the reload")
        let stats = KronosEndToEndTests.stats(dps.stderr)
        #expect(stats["filtered_excluded"] == "10", "\(stats)")
        #expect(stats["filtered_not_included"] == "0", "\(stats)")
        #expect(stats["ringbuf_drops"] == "0")
        #expect(dps.stderr.components(separatedBy: "capturing").count == 2, "one start: \(dps.stderr)")
    }

    /// Include rules: only the named traffic is observed, the rest counted as not included.
    @Test func onlyIncludedTrafficIsObserved() throws {
        let pair = try NamespacePair()
        defer { pair.remove() }
        // ICMP and ICMPv6 (the unreachables, the link's own chatter) are included, so only the UDP to 7001 is not.
        let dps = try pair.startSensor(["--include", "port 7000", "--include", "proto icmp", "--include", "proto icmpv6"])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        for port in [7000, 7001] { #expect(try Self.send(pair, port: port, count: 4, gap: 0.01).wait() == 0) }
        usleep(300_000)
        dps.signal(SIGTERM)
        #expect(dps.wait() == 0, "\(dps.stderr)")
        #expect(try Self.frames(dps.stdout, port: 7000).first?["packets_in"] as? Int == 4)
        #expect(try Self.frames(dps.stdout, port: 7001).isEmpty)
        let stats = KronosEndToEndTests.stats(dps.stderr)
        #expect(stats["filtered_not_included"] == "4", "\(stats)")
        #expect(stats["filtered_excluded"] == "0", "\(stats)")
    }
}
