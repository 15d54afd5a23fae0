import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// 802.1Q-tagged frames on the live veth pair, written with packet sockets (this kernel is built
/// without 802.1Q devices, so no `ip link ... type vlan`): the peer sends tagged frames to the
/// sensor, whose receive path moves the tag into `skb->vlan_tci` before the TC ingress hook (the
/// offloaded form); the sensor sends tagged frames out, and those reach the egress hook with the
/// tag still in the bytes. Both directions must land in one flow with VLAN 10, apart from the
/// same addresses and ports untagged.
@Suite(
    "VLANs live", .serialized,
    .enabled(if: Privilege.isRoot, "needs root for BPF and namespaces"))
struct VLANLiveTests {
    /// Python: `count` UDP frames from `source`:5555 to `destination`:6666 out of `interface`,
    /// tagged with `vlan` (none when 0), between the pair's MAC addresses.
    static func sender(interface: String, from source: String, to destination: String, vlan: Int, count: Int,
        reverse: Bool) -> String
    {
        """
        import socket, struct
        def checksum(b):
            s = sum(struct.unpack("!10H", b))
            s = (s & 0xFFFF) + (s >> 16)
            return (~((s & 0xFFFF) + (s >> 16))) & 0xFFFF
        payload = b"vlan-test"
        sport, dport = (6666, 5555) if \(reverse ? "True" : "False") else (5555, 6666)
        udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                         socket.inet_aton("\(source)"), socket.inet_aton("\(destination)"))
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        macs = {"dps0": bytes.fromhex("02005e005301"), "peer0": bytes.fromhex("02005e005302")}
        me, other = macs["\(interface)"], macs["peer0" if "\(interface)" == "dps0" else "dps0"]
        tag = struct.pack("!HH", 0x8100, 0x2000 | \(vlan)) if \(vlan) else b""
        frame = other + me + tag + struct.pack("!H", 0x0800) + ip + udp
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(("\(interface)", 0))
        for _ in range(\(count)):
            s.send(frame)
        """
    }

    @Test func taggedFramesAreTheirOwnFlowFromTheSkbAndFromTheBytes() throws {
        let pair = try NamespacePair()
        defer { pair.remove() }
        let dps = try pair.startSensor()
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        let (peer, sensor) = ("203.0.113.2", "203.0.113.1")
        for (vlan, count) in [(10, 3), (0, 1)] {
            // In: the peer's frames arrive at the sensor's ingress hook; out: the sensor's own leave
            // through its egress hook.
            let inbound = try pair.run(
                in: pair.peer,
                ["python3", "-c", Self.sender(interface: "peer0", from: peer, to: sensor, vlan: vlan, count: count, reverse: false)])
            #expect(inbound.status == 0, "\(inbound.err)")
            let outbound = try pair.run(
                in: pair.sensor,
                ["python3", "-c", Self.sender(interface: "dps0", from: sensor, to: peer, vlan: vlan, count: count, reverse: true)])
            #expect(outbound.status == 0, "\(outbound.err)")
        }
        usleep(300_000)
        dps.signal(SIGTERM)
        #expect(dps.wait() == 0, "\(dps.stderr)")
        var byVLAN: [Int: [String: Any]] = [:]
        for line in dps.stdout.split(separator: "\n") {
            guard let frame = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                frame["src_port"] as? Int == 5555 || frame["dst_port"] as? Int == 5555
            else { continue }
            let vlan = frame["vlan"] as? Int ?? -1
            #expect(byVLAN[vlan] == nil, "two frames on VLAN \(vlan): \(dps.stdout)")
            byVLAN[vlan] = frame
        }
        let tagged = try #require(byVLAN[10], "\(dps.stdout)")
        #expect(tagged["packets_in"] as? Int == 3 && tagged["packets_out"] as? Int == 3, "\(tagged)")
        #expect(tagged["src_ip"] as? String == peer && tagged["bytes_in"] as? Int == 27)
        let untagged = try #require(byVLAN[0], "\(dps.stdout)")
        #expect(untagged["packets_in"] as? Int == 1 && untagged["packets_out"] as? Int == 1, "\(untagged)")
        #expect(byVLAN.count == 2)
    }
}
