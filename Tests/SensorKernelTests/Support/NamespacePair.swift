import Foundation
import TestSupport
import Synchronization

private let namespaceCounter = Atomic<Int>(0)

/// Two network namespaces joined by a veth pair: the sensor side (`dps0`, 198.51.100.1,
/// 2001:db8::1) and the peer side (`peer0`, 198.51.100.2, 2001:db8::2). Static neighbour entries,
/// so no ARP or neighbour discovery runs. `remove()` (or deinit) deletes both namespaces and with
/// them the veth pair, whatever the test did.
final class NamespacePair: @unchecked Sendable {
    static let sensorV4 = "198.51.100.1"
    static let peerV4 = "198.51.100.2"
    static let sensorV6 = "2001:db8::1"
    static let peerV6 = "2001:db8::2"
    static let sensorInterface = "dps0"
    static let peerInterface = "peer0"

    let sensor: String
    let peer: String
    private var removed = false

    init() throws {
        let n = namespaceCounter.add(1, ordering: .relaxed).newValue
        sensor = "dpst-\(getpid())-\(n)-s"
        peer = "dpst-\(getpid())-\(n)-p"
        do {
            try setUp()
        } catch {
            remove()
            throw error
        }
    }

    deinit { remove() }

    private func setUp() throws {
        let (s, p) = (sensor, peer)
        let (si, pi) = (Self.sensorInterface, Self.peerInterface)
        let (smac, pmac) = ("02:00:5e:00:53:01", "02:00:5e:00:53:02")
        let steps: [[String]] = [
            ["ip", "netns", "add", s],
            ["ip", "netns", "add", p],
            ["ip", "link", "add", si, "address", smac, "netns", s, "type", "veth",
             "peer", "name", pi, "address", pmac, "netns", p],
            ["ip", "-n", s, "addr", "add", "\(Self.sensorV4)/24", "dev", si],
            ["ip", "-n", p, "addr", "add", "\(Self.peerV4)/24", "dev", pi],
            ["ip", "-n", s, "addr", "add", "\(Self.sensorV6)/64", "dev", si, "nodad"],
            ["ip", "-n", p, "addr", "add", "\(Self.peerV6)/64", "dev", pi, "nodad"],
            ["ip", "-n", s, "neigh", "add", Self.peerV4, "lladdr", pmac, "dev", si, "nud", "permanent"],
            ["ip", "-n", p, "neigh", "add", Self.sensorV4, "lladdr", smac, "dev", pi, "nud", "permanent"],
            ["ip", "-n", s, "neigh", "add", Self.peerV6, "lladdr", pmac, "dev", si, "nud", "permanent"],
            ["ip", "-n", p, "neigh", "add", Self.sensorV6, "lladdr", smac, "dev", pi, "nud", "permanent"],
            ["ip", "-n", s, "link", "set", "lo", "up"],
            ["ip", "-n", p, "link", "set", "lo", "up"],
            ["ip", "-n", s, "link", "set", si, "up"],
            ["ip", "-n", p, "link", "set", pi, "up"],
        ]
        for step in steps {
            let result = try sh(["/usr/bin/env"] + step)
            guard result.status == 0 else {
                throw TestSetupError("\(step.joined(separator: " ")) failed: \(result.err)")
            }
        }
    }

    func remove() {
        guard !removed else { return }
        removed = true
        _ = try? sh(["/usr/bin/env", "ip", "netns", "del", sensor])
        _ = try? sh(["/usr/bin/env", "ip", "netns", "del", peer])
    }

    /// Starts `arguments` inside namespace `ns`.
    func spawn(in ns: String, _ arguments: [String]) throws -> Spawned {
        try Spawned(["/usr/bin/env", "ip", "netns", "exec", ns] + arguments)
    }

    func run(in ns: String, _ arguments: [String], timeout: Double = 30) throws -> (status: Int32, out: String, err: String) {
        try sh(["/usr/bin/env", "ip", "netns", "exec", ns] + arguments, timeout: timeout)
    }

    /// Starts `dps run` on the sensor side and waits until its hooks are attached.
    func startSensor(_ extra: [String] = []) throws -> Spawned {
        let dps = try spawn(
            in: sensor,
            [TestPaths.dps, "run", "--config", "/dev/null", "--interface", Self.sensorInterface, "--stdout", "--extended"] + extra)
        guard dps.waitFor("capturing", inStderr: true, timeout: 20) else {
            dps.signal(SIGKILL)
            throw TestSetupError("dps did not start: \(dps.stderr)")
        }
        return dps
    }

    /// How many hooks `sensorHooks()` lists: tcx programs and TC filters.
    static func hookCount(_ hooks: String) -> Int {
        hooks.split(separator: "\n").filter { $0.hasPrefix("tcx ") || $0.contains("direct-action") }.count
    }

    /// The BPF hooks on the sensor interface (empty when none): its TC filters as `tc` prints
    /// them, then its tcx programs as hooks.py prints them ("tcx ingress <prog id>").
    func sensorHooks() throws -> String {
        var text = ""
        for hook in ["ingress", "egress"] {
            text += try sh(["/usr/bin/env", "tc", "-n", sensor, "filter", "show", "dev", Self.sensorInterface, hook]).out
        }
        let tcx = try run(in: sensor, ["python3", TestPaths.hooks, Self.sensorInterface])
        guard tcx.status == 0 else { throw TestSetupError("hooks.py failed: \(tcx.err)") }
        return text + tcx.out
    }

    /// Runs one traffic.py exchange: the server side first (waiting for "ready"), then the client.
    func exchange(server: [String], serverIn: String, client: [String], clientIn: String) throws -> String {
        let serverProcess = try spawn(in: serverIn, ["python3", TestPaths.traffic] + server)
        guard serverProcess.waitFor("ready", timeout: 10) else {
            throw TestSetupError("traffic server did not start: \(serverProcess.stderr)")
        }
        let result = try run(in: clientIn, ["python3", TestPaths.traffic] + client)
        guard result.status == 0 else { throw TestSetupError("traffic client failed: \(result.err)") }
        guard serverProcess.wait(timeout: 20) == 0 else {
            throw TestSetupError("traffic server failed: \(serverProcess.stderr)")
        }
        return serverProcess.stdout
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
