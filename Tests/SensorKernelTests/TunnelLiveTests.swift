import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Tunnels on the live veth pair. The sensor watches the underlay (`dps0`) and must report the
/// inner flows, one level deep, with the tunnel's name, ID and the outer addresses of each flow's
/// first packet; never the outer flow itself, unless the tunnel cannot be read (then the outer
/// packet is the record, counted as `tunnel_outer`).
///
/// 1. Kernel VXLAN devices over the pair, with real traffic in both directions (two VNIs).
/// 2. Hand-built tunnel packets sent with a packet socket from the peer, for the encapsulations
///    this kernel has no device for (IPIP, sit, GRE, gretap, Geneve, GTP-U, ERSPAN II, CAPWAP),
///    two VNIs over one inner tuple, ARP inside VXLAN, and a GRE header it must not read.
/// 3. Kernel GRE, gretap, IPIP, sit and Geneve devices, each only where the kernel has it.
@Suite(
    "Tunnels live", .serialized,
    .enabled(if: Privilege.isRoot, "needs root for BPF and namespaces"))
struct TunnelLiveTests {
    typealias Pair = NamespacePair

    // MARK: - Kernel tunnel devices

    /// One kernel tunnel device on each side of the pair, between the underlay addresses, with an
    /// overlay address on each end.
    struct Overlay {
        /// `ip link` type, as `ip link add ... type <kind>` takes it.
        var kind: String
        var device: String
        /// Arguments after `type <kind>` for the side at `local` sending to `remote`.
        var arguments: (_ local: String, _ remote: String) -> [String]
        /// An Ethernet-carrying device (vxlan, gretap, geneve): fixed MAC addresses, static
        /// neighbours on the overlay, so no ARP runs.
        var layer2: Bool
        var sensorAddress: String
        var peerAddress: String
        var prefix: Int
        /// What the frames must say.
        var tunnel: String
        var tunnelID: Int?

        var isIPv6: Bool { sensorAddress.contains(":") }

        static func vxlan(id: Int, device: String, sensor: String, peer: String) -> Overlay {
            Overlay(
                kind: "vxlan", device: device,
                arguments: { local, remote in
                    ["id", "\(id)", "remote", remote, "local", local, "dstport", "4789",
                     "dev", local == Pair.sensorV4 ? Pair.sensorInterface : Pair.peerInterface]
                },
                layer2: true, sensorAddress: sensor, peerAddress: peer, prefix: 28, tunnel: "vxlan", tunnelID: id)
        }
    }

    /// Any `ip` failure is a setup error.
    private static func ip(_ ns: String, _ arguments: [String]) throws {
        let result = try sh(["/usr/bin/env", "ip", "-n", ns] + arguments)
        guard result.status == 0 else {
            throw TestSetupError("ip -n \(ns) \(arguments.joined(separator: " ")) failed: \(result.err)")
        }
    }

    /// Creates `overlay` on both sides; false (and nothing created) when this kernel has no such
    /// device type.
    private static func add(_ overlay: Overlay, to pair: Pair) throws -> Bool {
        let sides = [
            (ns: pair.sensor, local: Pair.sensorV4, remote: Pair.peerV4, address: overlay.sensorAddress,
             other: overlay.peerAddress, mac: "02:00:5e:00:54:01", otherMAC: "02:00:5e:00:54:02"),
            (ns: pair.peer, local: Pair.peerV4, remote: Pair.sensorV4, address: overlay.peerAddress,
             other: overlay.sensorAddress, mac: "02:00:5e:00:54:02", otherMAC: "02:00:5e:00:54:01"),
        ]
        for side in sides {
            let mac = overlay.layer2 ? ["address", side.mac] : []
            let add = try sh(
                ["/usr/bin/env", "ip", "-n", side.ns, "link", "add", overlay.device] + mac
                    + ["type", overlay.kind] + overlay.arguments(side.local, side.remote))
            if add.status != 0 && add.err.contains("Unknown device type") { return false }
            guard add.status == 0 else { throw TestSetupError("ip link add \(overlay.kind) failed: \(add.err)") }
            if !overlay.isIPv6 {
                // No IPv6 on an IPv4 overlay: no neighbour discovery or MLD through the tunnel.
                let sysctl = try pair.run(in: side.ns, ["sysctl", "-qw", "net.ipv6.conf.\(overlay.device).disable_ipv6=1"])
                guard sysctl.status == 0 else { throw TestSetupError("sysctl failed: \(sysctl.err)") }
            }
            try ip(side.ns, ["addr", "add", "\(side.address)/\(overlay.prefix)", "dev", overlay.device]
                + (overlay.isIPv6 ? ["nodad"] : []))
            if overlay.layer2 {
                try ip(side.ns, ["neigh", "add", side.other, "lladdr", side.otherMAC, "dev", overlay.device, "nud", "permanent"])
            }
            try ip(side.ns, ["link", "set", overlay.device, "up"])
        }
        return true
    }

    /// `count` UDP datagrams of `request` bytes from `client`:`sourcePort` to
    /// `server`:`port`, each answered with `response` bytes before the next is sent.
    private static func udpExchange(
        _ pair: Pair, serverIn: String, server: String, port: Int, clientIn: String, client: String,
        sourcePort: Int, count: Int, request: Int, response: Int
    ) throws {
        let family = server.contains(":") ? "AF_INET6" : "AF_INET"
        let serverScript = """
            import socket
            s = socket.socket(socket.\(family), socket.SOCK_DGRAM)
            s.bind(("\(server)", \(port)))
            s.settimeout(10)
            print("ready", flush=True)
            for _ in range(\(count)):
                _, peer = s.recvfrom(65536)
                s.sendto(b"r" * \(response), peer)
            """
        let clientScript = """
            import socket
            c = socket.socket(socket.\(family), socket.SOCK_DGRAM)
            c.bind(("\(client)", \(sourcePort)))
            c.settimeout(10)
            for _ in range(\(count)):
                c.sendto(b"q" * \(request), ("\(server)", \(port)))
                c.recvfrom(65536)
            """
        let serverProcess = try pair.spawn(in: serverIn, ["python3", "-c", serverScript])
        defer { if serverProcess.process.isRunning { serverProcess.signal(SIGKILL) } }
        guard serverProcess.waitFor("ready", timeout: 10) else {
            throw TestSetupError("UDP server did not start: \(serverProcess.stderr)")
        }
        let result = try pair.run(in: clientIn, ["python3", "-c", clientScript], timeout: 20)
        guard result.status == 0 else { throw TestSetupError("UDP client failed: \(result.err)") }
        guard serverProcess.wait(timeout: 10) == 0 else { throw TestSetupError("UDP server failed: \(serverProcess.stderr)") }
    }

    /// Frames (JSON objects), one a line.
    private static func frames(_ stdout: String) throws -> [[String: Any]] {
        try stdout.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any], "not a JSON object: \(line)")
        }
    }

    private static func line(_ frame: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: frame, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Stops the sensor (SIGTERM: every flow is written) and returns its frames and final stats.
    private static func stop(_ dps: Spawned) throws -> (frames: [[String: Any]], stats: [String: String]) {
        usleep(300_000)
        dps.signal(SIGTERM)
        #expect(dps.wait() == 0, "\(dps.stderr)")
        return (try frames(dps.stdout), KronosEndToEndTests.stats(dps.stderr))
    }

    /// The one frame of `proto` from `source`:`sourcePort` to `destination`:`port` (and tunnel ID
    /// `id` when given), or nil (an issue recorded) when there is not exactly one.
    private static func frame(
        _ frames: [[String: Any]], _ proto: String, _ source: String, _ sourcePort: Int?, _ destination: String,
        _ port: Int, id: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) -> [String: Any]? {
        let matches = frames.filter {
            $0["protocol"] as? String == proto && $0["src_ip"] as? String == source
                && $0["dst_ip"] as? String == destination && $0["dst_port"] as? Int == port
                && (sourcePort == nil || $0["src_port"] as? Int == sourcePort)
                && (id == nil || $0["tunnel_id"] as? Int == id)
        }
        #expect(
            matches.count == 1,
            "one \(proto) \(source):\(sourcePort.map(String.init) ?? "*") -> \(destination):\(port) frame in \(frames.map(line))",
            sourceLocation: sourceLocation)
        return matches.count == 1 ? matches[0] : nil
    }

    /// The tunnel keys of `frame`: `tunnel`, `tunnel_src`, `tunnel_dst`, and `tunnel_id` exactly
    /// when `id` is not nil.
    private static func expectTunnel(
        _ frame: [String: Any], _ tunnel: String, id: Int?, outerSource: String, outerDestination: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(frame["tunnel"] as? String == tunnel, "\(line(frame))", sourceLocation: sourceLocation)
        #expect(frame["tunnel_src"] as? String == outerSource, "\(line(frame))", sourceLocation: sourceLocation)
        #expect(frame["tunnel_dst"] as? String == outerDestination, "\(line(frame))", sourceLocation: sourceLocation)
        if let id {
            #expect(frame["tunnel_id"] as? Int == id, "\(line(frame))", sourceLocation: sourceLocation)
        } else {
            #expect(frame["tunnel_id"] == nil, "no tunnel ID expected: \(line(frame))", sourceLocation: sourceLocation)
        }
        #expect(frame["vlan"] as? Int == 0 && frame["interface"] as? String == Pair.sensorInterface,
                "\(line(frame))", sourceLocation: sourceLocation)
    }

    /// `count` exchanges of 20-byte requests and 7-byte answers: exact packets and bytes both
    /// ways, the first payload, the tunnel of the first packet (sent by the client).
    private static func expectUDP(
        _ frames: [[String: Any]], overlay: Overlay, client: String, sourcePort: Int, server: String, port: Int,
        count: Int, clientUnderlay: String, serverUnderlay: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let f = frame(frames, "UDP", client, sourcePort, server, port, sourceLocation: sourceLocation) else { return }
        #expect(f["packets_in"] as? Int == count && f["packets_out"] as? Int == count, "\(line(f))",
                sourceLocation: sourceLocation)
        #expect(f["bytes_in"] as? Int == 20 * count && f["bytes_out"] as? Int == 7 * count, "\(line(f))",
                sourceLocation: sourceLocation)
        #expect(f["payload"] as? String == Data(repeating: UInt8(ascii: "q"), count: 20).base64EncodedString(),
                "\(line(f))", sourceLocation: sourceLocation)
        expectTunnel(f, overlay.tunnel, id: overlay.tunnelID, outerSource: clientUnderlay,
                     outerDestination: serverUnderlay, sourceLocation: sourceLocation)
    }

    // MARK: - 1. Kernel VXLAN

    @Test("kernel VXLAN: the inner flows, both ways, on two VNIs; no outer flow")
    func kernelVXLAN() throws {
        let pair = try Pair()
        defer { pair.remove() }
        // Two VNIs over one UDP port, between the same underlay addresses.
        let vni42 = Overlay.vxlan(id: 42, device: "vx0", sensor: "203.0.113.1", peer: "203.0.113.2")
        let vni43 = Overlay.vxlan(id: 43, device: "vx1", sensor: "203.0.113.129", peer: "203.0.113.130")
        for overlay in [vni42, vni43] {
            #expect(try Self.add(overlay, to: pair), "this kernel has CONFIG_VXLAN")
        }
        let dps = try pair.startSensor()
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }

        // UDP from the peer (its first packet arrives at ingress), from the sensor (egress), on VNI 43.
        try Self.udpExchange(
            pair, serverIn: pair.sensor, server: vni42.sensorAddress, port: 6666, clientIn: pair.peer,
            client: vni42.peerAddress, sourcePort: 5555, count: 4, request: 20, response: 7)
        try Self.udpExchange(
            pair, serverIn: pair.peer, server: vni42.peerAddress, port: 6667, clientIn: pair.sensor,
            client: vni42.sensorAddress, sourcePort: 5556, count: 2, request: 20, response: 7)
        try Self.udpExchange(
            pair, serverIn: pair.sensor, server: vni43.sensorAddress, port: 6668, clientIn: pair.peer,
            client: vni43.peerAddress, sourcePort: 5557, count: 3, request: 20, response: 7)
        // TCP from the peer with a known request and response.
        let request = Array("GET /overlay HTTP/1.1\r\nHost: vxlan.test\r\n\r\n".utf8)
        let response = (0..<500).map { UInt8(truncatingIfNeeded: $0 * 3) }
        _ = try pair.exchange(
            server: ["tcp-server", vni42.sensorAddress, "8080", "\(request.count)", LiveCaptureTests.hex(response)],
            serverIn: pair.sensor,
            client: ["tcp-client", vni42.sensorAddress, "8080", LiveCaptureTests.hex(request)], clientIn: pair.peer)

        let (frames, stats) = try Self.stop(dps)
        Self.expectUDP(
            frames, overlay: vni42, client: vni42.peerAddress, sourcePort: 5555, server: vni42.sensorAddress, port: 6666,
            count: 4, clientUnderlay: Pair.peerV4, serverUnderlay: Pair.sensorV4)
        Self.expectUDP(
            frames, overlay: vni42, client: vni42.sensorAddress, sourcePort: 5556, server: vni42.peerAddress, port: 6667,
            count: 2, clientUnderlay: Pair.sensorV4, serverUnderlay: Pair.peerV4)
        Self.expectUDP(
            frames, overlay: vni43, client: vni43.peerAddress, sourcePort: 5557, server: vni43.sensorAddress, port: 6668,
            count: 3, clientUnderlay: Pair.peerV4, serverUnderlay: Pair.sensorV4)

        if let tcp = Self.frame(frames, "TCP", vni42.peerAddress, nil, vni42.sensorAddress, 8080) {
            #expect(tcp["bytes_in"] as? Int == request.count && tcp["bytes_out"] as? Int == response.count, "\(Self.line(tcp))")
            #expect(tcp["payload"] as? String == Data(request).base64EncodedString(), "\(Self.line(tcp))")
            // Handshake, request, FIN, ACKs: how many ACKs depends on timing, so not exact.
            #expect((tcp["packets_in"] as? Int ?? 0) >= 4 && (tcp["packets_out"] as? Int ?? 0) >= 3, "\(Self.line(tcp))")
            #expect(tcp["end_reason"] as? String == "fin" && Set(tcp["tcp_flags"] as? String ?? "") == Set("SAFP"),
                    "\(Self.line(tcp))")
            Self.expectTunnel(tcp, "vxlan", id: 42, outerSource: Pair.peerV4, outerDestination: Pair.sensorV4)
        }

        // No outer flow: nothing on port 4789, nothing between the underlay addresses; every
        // overlay frame came out of the tunnel.
        let outer = frames.filter {
            $0["src_port"] as? Int == 4789 || $0["dst_port"] as? Int == 4789
                || Set([$0["src_ip"] as? String, $0["dst_ip"] as? String]) == Set([Pair.sensorV4, Pair.peerV4])
        }
        #expect(outer.isEmpty, "outer flows: \(outer.map(Self.line))")
        let overlayFrames = frames.filter { ($0["src_ip"] as? String ?? "").hasPrefix("203.0.113.") }
        #expect(overlayFrames.count == 4, "\(overlayFrames.map(Self.line))")
        #expect(overlayFrames.allSatisfy { $0["tunnel"] as? String == "vxlan" }, "\(overlayFrames.map(Self.line))")
        #expect(stats["tunnel_outer"] == "0", "\(stats)")
        #expect(stats["ringbuf_drops"] == "0", "\(stats)")
    }

    // MARK: - 2. Hand-built tunnel packets

    /// Python: from `peer0` to `dps0`, 3 of each of the tunnel packets below, outer IPv4
    /// 198.51.100.2 -> 198.51.100.1; inner UDP 5555 -> the case's port carrying `payload`.
    static let injector = """
        import socket, struct
        COUNT = 3
        PAYLOAD = b"tunnel-payload!!"
        def checksum(b):
            s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
            while s >> 16:
                s = (s & 0xFFFF) + (s >> 16)
            return ~s & 0xFFFF
        def ipv4(src, dst, proto, body):
            h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0,
                            socket.inet_aton(src), socket.inet_aton(dst))
            return h[:10] + struct.pack("!H", checksum(h)) + h[12:] + body
        def ipv6(src, dst, next_header, body):
            return (struct.pack("!IHBB", 0x60000000, len(body), next_header, 64)
                    + socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + body)
        def udp(sport, dport, body):
            return struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body
        def ether(ethertype, body):
            return bytes.fromhex("02005e0054aa02005e0054bb") + struct.pack("!H", ethertype) + body
        def inner(dport):
            return ipv4("203.0.113.2", "203.0.113.1", 17, udp(5555, dport, PAYLOAD))
        def vxlan(sport, vni, frame):
            return udp(sport, 4789, struct.pack("!II", 0x08000000, vni << 8) + frame)
        ARP = ether(0x0806, struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + bytes.fromhex("02005e0054bb")
                    + socket.inet_aton("203.0.113.2") + bytes(6) + socket.inet_aton("203.0.113.1"))
        OUT = ("198.51.100.2", "198.51.100.1")
        cases = [
            # IPIP: IPv4 in IPv4.
            ipv4(*OUT, 4, inner(6666)),
            # sit: IPv6 in IPv4 (UDP checksum 0: not checked).
            ipv4(*OUT, 41, ipv6("2001:db8:1::2", "2001:db8:1::1", 17, udp(5555, 6602, PAYLOAD))),
            # GRE, K flag, key 7, IPv4.
            ipv4(*OUT, 47, struct.pack("!BBHI", 0x20, 0, 0x0800, 7) + inner(6603)),
            # gretap: GRE without a key carrying Ethernet (0x6558).
            ipv4(*OUT, 47, struct.pack("!BBH", 0, 0, 0x6558) + ether(0x0800, inner(6604))),
            # Geneve, VNI 99, Ethernet.
            ipv4(*OUT, 17, udp(40000, 6081, struct.pack("!BBHI", 0, 0, 0x6558, 99 << 8) + ether(0x0800, inner(6605)))),
            # GTP-U: version 1, PT 1, G-PDU, TEID 0x1234.
            ipv4(*OUT, 17, udp(2152, 2152, struct.pack("!BBHI", 0x30, 0xFF, len(inner(6606)), 0x1234) + inner(6606))),
            # ERSPAN II: GRE with S (sequence), 0x88BE; version 1, session 5; Ethernet.
            ipv4(*OUT, 47, struct.pack("!BBHI", 0x10, 0, 0x88BE, 1) + struct.pack("!HHI", 0x1000, 5, 0)
                 + ether(0x0800, inner(6607))),
            # CAPWAP data: HLEN 2 (8 bytes), T 0: an 802.3 frame.
            ipv4(*OUT, 17, udp(40001, 5247, struct.pack("!II", 2 << 19, 0) + ether(0x0800, inner(6608)))),
            # VXLAN: one inner tuple on VNIs 1000 and 1001 (two flows), ARP on VNI 1002 (not IP).
            ipv4(*OUT, 17, vxlan(40002, 1000, ether(0x0800, inner(6609)))),
            ipv4(*OUT, 17, vxlan(40003, 1001, ether(0x0800, inner(6609)))),
            ipv4(*OUT, 17, vxlan(40004, 1002, ARP)),
            # GRE version 1: unreadable, recorded as the outer packet (4 + 44 bytes after the IP header).
            ipv4(*OUT, 47, struct.pack("!BBH", 0, 1, 0x0800) + inner(6610)),
        ]
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(("peer0", 0))
        link = bytes.fromhex("02005e00530102005e005302") + struct.pack("!H", 0x0800)
        for packet in cases:
            for _ in range(COUNT):
                s.send(link + packet)
        """

    @Test("hand-built IPIP, sit, GRE, gretap, Geneve, GTP-U, ERSPAN II, CAPWAP, VXLAN: inner flows; a bad GRE header: the outer")
    func injectedTunnels() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let dps = try pair.startSensor()
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        let sent = try pair.run(in: pair.peer, ["python3", "-c", Self.injector])
        #expect(sent.status == 0, "\(sent.err)")
        let (frames, stats) = try Self.stop(dps)

        let (count, payload) = (3, Array("tunnel-payload!!".utf8))
        let cases: [(tunnel: String, id: Int?, source: String, destination: String, port: Int)] = [
            ("ipip", nil, "203.0.113.2", "203.0.113.1", 6666),
            ("sit", nil, "2001:db8:1::2", "2001:db8:1::1", 6602),
            ("gre", 7, "203.0.113.2", "203.0.113.1", 6603),
            ("gre", nil, "203.0.113.2", "203.0.113.1", 6604),
            ("geneve", 99, "203.0.113.2", "203.0.113.1", 6605),
            ("gtpu", 0x1234, "203.0.113.2", "203.0.113.1", 6606),
            ("erspan", 5, "203.0.113.2", "203.0.113.1", 6607),
            ("capwap", nil, "203.0.113.2", "203.0.113.1", 6608),
            ("vxlan", 1000, "203.0.113.2", "203.0.113.1", 6609),
            ("vxlan", 1001, "203.0.113.2", "203.0.113.1", 6609),
        ]
        for c in cases {
            guard let f = Self.frame(frames, "UDP", c.source, 5555, c.destination, c.port, id: c.id) else { continue }
            #expect(f["packets_in"] as? Int == count && f["packets_out"] as? Int == 0, "\(c.tunnel): \(Self.line(f))")
            #expect(f["bytes_in"] as? Int == count * payload.count && f["bytes_out"] as? Int == 0,
                    "\(c.tunnel): \(Self.line(f))")
            #expect(f["payload"] as? String == Data(payload).base64EncodedString(), "\(c.tunnel): \(Self.line(f))")
            Self.expectTunnel(f, c.tunnel, id: c.id, outerSource: Pair.peerV4, outerDestination: Pair.sensorV4)
        }
        let inner = frames.filter {
            ($0["src_ip"] as? String ?? "").hasPrefix("203.0.113.") || ($0["src_ip"] as? String ?? "").hasPrefix("2001:db8:1:")
        }
        #expect(inner.count == cases.count, "only the readable tunnels' inner flows: \(inner.map(Self.line))")
        #expect(inner.allSatisfy { $0["tunnel_id"] as? Int != 1002 }, "ARP in VXLAN is no flow")

        // The unreadable GRE: its outer packet, no tunnel keys; the only frame from the peer's
        // underlay address (the others' outer flows are not reported; the sensor's ICMP errors
        // for protocols and ports it does not serve go the other way).
        let fromPeer = frames.filter { $0["src_ip"] as? String == Pair.peerV4 }
        #expect(fromPeer.count == 1, "\(fromPeer.map(Self.line))")
        if let outer = Self.frame(frames, "OTHER", Pair.peerV4, 0, Pair.sensorV4, 0) {
            #expect(outer["packets_in"] as? Int == count && outer["bytes_in"] as? Int == count * (4 + 20 + 8 + payload.count),
                    "\(Self.line(outer))")
            #expect(outer["tunnel"] == nil && outer["tunnel_src"] == nil && outer["tunnel_id"] == nil, "\(Self.line(outer))")
        }
        #expect(stats["tunnel_outer"] == "\(count)", "\(stats)")
        #expect(stats["not_ip"] == "\(count)", "the ARP inside VXLAN: \(stats)")
        #expect(stats["ringbuf_drops"] == "0", "\(stats)")
    }

    // MARK: - 3. Other kernel tunnel devices, where the kernel has them

    @Test("kernel GRE, gretap, IPIP, sit and Geneve devices, where this kernel has them")
    func kernelTunnelDevices() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let overlays = [
            Overlay(
                kind: "gre", device: "gre1", arguments: { ["local", $0, "remote", $1, "key", "7"] }, layer2: false,
                sensorAddress: "203.0.113.17", peerAddress: "203.0.113.18", prefix: 28, tunnel: "gre", tunnelID: 7),
            Overlay(
                kind: "gretap", device: "gretap1", arguments: { ["local", $0, "remote", $1, "key", "8"] }, layer2: true,
                sensorAddress: "203.0.113.33", peerAddress: "203.0.113.34", prefix: 28, tunnel: "gre", tunnelID: 8),
            Overlay(
                kind: "ipip", device: "ipip1", arguments: { ["local", $0, "remote", $1] }, layer2: false,
                sensorAddress: "203.0.113.49", peerAddress: "203.0.113.50", prefix: 28, tunnel: "ipip", tunnelID: nil),
            Overlay(
                kind: "sit", device: "sit1", arguments: { ["local", $0, "remote", $1] }, layer2: false,
                sensorAddress: "2001:db8:1:5::1", peerAddress: "2001:db8:1:5::2", prefix: 64, tunnel: "sit", tunnelID: nil),
            Overlay(
                kind: "geneve", device: "gnv1", arguments: { _, remote in ["id", "99", "remote", remote] }, layer2: true,
                sensorAddress: "203.0.113.65", peerAddress: "203.0.113.66", prefix: 28, tunnel: "geneve", tunnelID: 99),
        ]
        var available: [Overlay] = []
        for overlay in overlays {
            if try Self.add(overlay, to: pair) {
                available.append(overlay)
            } else {
                print("TunnelLiveTests: this kernel has no \(overlay.kind) devices; that part is skipped")
            }
        }
        guard !available.isEmpty else { return }
        let dps = try pair.startSensor()
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        for (index, overlay) in available.enumerated() {
            try Self.udpExchange(
                pair, serverIn: pair.sensor, server: overlay.sensorAddress, port: 7000 + index, clientIn: pair.peer,
                client: overlay.peerAddress, sourcePort: 5555, count: 3, request: 20, response: 7)
        }
        let (frames, stats) = try Self.stop(dps)
        for (index, overlay) in available.enumerated() {
            Self.expectUDP(
                frames, overlay: overlay, client: overlay.peerAddress, sourcePort: 5555, server: overlay.sensorAddress,
                port: 7000 + index, count: 3, clientUnderlay: Pair.peerV4, serverUnderlay: Pair.sensorV4)
        }
        let outer = frames.filter {
            Set([$0["src_ip"] as? String, $0["dst_ip"] as? String]) == Set([Pair.sensorV4, Pair.peerV4])
        }
        #expect(outer.isEmpty, "outer flows: \(outer.map(Self.line))")
        #expect(stats["tunnel_outer"] == "0", "\(stats)")
    }
}
