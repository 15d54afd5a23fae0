import Foundation
import Logging
import SensorCore
import SensorIO
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A temporary directory removed with everything in it when released.
final class KronosTempDir: @unchecked Sendable {
    let path: String

    init() {
        var template = Array("/tmp/dps-kronos-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: template)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

enum KronosTest {
    static let logger = Logger(label: "kronos-test")

    /// A frame whose `bytes_in` is its sequence number `i`.
    static func frame(_ i: Int) -> FlowFrame {
        FlowFrame(
            source: IPAddress(ipv4: 198, 51, 100, 1), destination: IPAddress(ipv4: 203, 0, 113, 7),
            sourcePort: UInt16(40_000 + i % 20_000), destinationPort: 443, transport: .tcp,
            bytesIn: UInt64(i), bytesOut: UInt64(i * 3), duration: 0.25,
            payload: Array("GET /item/\(i) HTTP/1.1\r\nHost: example.test\r\n\r\n".utf8))
    }

    /// The sequence number (`bytes_in`) of a frame line, nil when the line is not a whole frame.
    static func sequence(_ line: String) -> Int? {
        var json = Substring(line)
        if let colon = json.firstIndex(of: ":"), json.distance(from: json.startIndex, to: colon) == 64 {
            json = json[json.index(after: colon)...]
        }
        guard json.hasPrefix("{\"src_ip\":"), json.hasSuffix("}"),
            let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let value = object["bytes_in"] as? NSNumber
        else { return nil }
        return value.intValue
    }

    static func sink(
        _ path: String, key: KronosKey? = nil, queueFrames: Int = 65_536,
        maximumQuietConnection: Double? = 4, batchBytes: Int = 64 * 1024, sendBufferBytes: Int32? = nil
    ) -> KronosSink {
        KronosSink(
            configuration: KronosSinkConfiguration(
                socketPath: path, queueFrames: queueFrames, maximumQuietConnection: maximumQuietConnection,
                batchBytes: batchBytes, sendBufferBytes: sendBufferBytes),
            signer: KronosSigner(encoder: FrameEncoder(), key: key), logger: logger)
    }

    /// Polls `condition` every 10 ms until it holds or `timeout` seconds pass.
    static func wait(_ timeout: Double, until condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }
}

/// A small Kronos stand-in written directly on AF_UNIX sockets (independent of `KronosListener`):
/// binds (replacing a stale socket file), accepts one sender at a time, records each
/// connection's whole lines and any unterminated tail, optionally closes after a quiet period,
/// optionally reads slowly or not at all while paused. `kill()` drops everything abruptly, like
/// a killed process: unread data is lost and the socket file stays behind.
final class KronosTestListener: @unchecked Sendable {
    struct Connection {
        var lines: [String] = []
        var tail: [UInt8] = []
        var closedForQuiet = false
    }

    let path: String
    let quietTimeout: Double?
    /// Bytes per read and pause after each read (slow reader).
    let readChunk: Int
    let readPause: useconds_t

    private let lock = NSLock()
    private var connections: [Connection] = []
    private var paused: Bool
    private var listenFD: Int32 = -1
    private var stopPipe: [Int32] = [-1, -1]
    private let exited = DispatchSemaphore(value: 0)

    init(
        path: String, quietTimeout: Double? = nil, readChunk: Int = 64 * 1024, readPause: useconds_t = 0,
        paused: Bool = false
    ) throws {
        self.path = path
        self.quietTimeout = quietTimeout
        self.readChunk = readChunk
        self.readPause = readPause
        self.paused = paused
        unlink(path)
        listenFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, Glibc.listen(listenFD, 4) == 0, pipe(&stopPipe) == 0 else {
            throw IOError("test listener cannot bind \(path)", errno: errno)
        }
        let thread = Thread { [self] in
            loop()
            exited.signal()
        }
        thread.start()
    }

    var snapshot: [Connection] {
        lock.lock()
        defer { lock.unlock() }
        return connections
    }

    var allLines: [String] { snapshot.flatMap(\.lines) }

    func resume() {
        lock.lock()
        paused = false
        lock.unlock()
    }

    /// Stops at once: the open connection and the listening socket close, unread data is lost,
    /// the socket file stays (a killed Kronos).
    func kill() {
        var byte: UInt8 = 1
        _ = write(stopPipe[1], &byte, 1)
        exited.wait()
        close(stopPipe[0])
        close(stopPipe[1])
    }

    /// Stops and removes the socket file.
    func stop() {
        kill()
        unlink(path)
    }

    private func isPaused() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return paused
    }

    private func loop() {
        var listening = true
        defer { if listening { close(listenFD) } }
        while true {
            var fds = [
                pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stopPipe[0], events: Int16(POLLIN), revents: 0),
            ]
            guard poll(&fds, 2, -1) >= 0 || errno == EINTR else { return }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let fd = accept(listenFD, nil, nil)
            guard fd >= 0 else { continue }
            lock.lock()
            connections.append(Connection())
            let index = connections.count - 1
            lock.unlock()
            let stopped = serve(fd, index)
            if stopped {  // like a killed process: the listening socket goes first
                close(listenFD)
                listening = false
            }
            close(fd)
            if stopped { return }
        }
    }

    private func serve(_ fd: Int32, _ index: Int) -> Bool {
        var buffer = [UInt8](repeating: 0, count: readChunk)
        var lastData = Date()
        while true {
            if isPaused() {
                var stop = pollfd(fd: stopPipe[0], events: Int16(POLLIN), revents: 0)
                if poll(&stop, 1, 10) > 0 { return true }
                lastData = Date()
                continue
            }
            var fds = [
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stopPipe[0], events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, 20)
            if ready < 0 && errno != EINTR { return false }
            if fds[1].revents != 0 { return true }
            if ready <= 0 {
                if let quietTimeout, Date().timeIntervalSince(lastData) >= quietTimeout {
                    lock.lock()
                    connections[index].closedForQuiet = true
                    lock.unlock()
                    return false
                }
                continue
            }
            let n = read(fd, &buffer, readChunk)
            if n <= 0 { return false }
            lastData = Date()
            lock.lock()
            var tail = connections[index].tail
            for byte in buffer[0..<n] {
                if byte == UInt8(ascii: "\n") {
                    connections[index].lines.append(String(decoding: tail, as: UTF8.self))
                    tail.removeAll(keepingCapacity: true)
                } else {
                    tail.append(byte)
                }
            }
            connections[index].tail = tail
            lock.unlock()
            if readPause > 0 { usleep(readPause) }
        }
    }
}
