import Foundation
import TestSupport
import Testing

/// The Debian package as an operator meets it: built by `packaging/deb/build.sh` (or taken from
/// `$DPS_DEB`, as CI does after building it once), checked with Debian's own tools, then installed
/// and driven under a real systemd as PID 1 by `packaging/deb/test-systemd.sh`.
@Suite(
    "Debian package", .serialized,
    .enabled(if: DebianPackage.toolsPresent, "needs root, dpkg-buildpackage, lintian and systemd-nspawn (.ci/setup installs them)"))
struct DebianPackageTests {
    @Test("the shipped binary needs only Debian's own shared libraries, none of the toolchain's")
    func selfContainedBinary() throws {
        try DebianPackage.withExtracted { tree in try Self.checkSelfContained(tree) }
    }

    static func checkSelfContained(_ tree: URL) throws {
        let binary = tree.appending(path: "usr/bin/dps").path
        let ldd = try sh(["/usr/bin/ldd", binary])
        #expect(ldd.status == 0, "\(ldd.err)")
        let lines = ldd.out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.count >= 5, "\(ldd.out)")
        for line in lines where !line.hasPrefix("linux-vdso.so") {
            #expect(!line.contains("not found"), "\(line)")
            #expect(!line.contains("swift"), "a toolchain library: \(line)")
            // "libbpf.so.1 => /lib/x86_64-linux-gnu/libbpf.so.1 (0x...)", or the loader by its own path.
            let path = String(line.split(separator: " ").first { $0.hasPrefix("/") } ?? "")
            let system = ["/lib/", "/lib64/", "/usr/lib/"].contains { path.hasPrefix($0) }
                && !path.hasPrefix("/usr/lib/swift") && !path.hasPrefix("/usr/local/")
            #expect(system, "not from the system's library folders: \(line)")
        }
        // No RUNPATH or RPATH pointing anywhere (the toolchain's folder was the old one).
        let dynamic = try sh(["/usr/bin/readelf", "-d", binary])
        #expect(!dynamic.out.contains("RUNPATH") && !dynamic.out.contains("RPATH"), "\(dynamic.out)")
        #expect(dynamic.out.contains("BIND_NOW") || dynamic.out.contains("(FLAGS)              NOW"), "full RELRO: \(dynamic.out)")
        #expect(try sh([binary, "--version"]).out == DebianPackage.version + "\n")
        let size = try FileManager.default.attributesOfItem(atPath: binary)[.size] as? Int ?? 0
        let debSize = try FileManager.default.attributesOfItem(atPath: try DebianPackage.deb())[.size] as? Int ?? 0
        print("dps binary: \(size) bytes; package: \(debSize) bytes")
    }

    @Test("contents: binary, unit, conffile, docs, manual page, completions; Depends computed")
    func contents() throws {
        let deb = try DebianPackage.deb()
        let listing = try sh(["/usr/bin/dpkg-deb", "--contents", deb]).out
        let paths = Set(listing.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
        for path in [
            "./usr/bin/dps", "./lib/systemd/system/dps.service", "./etc/dps/dps.yaml",
            "./usr/share/doc/dps/copyright", "./usr/share/doc/dps/changelog.gz", "./usr/share/man/man1/dps.1.gz",
            "./usr/share/bash-completion/completions/dps", "./usr/share/zsh/vendor-completions/_dps",
            "./usr/share/fish/vendor_completions.d/dps.fish",
        ] {
            #expect(paths.contains(path), "\(path) missing from: \(listing)")
        }
        try DebianPackage.withExtracted { tree in try Self.checkFiles(tree) }

        let control = try sh(["/usr/bin/dpkg-deb", "--field", deb, "Depends"]).out
        for library in ["libbpf1 (>=", "libpcap0.8 (>=", "libc6 (>=", "libisal2 (>="] {
            #expect(control.contains(library), "Depends: \(control)")
        }
        let conffiles = try sh(["/bin/sh", "-c", "dpkg-deb --ctrl-tarfile '\(deb)' | tar -xOf - ./conffiles"]).out
        #expect(conffiles == "/etc/dps/dps.yaml\n")
    }

    static func checkFiles(_ tree: URL) throws {
        // The unit and the config are the repository's, the unit pointing at the packaged binary.
        let unit = try String(contentsOf: tree.appending(path: "lib/systemd/system/dps.service"), encoding: .utf8)
        #expect(unit == (try String(contentsOfFile: DebianPackage.root + "/systemd/dps.service", encoding: .utf8)))
        #expect(unit.contains("\nExecStart=/usr/bin/dps run --config /etc/dps/dps.yaml\n"))
        #expect(
            FileManager.default.contentsEqual(
                atPath: tree.appending(path: "etc/dps/dps.yaml").path, andPath: DebianPackage.root + "/systemd/dps.yaml"))
        // The manual page documents every subcommand, from the command's own help.
        let manual = try sh(["/bin/sh", "-c", "zcat '\(tree.appending(path: "usr/share/man/man1/dps.1.gz").path)'"]).out
        for subcommand in ["run", "label", "generate", "listen"] {
            #expect(manual.contains(".It Em \(subcommand)\n"), "\(subcommand)")
        }
        #expect(manual.contains("idle-timeout"))
    }

    @Test("lintian reports no errors")
    func lintian() throws {
        let result = try sh(["/usr/bin/lintian", "--tag-display-limit", "0", try DebianPackage.deb()], timeout: 300)
        let lines = (result.out + result.err).split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("E:") }.isEmpty, "\(result.out)")
        print("lintian: \(lines.filter { $0.hasPrefix("W:") || $0.hasPrefix("E:") })")
    }

    @Test("under a real systemd: start, frames to Kronos and the dataset files, reload, SIGKILL restarts, upgrade, stop, purge")
    func underSystemd() throws {
        let results = FileManager.default.temporaryDirectory.appending(path: "dps-systemd-\(getpid())")
        defer { try? FileManager.default.removeItem(at: results) }
        let run = try sh([DebianPackage.root + "/packaging/deb/test-systemd.sh", try DebianPackage.deb(), results.path],
                         timeout: 400)
        let file = { (name: String) in (try? String(contentsOf: results.appending(path: name), encoding: .utf8)) ?? "" }
        let steps = file("steps.txt")
        #expect(run.status == 0, "\(run.err)\nsteps:\n\(steps)\nconsole:\n\(file("console.txt"))")
        #expect(steps.hasSuffix("done\n"), "the driver stopped early:\n\(steps)\nconsole:\n\(file("console.txt"))")

        // Installed, not enabled: the config has no interfaces yet.
        #expect(file("enabled.txt") == "disabled\n")

        func state(_ name: String) -> [String: String] {
            var result: [String: String] = [:]
            for line in file("\(name).txt").split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                result[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
            return result
        }
        #expect(file("start-status.txt") == "0\n")
        let started = state("started")
        #expect(started["ActiveState"] == "active" && started["SubState"] == "running", "\(started)")
        #expect(state("after-traffic")["StatusText"]?.hasPrefix("capturing on dps0") == true, "\(state("after-traffic"))")

        // 20 UDP flows from the peer reached the Kronos listener through the socket, each exact.
        let frames = try file("frames.ndjson").split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let udp = frames.filter { $0["protocol"] as? String == "UDP" }
        #expect(udp.count == 20, "\(frames)")
        // The metrics endpoint, scraped inside the container under the unit's restrictions.
        let metrics = file("metrics.txt")
        #expect(metrics.contains("# TYPE dps_packets_total counter"), "\(metrics)\n\(file("metrics-error.txt"))")
        let idleFrames = metrics.split(separator: "\n").first { $0.hasPrefix("dps_frames_total{reason=\"idle\"} ") }
        #expect(idleFrames.flatMap { Double($0.split(separator: " ").last!) }.map { $0 >= 20 } == true, "\(metrics)")
        #expect(Set(udp.compactMap { $0["dst_port"] as? Int }) == Set(5000..<5020))
        for frame in udp {
            #expect(frame["src_ip"] as? String == "198.51.100.2" && frame["dst_ip"] as? String == "198.51.100.1")
            #expect(frame["bytes_in"] as? Int == 26 && frame["bytes_out"] as? Int == 0, "\(frame)")
        }

        // Reload: same process, still running.
        #expect(file("reload-status.txt") == "0\n")
        let reloaded = state("reloaded")
        #expect(reloaded["ActiveState"] == "active", "\(reloaded)")
        #expect(reloaded["MainPID"].map { $0 + "\n" } == file("pid-before-reload.txt"))

        // SIGKILL: systemd restarts it.
        let restarted = state("restarted")
        #expect(restarted["NRestarts"] == "1" && restarted["ActiveState"] == "active", "\(restarted)")

        // The package's postinst on an upgrade restarts the running service.
        let upgraded = state("upgraded")
        #expect(file("postinst-upgrade.txt").hasSuffix("0\n"), "\(file("postinst-upgrade.txt"))")
        #expect(upgraded["ActiveState"] == "active", "\(upgraded)")
        #expect(upgraded["MainPID"].map { $0 + "\n" } != file("pid-before-upgrade.txt"), "not restarted: \(upgraded)")

        // Stop: a clean exit.
        #expect(file("stop-status.txt") == "0\n")
        let stopped = state("stopped")
        #expect(stopped["ActiveState"] == "inactive" && stopped["Result"] == "success", "\(stopped)")
        #expect(stopped["ExecMainStatus"] == "0", "\(stopped)")

        // The dataset files (dataset_dir under the unit's StateDirectory=): only finished files,
        // and every UDP frame Kronos got is in them once; the SIGKILL's partial file was finished
        // at the restart.
        let datasets = file("datasets.txt")
        #expect(datasets.contains(".ndjson.gz") && !datasets.contains(".part"), "\(datasets)")
        let lines = try file("dataset-lines.ndjson").split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let datasetUDP = lines.filter { $0["protocol"] as? String == "UDP" }
        #expect(datasetUDP.count == 20, "\(datasets)\n\(lines)")
        #expect(Set(datasetUDP.compactMap { $0["dst_port"] as? Int }) == Set(5000..<5020))
        #expect(file("journal-dps.txt").contains("finished a partial dataset file"), "\(file("journal-dps.txt"))")

        // The package's prerm on removal stops it.
        #expect(file("prerm-remove.txt").hasSuffix("0\n"), "\(file("prerm-remove.txt"))")
        #expect(state("removed")["ActiveState"] == "inactive", "\(state("removed"))")

        // The journal: nothing from dps at priority error or worse, and the runtime's thread
        // priority notice gone wherever the unit's LimitNICE could be applied.
        let journal = file("journal-dps.json").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(journal.count > 10, "\(file("journal-dps.txt"))")
        let errors = journal.filter { Int($0["PRIORITY"] as? String ?? "6") ?? 6 <= 3 }
        #expect(errors.isEmpty, "\(errors.map { $0["MESSAGE"] ?? "" })")
        let niceAllowed = file("limits.txt").contains(/Max nice priority\s+24\s+24/)
        if niceAllowed {
            #expect(!file("journal-dps.txt").contains("Failed to set thread priority"), "\(file("journal-dps.txt"))")
        } else {
            print("RLIMIT_NICE could not be raised here (no CAP_SYS_RESOURCE): the thread priority notice is not checked")
        }
        #expect(file("journal-dps.txt").contains("frames"), "no stats line: \(file("journal-dps.txt"))")

        // Purged: not one file of the package left, /etc/dps gone.
        #expect(file("left-after-purge.txt").isEmpty, "\(file("left-after-purge.txt"))")
        #expect(!FileManager.default.fileExists(atPath: "/etc/dps"))
    }
}

/// The package under test, built once per test run unless `$DPS_DEB` names one.
enum DebianPackage {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static var toolsPresent: Bool {
        geteuid() == 0
            && ["/usr/bin/dpkg-buildpackage", "/usr/bin/lintian", "/usr/bin/systemd-nspawn", "/usr/bin/dh"]
                .allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static var version: String {
        (try? sh(["/usr/bin/dpkg-parsechangelog", "-l", root + "/packaging/deb/debian/changelog", "-S", "Version"]).out
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
    }

    private static let built = Result<String, Error> {
        if let given = ProcessInfo.processInfo.environment["DPS_DEB"], !given.isEmpty { return given }
        let result = try sh([root + "/packaging/deb/build.sh"], timeout: 1800)
        guard result.status == 0, let path = result.out.split(separator: "\n").last.map(String.init) else {
            throw PackageError("packaging/deb/build.sh failed: \(result.err.suffix(2000))")
        }
        return path
    }

    static func deb() throws -> String { try built.get() }

    /// The package's files unpacked into a temporary folder, removed after `body`.
    static func withExtracted<T>(_ body: (URL) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appending(path: "dps-deb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try sh(["/usr/bin/dpkg-deb", "--extract", try deb(), directory.path])
        guard result.status == 0 else { throw PackageError("dpkg-deb --extract: \(result.err)") }
        return try body(directory)
    }
}

struct PackageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
