import Foundation
import TestSupport
import Testing

/// `dps run` as the service runs it: as an unprivileged user with only CAP_BPF, CAP_NET_ADMIN and
/// CAP_PERFMON; talking the notify protocol; reloading on SIGHUP; outliving a lost interface.
@Suite("Service, live", .serialized, .enabled(if: Privilege.isRoot, "needs root for BPF and namespaces"))
struct ServiceLiveTests {
    typealias Pair = NamespacePair

    /// setpriv as the unit's DynamicUser does it: a non-root uid and gid, no groups, and `caps` as
    /// the inheritable, ambient and bounding sets (ambient capabilities need the inheritable bit,
    /// and survive execve into an unprivileged, non-setuid binary).
    static func setpriv(caps: [String]) -> [String] {
        let list = caps.map { "+\($0)" }.joined(separator: ",")
        return [
            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            "--inh-caps=-all" + (caps.isEmpty ? "" : "," + list),
            "--ambient-caps=-all" + (caps.isEmpty ? "" : "," + list),
            "--bounding-set=-all" + (caps.isEmpty ? "" : "," + list),
            "--",
        ]
    }

    static func frames(_ stdout: String) throws -> [[String: Any]] {
        try stdout.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any], "not a JSON object: \(line)")
        }
    }

    static func isPing(_ frame: [String: Any]) -> Bool {
        frame["protocol"] as? String == "OTHER" && frame["src_ip"] as? String == Pair.peerV4
            && frame["dst_ip"] as? String == Pair.sensorV4
    }

    func start(_ pair: Pair, _ arguments: [String], prefix: [String] = []) throws -> Spawned {
        let dps = try pair.spawn(in: pair.sensor, prefix + [TestPaths.dps, "run"] + (arguments.contains("--config") ? [] : ["--config", "/dev/null"]) + arguments)
        guard dps.waitFor("capturing", inStderr: true, timeout: 20) else {
            dps.signal(SIGKILL)
            throw TestSetupError("dps did not start: \(dps.stderr)")
        }
        return dps
    }

    @Test("runs as nobody with only CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON: frames out, clean exit, no hook left")
    func leastPrivilege() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let dps = try start(
            pair, ["--interface", Pair.sensorInterface, "--stdout", "--extended", "--stats-interval", "1"],
            prefix: Self.setpriv(caps: ["bpf", "net_admin", "perfmon"]))
        // It really is nobody with exactly those capabilities.
        let status = try String(contentsOfFile: "/proc/\(try Self.dpsPID(under: dps))/status", encoding: .utf8)
        let fields = Dictionary(
            status.split(separator: "\n").compactMap { line -> (String, String)? in
                let parts = line.split(separator: ":", maxSplits: 1)
                return parts.count == 2 ? (String(parts[0]), parts[1].trimmingCharacters(in: .whitespaces)) : nil
            }, uniquingKeysWith: { a, _ in a })
        #expect(fields["Uid"]?.split(separator: "\t").allSatisfy { $0 == "65534" } == true, "\(fields["Uid"] ?? "")")
        // CAP_NET_ADMIN (12), CAP_PERFMON (38), CAP_BPF (39).
        let expected = String((1 << 12 | 1 << 38 | 1 << 39), radix: 16)
        for set in ["CapEff", "CapPrm", "CapAmb", "CapBnd"] {
            #expect(UInt64(fields[set] ?? "", radix: 16).map { String($0, radix: 16) } == expected, "\(set)=\(fields[set] ?? "")")
        }

        #expect(!(try pair.sensorHooks().isEmpty))
        let ping = try pair.run(in: pair.peer, ["ping", "-c", "2", "-i", "0.2", "-W", "2", Pair.sensorV4])
        #expect(ping.status == 0, "ping failed: \(ping.err)")
        dps.signal(SIGTERM)
        #expect(dps.wait() == 0, "\(dps.stderr)")
        let frames = try Self.frames(dps.stdout)
        let pings = frames.filter(Self.isPing)
        #expect(pings.count == 1, "frames: \(dps.stdout)")
        #expect(pings.first?["packets_in"] as? Int == 2)
        #expect(pings.first?["packets_out"] as? Int == 2)
        #expect(pings.first?["end_reason"] as? String == "shutdown")
        #expect(try pair.sensorHooks().isEmpty)
        #expect(!dps.stderr.contains("error"), "\(dps.stderr)")
    }

    @Test("with CAP_BPF and CAP_PERFMON but not CAP_NET_ADMIN: a clear error naming it, nothing attached")
    func missingNetAdmin() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let result = try pair.run(
            in: pair.sensor,
            Self.setpriv(caps: ["bpf", "perfmon"]) + [TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface, "--stdout"])
        #expect(result.status != 0)
        // Only the missing one is named as missing.
        #expect(result.err.hasPrefix("dps: error: missing capabilities CAP_NET_ADMIN: dps needs"), "stderr: \(result.err)")
        #expect(result.out.isEmpty)
        #expect(try pair.sensorHooks().isEmpty)
    }

    /// The pid of `dps` itself: `ip netns exec` and `setpriv` exec into it, so it is the child's pid.
    static func dpsPID(under spawned: Spawned) throws -> Int32 {
        let pid = spawned.process.processIdentifier
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
        #expect(exe.hasSuffix("/dps"), "pid \(pid) runs \(exe)")
        return pid
    }

    @Test("notify: READY=1 once hooks are attached, STATUS= with live counters, WATCHDOG=1 at half the interval")
    func notify() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let listener = try NotifyListener()
        defer { listener.close() }
        let started = Date()
        let dps = try pair.spawn(
            in: pair.sensor,
            ["env", "NOTIFY_SOCKET=\(listener.path)", "WATCHDOG_USEC=1000000"]
                + Self.setpriv(caps: ["bpf", "net_admin", "perfmon"])
                + [TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface, "--stdout", "--stats-interval", "1"])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        let ready = try #require(listener.waitFor(timeout: 20) { $0.hasPrefix("READY=1") }, "no READY=1: \(dps.stderr)")
        // When READY=1 arrives, both hooks are in place already.
        let hooks = try pair.sensorHooks()
        #expect(Pair.hookCount(hooks) == 2 && hooks.contains("egress"), "hooks at READY: \(hooks)")
        #expect(dps.stderr.contains("capturing"))
        #expect(ready.text.contains("\nSTATUS=capturing on \(Pair.sensorInterface): packets=0"), "\(ready.text)")
        // READY=1 is the first message; nothing says READY twice.
        #expect(listener.messages.first?.text.hasPrefix("READY=1") == true)

        let ping = try pair.run(in: pair.peer, ["ping", "-c", "3", "-i", "0.2", "-W", "2", Pair.sensorV4])
        #expect(ping.status == 0, "ping failed: \(ping.err)")
        // A STATUS= line after the ping carries the counters: six packets at least (3 each way).
        let status = try #require(
            listener.waitFor(timeout: 5) { ($0.hasPrefix("STATUS=") && (counters(in: $0)["packets"] ?? 0) >= 6) },
            "no STATUS with packets: \(listener.messages.map(\.text))")
        for key in ["packets", "ringbuf_drops", "flows_open", "frames", "frames_written"] {
            #expect(counters(in: status.text)[key] != nil, "\(key) missing in \(status.text)")
        }
        #expect(counters(in: status.text)["ringbuf_drops"] == 0)
        #expect(counters(in: status.text)["flows_open"] ?? 0 >= 1)
        usleep(1_500_000)
        dps.signal(SIGTERM)
        #expect(dps.wait() == 0, "\(dps.stderr)")
        let stopping = listener.waitFor(timeout: 2) { $0.hasPrefix("STOPPING=1") }
        #expect(stopping != nil)

        // WATCHDOG=1 every half second or so while running (WATCHDOG_USEC is 1 s).
        let messages = listener.messages
        let pings = messages.filter { $0.text == "WATCHDOG=1" }.map(\.at)
        let running = Date().timeIntervalSince(started)
        #expect(pings.count >= 4, "\(pings.count) watchdog pings in \(running) s")
        let gaps = zip(pings.dropFirst(), pings).map { $0.timeIntervalSince($1) }
        #expect(gaps.allSatisfy { $0 < 1.0 }, "a gap as long as the watchdog timeout: \(gaps)")
        #expect(messages.filter { $0.text.hasPrefix("READY=1") }.count == 1)
        #expect(try pair.sensorHooks().isEmpty)
    }

    @Test("SIGHUP: log_level and stats_interval change at once, others are logged as needing a restart, a bad file is rejected")
    func reload() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let directory = try ServicePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appending(path: "dps.yaml")
        try "interfaces: [nonexistent0]\nstdout: true\nstats_interval: 600\nlog_level: info\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let listener = try NotifyListener()
        defer { listener.close() }
        // The command line's --interface overrides the file's list.
        let dps = try start(
            pair, ["--config", config.path, "--interface", Pair.sensorInterface],
            prefix: ["env", "NOTIFY_SOCKET=\(listener.path)"])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        #expect(listener.waitFor { $0.hasPrefix("READY=1") } != nil)
        #expect(!dps.stderr.contains("info: stats"))

        try "interfaces: [nonexistent0]\nstdout: true\nstats_interval: 1\nlog_level: debug\nidle_timeout: 3\n"
            .write(to: config, atomically: true, encoding: .utf8)
        dps.signal(SIGHUP)
        #expect(dps.waitFor("key=log_level new=debug old=info", inStderr: true), "\(dps.stderr)")
        #expect(dps.stderr.contains("notice: reload: changed key=stats_interval new=1.0 old=600.0"), "\(dps.stderr)")
        #expect(dps.stderr.contains("warning: reload: this change needs a restart, not applied key=idle_timeout new=3.0 old=10.0"))
        // interfaces differ in the file, but the command line still overrides it: no change.
        #expect(!dps.stderr.contains("key=interfaces"))
        #expect(listener.waitFor(timeout: 2) { $0 == "RELOADING=1" } != nil)
        #expect(listener.messages.filter { $0.text.hasPrefix("READY=1") }.count == 2)
        // Stats lines now come every second.
        #expect(dps.waitFor("info: stats", inStderr: true, timeout: 5), "\(dps.stderr)")

        // A bad file is rejected as a whole, the running configuration stays.
        try "stats_interval: 1\nlog_level: warning\nmax_flows: -1\n".write(to: config, atomically: true, encoding: .utf8)
        dps.signal(SIGHUP)
        #expect(dps.waitFor("reload rejected", inStderr: true), "\(dps.stderr)")
        #expect(dps.stderr.contains("key \\\"max_flows\\\"") || dps.stderr.contains("key \"max_flows\""), "\(dps.stderr)")
        #expect(dps.stderr.contains(config.path))
        #expect(!dps.stderr.contains("key=log_level new=warning"))
        let before = dps.stderr.components(separatedBy: "info: stats").count
        usleep(2_500_000)
        #expect(dps.stderr.components(separatedBy: "info: stats").count > before, "info lines stopped: \(dps.stderr)")
        #expect(dps.process.isRunning)

        let ping = try pair.run(in: pair.peer, ["ping", "-c", "1", "-W", "2", Pair.sensorV4])
        #expect(ping.status == 0)
        dps.signal(SIGTERM)
        #expect(dps.wait() == 0, "\(dps.stderr)")
        #expect(try Self.frames(dps.stdout).contains(where: Self.isPing))
        #expect(try pair.sensorHooks().isEmpty)
    }

    @Test("an interface that disappears is logged once; capture goes on on the others")
    func interfaceDisappears() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let extra = "dpsx0"
        for step in [["link", "add", extra, "type", "veth", "peer", "name", "dpsx1"], ["link", "set", extra, "up"]] {
            let result = try sh(["/usr/bin/env", "ip", "-n", pair.sensor] + step)
            try #require(result.status == 0, "ip \(step): \(result.err)")
        }
        let dps = try start(
            pair, ["--interface", Pair.sensorInterface, "--interface", extra, "--stdout", "--stats-interval", "1"])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        let gone = try sh(["/usr/bin/env", "ip", "-n", pair.sensor, "link", "del", extra])
        #expect(gone.status == 0)
        #expect(dps.waitFor("interface disappeared", inStderr: true, timeout: 5), "\(dps.stderr)")
        let ping = try pair.run(in: pair.peer, ["ping", "-c", "2", "-i", "0.2", "-W", "2", Pair.sensorV4])
        #expect(ping.status == 0)
        usleep(2_500_000)  // more status ticks: still logged only once
        dps.signal(SIGTERM)
        #expect(dps.wait() == 0, "\(dps.stderr)")
        #expect(dps.stderr.components(separatedBy: "interface disappeared").count - 1 == 1, "\(dps.stderr)")
        #expect(dps.stderr.contains("iface=\(extra)"))
        #expect(dps.stderr.contains("interfaces_left=1"))
        let pings = try Self.frames(dps.stdout).filter(Self.isPing)
        #expect(pings.count == 1, "\(dps.stdout)")
        #expect(try pair.sensorHooks().isEmpty)
    }

    @Test("config values apply, and flags override them: --no-extended beats extended: true")
    func configAndFlags() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let directory = try ServicePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appending(path: "dps.yaml")
        try "interfaces: [\(Pair.sensorInterface)]\nstdout: true\nextended: true\negress: false\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let dps = try start(pair, ["--config", config.path, "--no-extended"])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        // egress: false from the file: one hook only.
        let hooks = try pair.sensorHooks()
        #expect(Pair.hookCount(hooks) == 1 && !hooks.contains("egress"), "\(hooks)")
        let ping = try pair.run(in: pair.peer, ["ping", "-c", "1", "-W", "2", Pair.sensorV4])
        #expect(ping.status == 0)
        dps.signal(SIGTERM)
        #expect(dps.wait() == 0)
        let frames = try Self.frames(dps.stdout)
        let frame = try #require(frames.first(where: Self.isPing), "\(dps.stdout)")
        #expect(frame["packets_in"] == nil)  // not extended
        #expect(frame["bytes_out"] as? Int == 0)  // ingress only: the reply is not seen
        #expect(frame["bytes_in"] as? Int == 64)
    }

    @Test("the unit's default credential (a lone newline: no /etc/dps/kronos.key) means unsigned lines to Kronos")
    func emptyCredentialMeansUnsigned() throws {
        let directory = try ServicePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let credentials = directory.appending(path: "credentials")
        try FileManager.default.createDirectory(at: credentials, withIntermediateDirectories: false)
        let credential = credentials.appending(path: "kronos-hmac-key")
        try "\n".write(to: credential, atomically: true, encoding: .utf8)
        chmod(credential.path, 0o400)  // as systemd makes it
        let socket = directory.appending(path: "kronos.sock").path
        let listener = try Spawned([TestPaths.dps, "listen", "--socket", socket, "--raw"])
        defer { if listener.process.isRunning { listener.signal(SIGKILL) } }
        #expect(listener.waitFor("not checking signatures", inStderr: true, timeout: 10), "\(listener.stderr)")

        let pair = try Pair()
        defer { pair.remove() }
        let dps = try start(
            pair, ["--interface", Pair.sensorInterface, "--kronos-socket", socket],
            prefix: ["env", "CREDENTIALS_DIRECTORY=\(credentials.path)"])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        #expect(dps.stderr.contains("notice: the kronos-hmac-key credential is empty: Kronos lines are unsigned"), "\(dps.stderr)")
        #expect(!dps.stderr.contains("signing Kronos lines"))
        let ping = try pair.run(in: pair.peer, ["ping", "-c", "1", "-W", "2", Pair.sensorV4])
        #expect(ping.status == 0)
        dps.signal(SIGTERM)
        #expect(dps.wait() == 0, "\(dps.stderr)")
        #expect(listener.waitFor("\"dst_ip\":\"\(Pair.sensorV4)\"", timeout: 10), "listener got: \(listener.stdout)")
        // Unsigned: each line is the bare JSON object.
        #expect(listener.stdout.split(separator: "\n").allSatisfy { $0.hasPrefix("{") }, "\(listener.stdout)")

        // A credential with a key in it signs, as before (here: refused for a too-open mode).
        try "a key\n".write(to: credential, atomically: false, encoding: .utf8)
        chmod(credential.path, 0o644)
        let open = try pair.run(
            in: pair.sensor,
            ["env", "CREDENTIALS_DIRECTORY=\(credentials.path)", TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface,
             "--kronos-socket", socket])
        #expect(open.status != 0)
        #expect(open.err.contains("kronos-hmac-key: mode 644 is too open"), "\(open.err)")
    }
}
