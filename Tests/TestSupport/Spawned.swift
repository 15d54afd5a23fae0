import Foundation
import Synchronization

/// A child process whose stdout and stderr go to temporary files, so a test can wait for a line
/// without pipe deadlocks and read everything at the end.
public final class Spawned: @unchecked Sendable {
    public let process = Process()
    public let stdoutURL: URL
    public let stderrURL: URL

    public init(_ arguments: [String]) throws {
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

    public var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// Waits until stdout or stderr contains `text`; false on timeout or exit without it.
    @discardableResult
    public func waitFor(_ text: String, inStderr: Bool = false, timeout: Double = 10) -> Bool {
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
    public func wait(timeout: Double = 20) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }
}

/// Runs a command to completion: (status, stdout, stderr).
@discardableResult
public func sh(_ arguments: [String], timeout: Double = 30) throws -> (status: Int32, out: String, err: String) {
    let child = try Spawned(arguments)
    let status = child.wait(timeout: timeout)
    return (status, child.stdout, child.stderr)
}

