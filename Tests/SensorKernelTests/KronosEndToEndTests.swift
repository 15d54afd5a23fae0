import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `dps run` on a real kernel sending to Kronos (here `dps listen`) over the Unix socket.
@Suite("Kronos end to end", .serialized, .enabled(if: Privilege.isRoot, "needs root for BPF and namespaces"))
struct KronosEndToEndTests {
    typealias Pair = NamespacePair

    /// A private directory for the socket and key, removed afterwards.
    final class Scratch {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appending(path: "dps-kronos-e2e-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func file(_ name: String) -> String { path + "/" + name }

        func key(_ text: String, mode: mode_t) -> String {
            let keyPath = file("key")
            _ = FileManager.default.createFile(atPath: keyPath, contents: Data(text.utf8))
            chmod(keyPath, mode)
            return keyPath
        }
    }

    /// `key=value` pairs of the last stats line containing `message`.
    static func stats(_ stderr: String, _ message: String = "final stats") -> [String: String] {
        guard let line = stderr.split(separator: "\n").last(where: { $0.contains(message) }) else { return [:] }
        var pairs: [String: String] = [:]
        for word in line.split(separator: " ") {
            let parts = word.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { pairs[String(parts[0])] = String(parts[1]) }
        }
        return pairs
    }

    func udpExchange(_ pair: Pair, port: Int, query: String) throws {
        let hex = Array(query.utf8).map { String(format: "%02x", $0) }.joined()
        _ = try pair.exchange(
            server: ["udp-server", Pair.sensorV4, "\(port)", "6f6b"], serverIn: pair.sensor,
            client: ["udp-client", Pair.sensorV4, "\(port)", hex], clientIn: pair.peer)
    }

    @Test("signed frames from the kernel reach dps listen, verified")
    func signedFramesReachTheListener() throws {
        let scratch = try Scratch()
        let socketPath = scratch.file("kronos.sock")
        let keyPath = scratch.key("end-to-end key\n", mode: 0o600)
        let listener = try Spawned(
            [TestPaths.dps, "listen", "--socket", socketPath, "--hmac-key-file", keyPath, "--raw"])
        defer { if listener.process.isRunning { listener.signal(SIGKILL) } }
        #expect(listener.waitFor("HMAC-SHA256 required", inStderr: true, timeout: 10))

        let pair = try Pair()
        defer { pair.remove() }
        let dps = try pair.spawn(
            in: pair.sensor,
            [TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface, "--kronos-socket", socketPath,
             "--hmac-key-file", keyPath, "--idle-timeout", "1"])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        guard dps.waitFor("capturing", inStderr: true, timeout: 20) else {
            Issue.record("dps did not start: \(dps.stderr)")
            return
        }
        for port in [5301, 5302, 5303] {
            try udpExchange(pair, port: port, query: "kronos-e2e-\(port)")
        }
        #expect(listener.waitFor("\"dst_port\":5303", timeout: 10), "listener got: \(listener.stdout)")
        dps.signal(SIGTERM)
        #expect(dps.wait(timeout: 20) == 0, "dps stderr: \(dps.stderr)")
        #expect(try pair.sensorHooks().isEmpty, "no hook remains after exit")

        let stats = Self.stats(dps.stderr)
        let sent = Int(stats["kronos_sent"] ?? "") ?? -1
        #expect(sent >= 3)
        #expect(stats["kronos_produced"] == stats["kronos_sent"])
        #expect(stats["kronos_dropped"] == "0" && stats["kronos_undelivered"] == "0")

        Thread.sleep(forTimeInterval: 0.3)
        listener.signal(SIGTERM)
        #expect(listener.wait(timeout: 10) == 0)
        let lines = listener.stdout.split(separator: "\n")
        #expect(lines.count == sent, "every frame sent was verified and printed")
        for port in [5301, 5302, 5303] {
            let line = try #require(lines.first { $0.contains("\"dst_port\":\(port)") })
            let frame = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(frame["src_ip"] as? String == Pair.peerV4)
            #expect(frame["protocol"] as? String == "UDP")
            #expect(frame["bytes_in"] as? Int == "kronos-e2e-\(port)".utf8.count)
            #expect(frame["bytes_out"] as? Int == 2)
        }
        #expect(listener.stderr.contains("frames=\(sent) bad=0"), "listener summary: \(listener.stderr)")
    }

    @Test("a key file readable by others is refused before anything is attached")
    func badKeyFileAttachesNothing() throws {
        let scratch = try Scratch()
        let keyPath = scratch.key("secret\n", mode: 0o644)
        let pair = try Pair()
        defer { pair.remove() }
        let result = try pair.run(
            in: pair.sensor,
            [TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface, "--attach", "tc", "--kronos-socket",
             scratch.file("kronos.sock"), "--hmac-key-file", keyPath])
        #expect(result.status != 0)
        #expect(result.err.contains("HMAC key file \(keyPath): mode 644 is too open"), "stderr: \(result.err)")
        #expect(!result.err.contains("capturing"))
        #expect(try pair.sensorHooks().isEmpty)
        let qdiscs = try pair.run(in: pair.sensor, ["tc", "qdisc", "show", "dev", Pair.sensorInterface])
        #expect(!qdiscs.out.contains("clsact"), "no clsact qdisc was added: \(qdiscs.out)")

        let missing = try pair.run(
            in: pair.sensor,
            [TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface, "--hmac-key-file", scratch.file("absent")])
        #expect(missing.status != 0)
        #expect(missing.err.contains("HMAC key file \(scratch.file("absent")): No such file or directory"))
    }

    @Test("Kronos absent: capture goes on, shutdown counts what was not delivered")
    func absentKronosCountsUndelivered() throws {
        let scratch = try Scratch()
        let pair = try Pair()
        defer { pair.remove() }
        let dps = try pair.spawn(
            in: pair.sensor,
            [TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface, "--kronos-socket",
             scratch.file("nobody.sock"), "--idle-timeout", "1", "--drain-timeout", "0.5"])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        guard dps.waitFor("capturing", inStderr: true, timeout: 20) else {
            Issue.record("dps did not start: \(dps.stderr)")
            return
        }
        try udpExchange(pair, port: 5400, query: "nobody listens")
        Thread.sleep(forTimeInterval: 1.5)
        let started = Date()
        dps.signal(SIGINT)
        #expect(dps.wait(timeout: 20) == 0, "dps stderr: \(dps.stderr)")
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(try pair.sensorHooks().isEmpty)
        let stats = Self.stats(dps.stderr)
        let undelivered = Int(stats["kronos_undelivered"] ?? "") ?? -1
        #expect(undelivered >= 1)
        #expect(stats["kronos_produced"] == stats["kronos_undelivered"])
        #expect(stats["kronos_sent"] == "0" && stats["kronos_connections"] == "0")
        // One warning for the outage, not one per attempt.
        #expect(dps.stderr.components(separatedBy: "Kronos not reachable").count == 2, "stderr: \(dps.stderr)")
    }
}
