import Foundation
import TestSupport
import Testing

/// `dps run` on a real kernel: a namespace pair joined by veth, traffic we generate, every field of
/// every frame checked against what was sent.
@Suite("Live capture", .serialized, .enabled(if: Privilege.isRoot, "needs root for BPF and namespaces"))
struct LiveCaptureTests {
    typealias Pair = NamespacePair

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func frames(_ stdout: String) throws -> [[String: Any]] {
        try stdout.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any], "not a JSON object: \(line)")
        }
    }

    /// ICMPv6 control traffic the kernel sends by itself on link up (router solicitations, MLD
    /// reports from the link-local address): not ours, allowed beside the expected frames.
    static func isKernelControl(_ frame: [String: Any]) -> Bool {
        frame["protocol"] as? String == "OTHER" && (frame["src_ip"] as? String ?? "").hasPrefix("fe80:")
            || (frame["src_ip"] as? String ?? "") == "::"
    }

    @Test("TCP, UDP, ICMP, IPv6 and a 1 MB transfer: every field of every frame")
    func endToEnd() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let dps = try pair.startSensor(["--idle-timeout", "2", "--stats-interval", "1"])

        // 1. TCP over IPv4, peer -> sensor, request longer than the 128-byte snapshot.
        let request = Array("GET /index.html HTTP/1.1\r\nHost: example.test\r\n".utf8)
            + Array(repeating: UInt8(ascii: "a"), count: 150) + Array("\r\n\r\n".utf8)
        let response = (0..<700).map { UInt8(truncatingIfNeeded: $0 * 7) }
        _ = try pair.exchange(
            server: ["tcp-server", Pair.sensorV4, "8080", "\(request.count)", Self.hex(response)],
            serverIn: pair.sensor,
            client: ["tcp-client", Pair.sensorV4, "8080", Self.hex(request)], clientIn: pair.peer)

        // 2. UDP request/response.
        let query = Array("dps-udp-query-0123456789-0123456789-abcdefghi".utf8)
        let answer = (0..<300).map { UInt8(truncatingIfNeeded: 255 - $0) }
        _ = try pair.exchange(
            server: ["udp-server", Pair.sensorV4, "5353", Self.hex(answer)], serverIn: pair.sensor,
            client: ["udp-client", Pair.sensorV4, "5353", Self.hex(query)], clientIn: pair.peer)

        // 3. ICMP echo, two requests of 56 data bytes (64-byte ICMP messages).
        let ping = try pair.run(in: pair.peer, ["ping", "-c", "2", "-i", "0.2", "-s", "56", "-W", "2", Pair.sensorV4])
        #expect(ping.status == 0, "ping failed: \(ping.err)")

        // 4. TCP over IPv6.
        let request6 = Array("hello over IPv6, 33 bytes long!!!".utf8)
        let response6 = Array(repeating: UInt8(0x36), count: 1000)
        _ = try pair.exchange(
            server: ["tcp-server", Pair.sensorV6, "8443", "\(request6.count)", Self.hex(response6)],
            serverIn: pair.sensor,
            client: ["tcp-client", Pair.sensorV6, "8443", Self.hex(request6)], clientIn: pair.peer)

        // 5. 1 MiB from peer to sensor.
        let received = try pair.exchange(
            server: ["tcp-sink", Pair.sensorV4, "9000"], serverIn: pair.sensor,
            client: ["tcp-bulk", Pair.sensorV4, "9000", "1048576"], clientIn: pair.peer)
        #expect(received.contains("1048576"))

        // 6. TCP with the sensor side as the client (its packets leave through egress).
        let request7 = Array("egress-initiated".utf8)
        let response7 = Array("fine".utf8)
        _ = try pair.exchange(
            server: ["tcp-server", Pair.peerV4, "7000", "\(request7.count)", Self.hex(response7)],
            serverIn: pair.peer,
            client: ["tcp-client", Pair.peerV4, "7000", Self.hex(request7)], clientIn: pair.sensor)

        Thread.sleep(forTimeInterval: 3)  // UDP and ICMP go idle (2 s), FIN closes linger 0.5 s
        dps.signal(SIGINT)
        let status = dps.wait(timeout: 20)
        #expect(status == 0, "dps exit status; stderr: \(dps.stderr)")
        #expect(try pair.sensorHooks().isEmpty, "no hook remains after exit")

        let frames = try Self.frames(dps.stdout).filter { !Self.isKernelControl($0) }
        func frame(_ proto: String, _ src: String, _ dst: String, _ dport: Int) throws -> [String: Any] {
            let matches = frames.filter {
                $0["protocol"] as? String == proto && $0["src_ip"] as? String == src
                    && $0["dst_ip"] as? String == dst && $0["dst_port"] as? Int == dport
            }
            #expect(matches.count == 1, "one \(proto) \(src) -> \(dst):\(dport) frame in \(frames)")
            return try #require(matches.first)
        }
        func expectCommon(_ f: [String: Any], sport: Bool = true) {
            #expect(f["interface"] as? String == Pair.sensorInterface)
            #expect((f["duration"] as? Double ?? -1) >= 0)
            let first = f["first_seen"] as? Double ?? 0, last = f["last_seen"] as? Double ?? 0
            #expect(last >= first && abs(first - Date().timeIntervalSince1970) < 120)
            #expect(abs((last - first) - (f["duration"] as? Double ?? -1)) < 0.000_002)
            if sport { #expect((f["src_port"] as? Int ?? 0) >= 1024) }
        }

        let tcp = try frame("TCP", Pair.peerV4, Pair.sensorV4, 8080)
        expectCommon(tcp)
        #expect(tcp["bytes_in"] as? Int == request.count)
        #expect(tcp["bytes_out"] as? Int == response.count)
        #expect(tcp["payload"] as? String == Data(request.prefix(128)).base64EncodedString())
        #expect(tcp["end_reason"] as? String == "fin")
        #expect(Set(tcp["tcp_flags"] as? String ?? "") == Set("SAFP"))
        #expect((tcp["packets_in"] as? Int ?? 0) >= 4 && (tcp["packets_out"] as? Int ?? 0) >= 3)

        let udp = try frame("UDP", Pair.peerV4, Pair.sensorV4, 5353)
        expectCommon(udp)
        #expect(udp["bytes_in"] as? Int == query.count && udp["bytes_out"] as? Int == answer.count)
        #expect(udp["packets_in"] as? Int == 1 && udp["packets_out"] as? Int == 1)
        #expect(udp["payload"] as? String == Data(query).base64EncodedString())
        #expect(udp["end_reason"] as? String == "idle")
        #expect(udp["tcp_flags"] as? String == "")

        let icmp = try frame("OTHER", Pair.peerV4, Pair.sensorV4, 0)
        expectCommon(icmp, sport: false)
        #expect(icmp["src_port"] as? Int == 0)
        #expect(icmp["bytes_in"] as? Int == 128 && icmp["bytes_out"] as? Int == 128, "2 x 64-byte ICMP")
        #expect(icmp["packets_in"] as? Int == 2 && icmp["packets_out"] as? Int == 2)
        let icmpPayload = try #require(Data(base64Encoded: icmp["payload"] as? String ?? ""))
        #expect(icmpPayload.count == 64 && icmpPayload.first == 8, "the echo request, type 8")
        #expect(icmp["end_reason"] as? String == "idle")

        let tcp6 = try frame("TCP", Pair.peerV6, Pair.sensorV6, 8443)
        expectCommon(tcp6)
        #expect(tcp6["bytes_in"] as? Int == request6.count && tcp6["bytes_out"] as? Int == response6.count)
        #expect(tcp6["payload"] as? String == Data(request6).base64EncodedString())
        #expect(tcp6["end_reason"] as? String == "fin")

        let bulk = try frame("TCP", Pair.peerV4, Pair.sensorV4, 9000)
        expectCommon(bulk)
        #expect(bulk["bytes_in"] as? Int == 1_048_576 && bulk["bytes_out"] as? Int == 2)
        #expect(bulk["payload"] as? String == Data((0..<128).map { UInt8($0) }).base64EncodedString())
        #expect(bulk["end_reason"] as? String == "fin")

        let egress = try frame("TCP", Pair.sensorV4, Pair.peerV4, 7000)
        expectCommon(egress)
        #expect(egress["bytes_in"] as? Int == request7.count && egress["bytes_out"] as? Int == response7.count)
        #expect(egress["payload"] as? String == Data(request7).base64EncodedString())

        #expect(frames.count == 6, "no extra flows: \(frames)")
        #expect(dps.stderr.contains("final stats"))
        #expect(dps.stderr.contains("ringbuf_drops=0"))
    }

    @Test("--no-egress sees only what arrives")
    func ingressOnly() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let dps = try pair.startSensor(["--no-egress", "--idle-timeout", "1"])
        let query = Array("one-way-check".utf8)
        _ = try pair.exchange(
            server: ["udp-server", Pair.sensorV4, "5353", Self.hex(Array("pong".utf8))], serverIn: pair.sensor,
            client: ["udp-client", Pair.sensorV4, "5353", Self.hex(query)], clientIn: pair.peer)
        dps.signal(SIGTERM)
        #expect(dps.wait() == 0)
        let udp = try #require(try Self.frames(dps.stdout).first { $0["protocol"] as? String == "UDP" })
        #expect(udp["bytes_in"] as? Int == query.count)
        #expect(udp["bytes_out"] as? Int == 0 && udp["packets_out"] as? Int == 0)
        #expect(udp["end_reason"] as? String == "shutdown")
    }

    @Test("tcx: the hooks are BPF links, and go with the process even when it is killed",
          .enabled(if: Privilege.kernelHasTCX, "tcx needs Linux 6.6"))
    func tcxHooksGoWithTheProcess() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let dps = try pair.startSensor()
        #expect(dps.stderr.contains("attach=tcx"), "\(dps.stderr)")
        let hooks = try pair.sensorHooks()
        #expect(hooks.contains("tcx ingress") && hooks.contains("tcx egress"), "hooks: \(hooks)")
        #expect(!hooks.contains("tc_ingress"), "no TC filter besides: \(hooks)")
        dps.signal(SIGKILL)
        dps.wait()
        #expect(try pair.sensorHooks().isEmpty, "SIGKILL leaves no hook behind")
    }

    @Test("TC: a hook left by a killed run is taken over, and removed at exit")
    func staleTCHook() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let first = try pair.startSensor(["--attach", "tc"])
        #expect(first.stderr.contains("attach=tc "), "\(first.stderr)")
        first.signal(SIGKILL)
        first.wait()
        #expect(try pair.sensorHooks().contains("tc_ingress"), "SIGKILL leaves a TC hook behind")
        let second = try pair.startSensor(["--attach", "tc"])
        #expect(second.stderr.contains("replacing a dps hook"))
        second.signal(SIGTERM)
        #expect(second.wait() == 0)
        #expect(try pair.sensorHooks().isEmpty)
    }

    @Test("tcx: TC hooks left by a killed run are removed, the one it does not attach to as well",
          .enabled(if: Privilege.kernelHasTCX, "tcx needs Linux 6.6"))
    func staleTCHookUnderTCX() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let first = try pair.startSensor(["--attach", "tc"])
        first.signal(SIGKILL)
        first.wait()
        let second = try pair.startSensor(["--attach", "tcx", "--no-egress"])
        #expect(second.stderr.contains("removing a dps TC hook left by an earlier (killed) run"), "\(second.stderr)")
        #expect(second.stderr.contains("hook=egress"), "the egress one too: \(second.stderr)")
        let hooks = try pair.sensorHooks()
        #expect(Pair.hookCount(hooks) == 1 && hooks.contains("tcx ingress") && !hooks.contains("tc_"), "hooks: \(hooks)")
        second.signal(SIGTERM)
        #expect(second.wait() == 0)
        #expect(try pair.sensorHooks().isEmpty)
    }

    @Test("a second dps on the same interface is refused; the first keeps its hooks")
    func secondInstance() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let first = try pair.startSensor()
        let second = try pair.run(
            in: pair.sensor, [TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface, "--stdout"])
        #expect(second.status != 0)
        #expect(second.err.contains("another dps is already capturing on dps0"), "stderr: \(second.err)")
        #expect(try !pair.sensorHooks().isEmpty, "the first one's hooks stay")
        first.signal(SIGTERM)
        #expect(first.wait() == 0)
        #expect(try pair.sensorHooks().isEmpty)
    }

    @Test("an unknown interface: one-line error, non-zero exit, nothing attached")
    func unknownInterface() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let result = try pair.run(
            in: pair.sensor,
            [TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface, "--interface", "nosuch0", "--stdout"])
        #expect(result.status != 0)
        #expect(result.err.contains("no such network interface: nosuch0"))
        #expect(result.err.split(separator: "\n").count == 1, "one line: \(result.err)")
        #expect(try pair.sensorHooks().isEmpty)
    }

    @Test("without privileges: an error naming the capabilities, nothing attached")
    func unprivileged() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let result = try pair.run(
            in: pair.sensor,
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
             "--bounding-set=-all", TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface, "--stdout"])
        #expect(result.status != 0)
        #expect(result.err.contains("CAP_BPF"), "stderr: \(result.err)")
        #expect(try pair.sensorHooks().isEmpty)
    }

    @Test(
        "bpf() refused by a seccomp filter: the kernel's answer, not \"no ring buffer\"",
        .enabled(if: TestPaths.isX86_64, "the seccomp helper knows x86_64's system call numbers only"))
    func seccompRefusesBPF() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let result = try pair.run(
            in: pair.sensor,
            ["python3", TestPaths.denyBPF, TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface, "--stdout"])
        #expect(result.status == 1)
        #expect(
            result.err == "dps: error: creating a BPF ring buffer: the kernel refused the bpf() system call: "
                + "Operation not permitted (errno 1): permission denied: a seccomp filter (systemd's "
                + "SystemCallFilter=, a container's profile) or missing CAP_BPF?\n", "stderr: \(result.err)")
        #expect(!result.err.contains("no BPF ring buffer"))
        #expect(try pair.sensorHooks().isEmpty)
    }
}
