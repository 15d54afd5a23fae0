import Foundation
import TestSupport
import Testing

private let nfdumpPresent =
    FileManager.default.isExecutableFile(atPath: "/usr/bin/nfcapd")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/nfdump")

/// `dps run --ipfix` on the veth pair, with Debian's nfcapd as the collector in the sensor's
/// namespace: what nfdump stored is what dps wrote to stdout, flow for flow.
@Suite(
    "IPFIX export from dps run", .serialized,
    .enabled(if: Privilege.isRoot, "needs root for BPF and namespaces"),
    .enabled(if: nfdumpPresent, "needs Debian's nfdump package (.ci/setup installs it)"))
struct IPFIXLiveTests {
    typealias Pair = NamespacePair

    @Test("live frames reach nfcapd over UDP: the same flows, the same counts")
    func liveExport() throws {
        let pair = try Pair()
        defer { pair.remove() }
        let directory = FileManager.default.temporaryDirectory.appending(path: "dps-ipfix-live-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // nfcapd writes its file on SIGTERM, which the test runner's threads block and a child
        // inherits: unblock it before exec.
        let unblock = "import os, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM]); "
            + "os.execv(sys.argv[1], sys.argv[1:])"
        let collector = try pair.spawn(
            in: pair.sensor,
            ["python3", "-c", unblock, "/usr/bin/nfcapd", "-b", "127.0.0.1", "-p", "4739", "-w", directory.path])
        defer { if collector.process.isRunning { collector.signal(SIGKILL) } }
        #expect(collector.waitFor("Startup nfcapd", inStderr: true, timeout: 10) || collector.waitFor("Startup", timeout: 1))

        let dps = try pair.startSensor([
            "--idle-timeout", "1", "--ipfix", "udp://127.0.0.1:4739", "--ipfix-observation-domain", "5",
        ])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        _ = try pair.exchange(
            server: ["tcp-server", Pair.sensorV4, "8080", "5", "776f726c64"], serverIn: pair.sensor,
            client: ["tcp-client", Pair.sensorV4, "8080", "68656c6c6f"], clientIn: pair.peer)
        _ = try pair.exchange(
            server: ["udp-server", Pair.sensorV4, "5353", "616e73776572"], serverIn: pair.sensor,
            client: ["udp-client", Pair.sensorV4, "5353", "7175657279"], clientIn: pair.peer)
        Thread.sleep(forTimeInterval: 2.5)
        dps.signal(SIGINT)
        #expect(dps.wait(timeout: 20) == 0, "\(dps.stderr)")
        Thread.sleep(forTimeInterval: 0.5)
        collector.signal(SIGTERM)
        #expect(collector.wait(timeout: 20) == 0, "\(collector.stderr)")

        let frames = dps.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasPrefix("nfcapd.") && !$0.contains("current") }
        #expect(!files.isEmpty, "nfcapd wrote no file: \(collector.stderr)")
        var rows: [[String]] = []
        for file in files {
            let read = try sh(["/usr/bin/nfdump", "-r", directory.appending(path: file).path, "-q", "-o", "csv"])
            #expect(read.status == 0, "\(read.err)")
            rows += read.out.split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
                .filter { $0.count > 10 && $0[0] != "ts" }
        }
        #expect(rows.count == frames.count, "nfdump: \(rows.count) flows; dps: \(frames.count) frames")
        // The TCP and UDP flows by tuple: nfdump's csv has sa, da, sp, dp at 3...6, pr at 7.
        func tuple(_ frame: [String: Any]) -> String {
            "\(frame["src_ip"] ?? "") \(frame["dst_ip"] ?? "") \(frame["src_port"] ?? "") \(frame["dst_port"] ?? "")"
        }
        let expected = Set(frames.filter { ["TCP", "UDP"].contains($0["protocol"] as? String) }.map(tuple))
        let collected = Set(rows.filter { ["TCP", "UDP"].contains($0[7]) }.map { "\($0[3]) \($0[4]) \($0[5]) \($0[6])" })
        #expect(expected.count == 2 && collected == expected, "nfdump: \(collected); dps: \(expected)")
        #expect(dps.stderr.contains("ipfix_records_sent=\(frames.count)"), "\(dps.stderr)")
    }
}
