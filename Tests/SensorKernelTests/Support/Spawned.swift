import Foundation
import Synchronization

/// A child process whose stdout and stderr go to temporary files, so a test can wait for a line
/// without pipe deadlocks and read everything at the end.
final class Spawned: @unchecked Sendable {
    let process = Process()
    let stdoutURL: URL
    let stderrURL: URL

    init(_ arguments: [String]) throws {
        let directory = FileManager.default.temporaryDirectory
        let id = UUID().uuidString
        stdoutURL = directory.appending(path: "dps-test-\(id).out")
        stderrURL = directory.appending(path: "dps-test-\(id).err")
        FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: stdoutURL)
        try? FileManager.default.removeItem(at: stderrURL)
    }

    var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// Waits until stdout or stderr contains `text`; false on timeout or exit without it.
    @discardableResult
    func waitFor(_ text: String, inStderr: Bool = false, timeout: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (inStderr ? stderr : stdout).contains(text) { return true }
            if !process.isRunning { return (inStderr ? stderr : stdout).contains(text) }
            usleep(20_000)
        }
        return false
    }

    /// Waits for exit; kills the process after `timeout`. Returns the exit status.
    @discardableResult
    func wait(timeout: Double = 20) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }
}

/// Runs a command to completion: (status, stdout, stderr).
@discardableResult
func sh(_ arguments: [String], timeout: Double = 30) throws -> (status: Int32, out: String, err: String) {
    let child = try Spawned(arguments)
    let status = child.wait(timeout: timeout)
    return (status, child.stdout, child.stderr)
}

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
