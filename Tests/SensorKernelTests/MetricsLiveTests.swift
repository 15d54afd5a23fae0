import Foundation
import TestSupport
import Testing

private let prometheusPresent =
    FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool")

/// `dps run --metrics-listen` scraped by a real Prometheus (Debian's `prometheus`), inside the
/// sensor's namespace: after known traffic, Prometheus's numbers equal what dps reports at exit.
@Suite(
    "Metrics, scraped by Prometheus", .serialized,
    .enabled(if: Privilege.isRoot, "needs root for BPF and namespaces"),
    .enabled(if: prometheusPresent, "needs Debian's prometheus package (.ci/setup installs it)"))
struct MetricsLiveTests {
    typealias Pair = NamespacePair
    static let metricsAddress = "127.0.0.1:7470"
    static let prometheusAddress = "127.0.0.1:9090"

    /// GET `url` from inside namespace `ns`; the body.
    static func get(_ pair: Pair, in ns: String, _ url: String) throws -> String {
        let script = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
        let result = try pair.run(in: ns, ["python3", "-c", script, url], timeout: 15)
        guard result.status == 0 else { throw TestSetupError("GET \(url): \(result.err)") }
        return result.out
    }

    /// The value of `query` now, from Prometheus's HTTP API; nil when it has no sample yet.
    static func query(_ pair: Pair, _ query: String) throws -> Double? {
        let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? query
        let body = try get(pair, in: pair.sensor, "http://\(prometheusAddress)/api/v1/query?query=\(encoded)")
        let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        let data = json?["data"] as? [String: Any]
        guard let first = (data?["result"] as? [[String: Any]])?.first, let value = first["value"] as? [Any],
            let text = value.last as? String
        else { return nil }
        return Double(text)
    }

    /// `key=value` fields of dps's "final stats" line.
    static func finalStats(_ stderr: String) -> [String: UInt64] {
        guard let line = stderr.split(separator: "\n").last(where: { $0.contains("final stats") }) else { return [:] }
        var fields: [String: UInt64] = [:]
        for part in line.split(separator: " ") {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2, let value = UInt64(pair[1]) { fields[String(pair[0])] = value }
        }
        return fields
    }

    @Test("Prometheus scrapes dps; its counts equal dps's own at exit; promtool accepts the exposition")
    func scrapedByPrometheus() throws {
        let pair = try Pair()
        defer { pair.remove() }
        // IPv4 only: the kernel's own IPv6 chatter on a new link (router solicitations, MLD
        // reports) would come at random times and make the counts unknowable.
        for ns in [pair.sensor, pair.peer] {
            _ = try pair.run(in: ns, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
        }
        let dps = try pair.startSensor([
            "--idle-timeout", "1", "--stats-interval", "60", "--metrics-listen", Self.metricsAddress,
        ])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        #expect(dps.waitFor("serving metrics", inStderr: true, timeout: 10), "\(dps.stderr)")

        let directory = FileManager.default.temporaryDirectory.appending(path: "dps-prom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appending(path: "prometheus.yml")
        try """
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: dps
                static_configs:
                  - targets: ["\(Self.metricsAddress)"]
            """.write(to: config, atomically: true, encoding: .utf8)
        let prometheus = try pair.spawn(
            in: pair.sensor,
            [
                "/usr/bin/prometheus", "--config.file=\(config.path)",
                "--storage.tsdb.path=\(directory.appending(path: "data").path)",
                "--web.listen-address=\(Self.prometheusAddress)", "--log.level=warn",
            ])
        defer {
            prometheus.signal(SIGTERM)
            _ = prometheus.wait(timeout: 20)
        }

        // Abusive clients of the endpoint for the whole traffic phase: 200 idle connections, 50
        // that send half a request line and stall (slowloris), one 1 MB request line.
        let abuse = """
            import socket, sys, time
            held = []
            for i in range(250):
                s = socket.create_connection(("127.0.0.1", 7470), timeout=5)
                if i >= 200:
                    s.send(b"GET /metr")
                held.append(s)
            big = socket.create_connection(("127.0.0.1", 7470), timeout=5)
            try:
                big.sendall(b"GET /" + b"a" * 1000000 + b" HTTP/1.1\\r\\n\\r\\n")
            except OSError:
                pass
            print("abusing", flush=True)
            time.sleep(float(sys.argv[1]))
            """
        let abuser = try pair.spawn(in: pair.sensor, ["python3", "-c", abuse, "4"])
        #expect(abuser.waitFor("abusing", timeout: 20), "\(abuser.stderr)")

        // Known traffic: a TCP exchange, a UDP request/response, two pings.
        _ = try pair.exchange(
            server: ["tcp-server", Pair.sensorV4, "8080", "5", "776f726c64"], serverIn: pair.sensor,
            client: ["tcp-client", Pair.sensorV4, "8080", "68656c6c6f"], clientIn: pair.peer)
        _ = try pair.exchange(
            server: ["udp-server", Pair.sensorV4, "5353", "616e73776572"], serverIn: pair.sensor,
            client: ["udp-client", Pair.sensorV4, "5353", "7175657279"], clientIn: pair.peer)
        let ping = try pair.run(in: pair.peer, ["ping", "-c", "2", "-i", "0.2", "-W", "2", Pair.sensorV4])
        #expect(ping.status == 0, "ping: \(ping.err)")
        Thread.sleep(forTimeInterval: 2.5)  // every flow ends (1 s idle, 0.5 s close linger)
        _ = abuser.wait(timeout: 20)

        // The exposition as served: promtool finds nothing to complain about.
        let exposition = try Self.get(pair, in: pair.sensor, "http://\(Self.metricsAddress)/metrics")
        let exposed = directory.appending(path: "metrics.txt")
        try exposition.write(to: exposed, atomically: true, encoding: .utf8)
        let check = try sh(["/bin/sh", "-c", "/usr/bin/promtool check metrics < '\(exposed.path)'"])
        #expect(check.status == 0 && check.out.isEmpty && check.err.isEmpty, "promtool: \(check.out) \(check.err)")

        // Wait until Prometheus has a sample taken after the traffic settled.
        var packets: Double?
        var frames: Double?
        var written: Double?
        let deadline = Date().addingTimeInterval(30)
        repeat {
            Thread.sleep(forTimeInterval: 1)
            packets = try Self.query(pair, "dps_packets_total")
            frames = try Self.query(pair, "sum(dps_frames_total)")
            written = try Self.query(pair, "dps_frames_written_total")
        } while (packets ?? 0) == 0 || (frames ?? 0) < 3 && Date() < deadline
        Thread.sleep(forTimeInterval: 2)  // two more scrapes: the last sample is the settled value
        packets = try Self.query(pair, "dps_packets_total")
        frames = try Self.query(pair, "sum(dps_frames_total)")
        written = try Self.query(pair, "dps_frames_written_total")
        let drops = try Self.query(pair, "dps_ringbuf_drops_total")
        let up = try Self.query(pair, "up{job=\"dps\"}")

        dps.signal(SIGINT)
        #expect(dps.wait(timeout: 20) == 0, "\(dps.stderr)")
        let stats = Self.finalStats(dps.stderr)
        #expect(up == 1)
        #expect(stats["packets"] != nil && packets == stats["packets"].map { Double($0) }, "final stats: \(stats)")
        #expect(stats["frames"] != nil && frames == stats["frames"].map { Double($0) }, "final stats: \(stats)")
        #expect(written == stats["frames_written"].map { Double($0) }, "final stats: \(stats)")
        #expect(drops == 0 && stats["ringbuf_drops"] == 0)
        // The abuse was met by the endpoint's bound, and cost the capture nothing (counts above).
        #expect(dps.stderr.contains("metrics server: 64 connections open, closing new ones at once"), "\(dps.stderr)")
        // TCP (≥ 6 packets), UDP (2), ICMP (4): three flows, all ended before the last scrape.
        #expect(stats["frames"] == 3 && stats["frames_shutdown"] == 0, "final stats: \(stats)")
        #expect((stats["packets"] ?? 0) >= 12)
    }
}
