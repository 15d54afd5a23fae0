import Foundation

/// Where the tests find the built binary, their helper scripts and the repository.
public enum TestPaths {
    /// The built `dps`, next to the test binary.
    public static var dps: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appending(path: "dps").path
    }

    /// The kernel suites' helper scripts, run by path.
    static let kernelSupport = packageRoot.appending(path: "Tests/SensorKernelTests/Support")

    public static let traffic = kernelSupport.appending(path: "traffic.py").path

    public static let hooks = kernelSupport.appending(path: "hooks.py").path

    /// Runs a command with bpf() refused by a seccomp filter (EPERM).
    public static let denyBPF = kernelSupport.appending(path: "deny_bpf.py").path

    public static var isX86_64: Bool {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } == "x86_64"
    }

    /// The repository (this file is Tests/TestSupport/TestPaths.swift).
    public static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

public enum Privilege {
    /// Kernel tests need root (CAP_BPF, CAP_NET_ADMIN): CI runs as root.
    public static var isRoot: Bool { geteuid() == 0 }

    /// tcx came with Linux 6.6.
    public static var kernelHasTCX: Bool {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        return parts.count == 2 && (parts[0], parts[1]) >= (6, 6)
    }
}

/// The service's files in the repository.
public enum ServicePaths {
    public static let unit = TestPaths.packageRoot.appending(path: "systemd/dps.service").path
    public static let example = TestPaths.packageRoot.appending(path: "systemd/dps.yaml").path
    public static let installer = TestPaths.packageRoot.appending(path: "systemd/install.sh").path

    /// A fresh temporary directory; remove it with `FileManager.removeItem`.
    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appending(path: "dps-service-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
