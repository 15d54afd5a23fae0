import Foundation
import TestSupport

enum TestPaths {
    /// The built `dps`, next to the test binary.
    static var dps: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appending(path: "dps").path
    }

    static let traffic = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appending(path: "traffic.py").path

    static let hooks = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appending(path: "hooks.py").path

    /// Runs a command with bpf() refused by a seccomp filter (EPERM).
    static let denyBPF = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appending(path: "deny_bpf.py").path

    static var isX86_64: Bool {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } == "x86_64"
    }

    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
}

enum Privilege {
    /// Kernel tests need root (CAP_BPF, CAP_NET_ADMIN): CI runs as root.
    static var isRoot: Bool { geteuid() == 0 }

    /// tcx came with Linux 6.6.
    static var kernelHasTCX: Bool {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        return parts.count == 2 && (parts[0], parts[1]) >= (6, 6)
    }
}
