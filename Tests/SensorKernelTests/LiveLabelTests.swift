import Foundation
import TestSupport
import Testing

/// `dps label --interface` on a real kernel: traffic of each class between a namespace pair,
/// each flow labeled as its class.
@Suite("Live labeling", .serialized, .enabled(if: Privilege.isRoot, "needs root for BPF and namespaces"))
struct LiveLabelTests {
    typealias Pair = NamespacePair

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("HTTP, DNS, BitTorrent, SSH brute force, C2 and an unmatched flow, labeled live")
    func eachClass() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let out = FileManager.default.temporaryDirectory.appending(path: "dps-live-label-\(UUID().uuidString).ndjson").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let dps = try pair.spawn(
            in: pair.sensor,
            [TestPaths.dps, "label", "--interface", Pair.sensorInterface, "--out", out, "--unmatched", "other"])
        guard dps.waitFor("capturing", inStderr: true, timeout: 20) else {
            dps.signal(SIGKILL)
            throw TestSetupError("dps label did not start: \(dps.stderr)")
        }

        let peer = Pair.peerV4
        func tcp(_ port: Int, _ request: [UInt8], response: [UInt8] = Array("ok".utf8)) throws {
            _ = try pair.exchange(
                server: ["tcp-server", peer, "\(port)", "\(request.count)", Self.hex(response)], serverIn: pair.peer,
                client: ["tcp-client", peer, "\(port)", Self.hex(request)], clientIn: pair.sensor)
        }
        func udp(_ port: Int, _ request: [UInt8]) throws {
            _ = try pair.exchange(
                server: ["udp-server", peer, "\(port)", Self.hex(Array("reply".utf8))], serverIn: pair.peer,
                client: ["udp-client", peer, "\(port)", Self.hex(request)], clientIn: pair.sensor)
        }
        try tcp(80, Array("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n".utf8))
        try udp(53, [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0])
        try tcp(51413, [0x13] + Array("BitTorrent protocol".utf8) + [UInt8](repeating: 0, count: 48))
        try tcp(22, Array("SSH-2.0-OpenSSH_7.9\r\n".utf8))
        try tcp(4444, (0..<32).map { UInt8(($0 * 37 + 11) & 0xFF) })
        try udp(5000, [UInt8](repeating: 0x41, count: 40))

        dps.signal(SIGINT)
        #expect(dps.wait(timeout: 20) == 0, "dps label: \(dps.stderr)")
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        var labels: [Int: String] = [:]
        for line in text.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(line.hasSuffix("\"}") && line.contains(",\"label\":"), "label not last: \(line)")
            guard object["dst_ip"] as? String == peer, let port = object["dst_port"] as? Int else { continue }
            labels[port] = object["label"] as? String
        }
        #expect(labels[80] == "benign")
        #expect(labels[53] == "benign")
        #expect(labels[51413] == "bittorrent")
        #expect(labels[22] == "ssh_bruteforce")
        #expect(labels[4444] == "malware_c2")
        #expect(labels[5000] == "other")
        #expect(dps.stderr.contains("labels: bittorrent=1 ssh_bruteforce=1 benign=2 malware_c2=1"), "\(dps.stderr)")
        #expect(try pair.sensorHooks().isEmpty)
    }

    @Test("--duration ends the capture by itself, the file complete and the hooks gone")
    func duration() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let started = Date()
        let result = try pair.run(
            in: pair.sensor,
            [TestPaths.dps, "label", "--interface", Pair.sensorInterface, "--duration", "1", "--out", "-"],
            timeout: 30)
        #expect(result.status == 0, "\(result.err)")
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(result.err.contains("labels: "))
        #expect(try pair.sensorHooks().isEmpty)
    }
}
