import Foundation
import SensorCore
import SensorIO
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Where python3 is, if anywhere on PATH.
let kronosPython: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/python3" }.first { access($0, X_OK) == 0 }
}()

/// Signatures checked by an independent implementation: Python's `hmac` and `json` modules,
/// as the Kronos listener would.
@Suite("Kronos sink, checked by Python")
struct KronosPythonTests {
    static let listener = #"""
        import hashlib, hmac, json, os, socket, sys
        path, key_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
        key = open(key_file, "rb").read()
        if key.endswith(b"\n"):
            key = key[:-1]
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)
        server.settimeout(20)
        conn, _ = server.accept()
        stream = conn.makefile("rb")
        good, bad, seqs, fields = 0, 0, [], set()
        while good + bad < count:
            line = stream.readline()
            if not line.endswith(b"\n"):
                break
            mac, sep, body = line[:-1].partition(b":")
            expected = hmac.new(key, body, hashlib.sha256).hexdigest()
            if sep and hmac.compare_digest(mac.decode("ascii", "replace"), expected):
                frame = json.loads(body)
                good += 1
                seqs.append(frame["bytes_in"])
                fields.add(tuple(frame.keys()))
            else:
                bad += 1
        print(json.dumps({"good": good, "bad": bad, "seqs": seqs, "fields": [list(f) for f in fields]}))
        """#

    struct Report: Decodable {
        var good: Int
        var bad: Int
        var seqs: [Int]
        var fields: [[String]]
    }

    @Test(.enabled(if: kronosPython != nil, "python3 is not installed"))
    func pythonVerifiesEverySignature() throws {
        let dir = KronosTempDir()
        let socketPath = dir.file("kronos.sock")
        let keyPath = dir.file("key")
        FileManager.default.createFile(atPath: keyPath, contents: Data("py-secret: kronos\n".utf8))
        chmod(keyPath, 0o600)
        let key = try KronosKey.load(path: keyPath)
        #expect(key.bytes == Array("py-secret: kronos".utf8))

        let count = 500
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(kronosPython))
        process.arguments = ["-c", Self.listener, socketPath, keyPath, "\(count)"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // Python may not have bound yet: the sink retries until it has.
        let sink = KronosTest.sink(socketPath, key: key)
        for i in 0..<count { sink.write(KronosTest.frame(i)) }
        sink.flush()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        sink.finish(timeout: 2)
        #expect(process.terminationStatus == 0)
        let report = try JSONDecoder().decode(Report.self, from: data)
        #expect(report.good == count && report.bad == 0)
        #expect(report.seqs == Array(0..<count))
        #expect(report.fields == [[
            "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "bytes_in", "bytes_out", "duration",
            "payload",
        ]])
        #expect(sink.snapshot().sent == UInt64(count))
    }
}
