import Foundation
import SensorCore
import SensorIO
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `dps run --dataset-dir` on a real kernel, beside Kronos (`dps listen`): files rotate, every
/// frame Kronos got is in exactly one finished file with its label, a SIGKILL leaves a readable
/// partial that the next start finishes, and a full disk costs the dataset only (counted) while
/// capture and Kronos go on. The files are read as a trainer would: Python's gzip and json, pandas.
@Suite("Dataset files, live", .serialized, .enabled(if: Privilege.isRoot, "needs root for BPF, namespaces and tmpfs"))
struct DatasetLiveTests {
    typealias Pair = NamespacePair

    /// Sends `count` UDP datagrams from the peer, each from its own socket to its own port
    /// (7000 + i), `gap` seconds apart: one flow each (and the sensor's ICMP replies).
    static func send(_ pair: Pair, count: Int, gap: Double, firstPort: Int = 7000) throws {
        let script = """
            import socket, sys, time
            count, gap, first = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
            for i in range(count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((sys.argv[4], 0))
                s.sendto(b"d" * (10 + i), (sys.argv[5], first + i))
                s.close()
                time.sleep(gap)
            """
        let result = try pair.run(
            in: pair.peer, ["python3", "-c", script, "\(count)", "\(gap)", "\(firstPort)", Pair.peerV4, Pair.sensorV4],
            timeout: 60)
        guard result.status == 0 else { throw TestSetupError("sender failed: \(result.err)") }
    }

    /// Every line of every finished file, read by Python's gzip/json (zstd: the zstd tool), as
    /// `file<TAB>json`; and pandas' row count over them.
    static func readAsATrainer(_ directory: String) throws -> (lines: [(file: String, frame: [String: Any], text: String)], pandasRows: Int) {
        let script = """
            import glob, gzip, json, subprocess, sys
            import pandas as pd
            rows = 0
            for path in sorted(glob.glob(sys.argv[1] + "/dps-*.ndjson.*")):
                if path.endswith(".gz"):
                    text = gzip.open(path, "rt").read()
                else:
                    text = subprocess.run(["zstd", "-dcq", path], check=True, capture_output=True, text=True).stdout
                for line in text.splitlines():
                    json.loads(line)
                    print(path.rsplit("/", 1)[1] + "\\t" + line)
                rows += len(pd.read_json(path, lines=True)) if text else 0
            print("pandas", rows)
            """
        let result = try sh(["/usr/bin/python3", "-c", script, directory], timeout: 120)
        guard result.status == 0 else { throw TestSetupError("reading the files failed: \(result.err)") }
        var lines: [(String, [String: Any], String)] = []
        var pandasRows = -1
        for line in result.out.split(separator: "\n") {
            if line.hasPrefix("pandas ") {
                pandasRows = Int(line.dropFirst(7)) ?? -1
                continue
            }
            let parts = line.split(separator: "\t", maxSplits: 1)
            let frame = try JSONSerialization.jsonObject(with: Data(parts[1].utf8)) as? [String: Any] ?? [:]
            lines.append((String(parts[0]), frame, String(parts[1])))
        }
        return (lines, pandasRows)
    }

    /// A frame's identity across outputs.
    static func key(_ frame: [String: Any]) -> String {
        ["src_ip", "dst_ip", "src_port", "dst_port", "protocol", "bytes_in", "bytes_out"]
            .map { "\(frame[$0] ?? "-")" }.joined(separator: " ")
    }

    static func names(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    static func rules(_ label: String) -> String {
        "rules:\n  - label: \"\(label)\"\n    match:\n      protocol: \"UDP\"\n      port_range: [7000, 7099]\n"
    }

    @Test("files rotate; every frame Kronos got is in exactly one finished file, labeled; a reload changes the rules")
    func everyKronosFrameIsInOneFile() throws {
        let scratch = try KronosEndToEndTests.Scratch()
        let socketPath = scratch.file("kronos.sock")
        let datasets = scratch.file("datasets")
        let rulesPath = scratch.file("rules.yaml")
        try Self.rules("probe").write(toFile: rulesPath, atomically: true, encoding: .utf8)
        let listener = try Spawned([TestPaths.dps, "listen", "--socket", socketPath, "--raw"])
        defer { if listener.process.isRunning { listener.signal(SIGKILL) } }
        #expect(listener.waitFor("listening", inStderr: true, timeout: 10) || true)

        let pair = try Pair()
        defer { pair.remove() }
        let dps = try pair.spawn(
            in: pair.sensor,
            [TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface, "--kronos-socket", socketPath,
             "--idle-timeout", "0.5", "--dataset-dir", datasets, "--dataset-rotate", "2", "--stats-interval", "1",
             "--rules", rulesPath])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        guard dps.waitFor("capturing", inStderr: true, timeout: 20) else {
            Issue.record("dps did not start: \(dps.stderr)")
            return
        }
        // About 7 s of traffic: at least three 2-second files; new rules half way.
        try Self.send(pair, count: 17, gap: 0.2)
        try Self.rules("probe2").write(toFile: rulesPath, atomically: true, encoding: .utf8)
        dps.signal(SIGHUP)
        #expect(dps.waitFor("dataset rules changed", inStderr: true, timeout: 10))
        try Self.send(pair, count: 18, gap: 0.2, firstPort: 7017)
        Thread.sleep(forTimeInterval: 1.5)
        dps.signal(SIGTERM)
        #expect(dps.wait(timeout: 20) == 0, "dps stderr: \(dps.stderr)")
        Thread.sleep(forTimeInterval: 0.3)
        listener.signal(SIGTERM)
        _ = listener.wait(timeout: 10)

        let names = Self.names(datasets)
        #expect(names.count >= 3, "files: \(names)")
        #expect(names.allSatisfy { $0.hasPrefix("dps-") && $0.hasSuffix(".ndjson.gz") }, "only finished files: \(names)")
        let kronos = try listener.stdout.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
        let (lines, pandasRows) = try Self.readAsATrainer(datasets)
        #expect(kronos.count >= 35)
        #expect(lines.count == kronos.count, "as many lines in the files as frames at Kronos")
        #expect(pandasRows == lines.count)
        // The same frames (the kernel's own IPv6 neighbour traffic can repeat a frame exactly: a
        // frame is in the files as many times as Kronos got it).
        var atKronos: [String: Int] = [:]
        for frame in kronos { atKronos[Self.key(frame), default: 0] += 1 }
        var inFiles: [String: Int] = [:]
        for line in lines { inFiles[Self.key(line.frame), default: 0] += 1 }
        #expect(inFiles == atKronos)
        // Each UDP flow sent is in exactly one file, labeled by the built-in rules (benign), with
        // the extended keys.
        let udp = lines.filter { ($0.frame["dst_port"] as? Int).map { (7000..<7035).contains($0) } == true }
        #expect(udp.count == 35)
        #expect(Set(udp.map { $0.frame["dst_port"] as? Int }).count == 35)
        #expect(Set(udp.map(\.file)).count >= 3, "spread over the rotated files")
        // Frames no rule matches (ICMP, IPv6 neighbour traffic) are there, with no label.
        #expect(lines.filter { $0.frame["protocol"] as? String != "UDP" }.allSatisfy { $0.frame["label"] == nil })
        // The first rules labeled the first frames, the reloaded ones the rest, each file's
        // header names its rules.
        let old = udp.filter { $0.frame["label"] as? String == "probe" }
        let new = udp.filter { $0.frame["label"] as? String == "probe2" }
        #expect(old.count + new.count == 35 && old.count >= 10 && new.count >= 15)
        let lastOld = old.compactMap { $0.frame["dst_port"] as? Int }.max() ?? .max
        let firstNew = new.compactMap { $0.frame["dst_port"] as? Int }.min() ?? .min
        #expect(lastOld < firstNew, "the new rules apply from the reload on")
        for line in udp {
            let header = try #require(try DecompressingReader(path: datasets + "/" + line.file).header)
            #expect(header.rules.labels == [line.frame["label"] as? String ?? ""], "\(line.file)")
            #expect(header.rules.source == rulesPath)
        }
        #expect(lines.allSatisfy { $0.frame["first_seen"] != nil })
        let stats = KronosEndToEndTests.stats(dps.stderr)
        #expect(stats["dataset_written"] == "\(lines.count)")
        #expect(stats["dataset_produced"] == stats["dataset_written"])
        #expect(stats["dataset_files"] == "\(names.count)")
        #expect(stats["kronos_sent"] == "\(kronos.count)")
    }

    @Test("SIGKILL leaves a readable partial; the next start finishes it")
    func aKilledRunsPartialIsFinishedAtTheNextStart() throws {
        let scratch = try KronosEndToEndTests.Scratch()
        let datasets = scratch.file("datasets")
        let pair = try Pair()
        defer { pair.remove() }
        let arguments = [
            TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface, "--stdout",
            "--idle-timeout", "0.3", "--dataset-dir", datasets, "--dataset-compression", "zstd",
        ]
        let dps = try pair.spawn(in: pair.sensor, arguments)
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        guard dps.waitFor("capturing", inStderr: true, timeout: 20) else {
            Issue.record("dps did not start: \(dps.stderr)")
            return
        }
        try Self.send(pair, count: 10, gap: 0.05)
        // Idle frames after 0.3 s (the table's clock ticks each second); the writer flushes
        // within a second.
        Thread.sleep(forTimeInterval: 4)
        dps.signal(SIGKILL)
        _ = dps.wait(timeout: 10)
        let stdoutFrames = dps.stdout.split(separator: "\n").count
        #expect(stdoutFrames >= 10)

        let parts = Self.names(datasets)
        #expect(parts.count == 1 && parts[0].hasPrefix(".dps-") && parts[0].hasSuffix(".ndjson.zst.part"), "\(parts)")
        // Readable as it is, up to its last flushed line.
        let partial = try sh(["/bin/sh", "-c", "zstd -dc '\(datasets)/\(parts[0])' 2>/dev/null; true"])
        let partialLines = partial.out.split(separator: "\n")
        #expect(partialLines.count == stdoutFrames, "every frame out before the kill was flushed")

        let again = try pair.spawn(in: pair.sensor, arguments)
        defer { if again.process.isRunning { again.signal(SIGKILL) } }
        guard again.waitFor("capturing", inStderr: true, timeout: 20) else {
            Issue.record("dps did not start again: \(again.stderr)")
            return
        }
        again.signal(SIGTERM)
        #expect(again.wait(timeout: 20) == 0, "stderr: \(again.stderr)")
        #expect(again.stderr.contains("finished a partial dataset file"))
        let names = Self.names(datasets)
        let recovered = String(parts[0].dropFirst().dropLast(".part".count))
        #expect(names.contains(recovered), "\(names)")
        #expect(!names.contains { $0.hasSuffix(".part") })
        let (lines, pandasRows) = try Self.readAsATrainer(datasets)
        #expect(lines.filter { $0.file == recovered }.count == partialLines.count)
        #expect(pandasRows == lines.count)
        #expect(KronosEndToEndTests.stats(again.stderr)["dataset_files_recovered"] == "1")
    }

    @Test("a full disk: capture and Kronos go on, the dataset counts what it lost and resumes")
    func aFullDiskCostsOnlyTheDataset() throws {
        let scratch = try KronosEndToEndTests.Scratch()
        let socketPath = scratch.file("kronos.sock")
        let datasets = scratch.file("datasets")
        try FileManager.default.createDirectory(atPath: datasets, withIntermediateDirectories: false)
        let mounted = try sh(["/bin/mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", datasets])
        guard mounted.status == 0 else {
            Issue.record("cannot mount a tmpfs: \(mounted.err)")
            return
        }
        defer { _ = try? sh(["/bin/umount", "-l", datasets]) }
        let listener = try Spawned([TestPaths.dps, "listen", "--socket", socketPath, "--raw"])
        defer { if listener.process.isRunning { listener.signal(SIGKILL) } }
        let pair = try Pair()
        defer { pair.remove() }
        let dps = try pair.spawn(
            in: pair.sensor,
            [TestPaths.dps, "run", "--config", "/dev/null", "--interface", Pair.sensorInterface, "--kronos-socket", socketPath,
             "--idle-timeout", "0.3", "--dataset-dir", datasets, "--dataset-rotate", "1"])
        defer { if dps.process.isRunning { dps.signal(SIGKILL) } }
        guard dps.waitFor("capturing", inStderr: true, timeout: 20) else {
            Issue.record("dps did not start: \(dps.stderr)")
            return
        }
        try Self.send(pair, count: 10, gap: 0.05, firstPort: 7000)
        Thread.sleep(forTimeInterval: 2)
        // Fill the disk.
        _ = try sh(["/bin/sh", "-c", "cat /dev/zero > '\(datasets)/filler' 2>/dev/null; true"])
        try Self.send(pair, count: 40, gap: 0.05, firstPort: 8000)
        Thread.sleep(forTimeInterval: 2)
        #expect(dps.stderr.contains("dataset files cannot be written"), "stderr: \(dps.stderr)")
        // Space again.
        unlink("\(datasets)/filler")
        Thread.sleep(forTimeInterval: 2.5)
        try Self.send(pair, count: 10, gap: 0.05, firstPort: 9000)
        Thread.sleep(forTimeInterval: 2)
        dps.signal(SIGTERM)
        #expect(dps.wait(timeout: 20) == 0, "dps stderr: \(dps.stderr)")
        Thread.sleep(forTimeInterval: 0.3)
        listener.signal(SIGTERM)
        _ = listener.wait(timeout: 10)

        // Capture and Kronos went on: every flow reached Kronos.
        let kronos = listener.stdout.split(separator: "\n")
        for port in [7000, 8000, 8039, 9009] {
            #expect(kronos.contains { $0.contains("\"dst_port\":\(port),") }, "port \(port) at Kronos")
        }
        #expect(dps.stderr.components(separatedBy: "dataset files cannot be written").count == 2, "logged once")
        #expect(dps.stderr.contains("dataset files writable again"))
        let stats = KronosEndToEndTests.stats(dps.stderr)
        let produced = Int(stats["dataset_produced"] ?? "") ?? -1
        let written = Int(stats["dataset_written"] ?? "") ?? -1
        let failed = Int(stats["dataset_failed"] ?? "") ?? -1
        let dropped = Int(stats["dataset_dropped"] ?? "") ?? -1
        let undelivered = Int(stats["dataset_undelivered"] ?? "") ?? -1
        #expect(failed > 0)
        #expect(produced == written + failed + dropped + undelivered, "counts add up: \(stats)")
        #expect(stats["kronos_sent"] == "\(kronos.count)" && produced == kronos.count)
        // Nothing torn: only finished files, each a whole stream with exactly the lines written.
        let names = Self.names(datasets)
        #expect(!names.contains { $0.hasSuffix(".part") }, "\(names)")
        let (lines, _) = try Self.readAsATrainer(datasets)
        #expect(lines.count == written)
        #expect(lines.contains { ($0.frame["dst_port"] as? Int) == 9009 }, "frames after the outage were written")
    }
}
