import Foundation
import Logging
import SensorCore
import SensorIO
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Collects what a listener prints.
final class KronosOutput: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var sink: @Sendable (String) -> Void { { line in self.lines.withLock { $0.append(line) } } }
}

/// A raw AF_UNIX client for sending arbitrary bytes.
func kronosSend(_ path: String, _ bytes: [UInt8]) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: Array(path.utf8))
        raw[path.utf8.count] = 0
    }
    let ok = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
    guard ok == 0 else { throw IOError("connect \(path)", errno: errno) }
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
        guard n > 0 else { throw IOError("send", errno: errno) }
        offset += n
    }
}

@Suite("Kronos listener (dps listen)", .serialized)
struct KronosListenerTests {
    let dir = KronosTempDir()
    var socketPath: String { dir.file("kronos.sock") }
    let key = KronosKey(bytes: Array("listener-key".utf8))

    /// A running listener; `stop()` returns once it has closed and removed its socket.
    final class Running: Sendable {
        let listener: KronosListener
        let done = DispatchSemaphore(value: 0)
        init(_ listener: KronosListener) { self.listener = listener }
        var counters: KronosListener.Counters { listener.counters }
        func stop() {
            listener.stop()
            done.wait()
        }
    }

    func start(key: KronosKey?, raw: Bool, quiet: Double = 5) throws -> (Running, KronosOutput) {
        let output = KronosOutput()
        let listener = try KronosListener(
            configuration: .init(socketPath: socketPath, key: key, quietTimeout: quiet, raw: raw),
            logger: KronosTest.logger, output: output.sink)
        let running = Running(listener)
        Thread {
            listener.run()
            running.done.signal()
        }.start()
        return (running, output)
    }

    @Test func verifiesSignaturesAndCountsBadLines() throws {
        let (listener, output) = try start(key: key, raw: true)
        defer { listener.stop() }
        let encoder = FrameEncoder()
        let signer = KronosSigner(encoder: encoder, key: key)
        let other = KronosSigner(encoder: encoder, key: KronosKey(bytes: Array("wrong".utf8)))
        var bytes: [UInt8] = []
        bytes += signer.line(KronosTest.frame(1))
        bytes += Array((encoder.string(KronosTest.frame(2)) + "\n").utf8)  // unsigned
        bytes += other.line(KronosTest.frame(3))  // bad signature
        bytes += signer.line(KronosTest.frame(4))
        let notJSON = Array("not json".utf8)
        bytes += Array(KronosSigner.signature(of: notJSON, key: key).utf8) + [UInt8(ascii: ":")] + notJSON + [10]
        bytes += [UInt8](repeating: UInt8(ascii: "z"), count: 10_000) + [10]  // overlong
        bytes += signer.line(KronosTest.frame(5))
        bytes += Array("{\"src_ip\":".utf8)  // torn: the sender goes away mid-line
        try kronosSend(socketPath, bytes)
        #expect(KronosTest.wait(3) { listener.counters.torn == 1 })
        let c = listener.counters
        #expect(c.frames == 3 && c.unsigned == 1 && c.badSignature == 1 && c.malformed == 1)
        #expect(c.overlong == 1 && c.torn == 1 && c.bad == 5 && c.connections == 1)
        #expect(output.all == [1, 4, 5].map { encoder.string(KronosTest.frame($0)) })
    }

    @Test func humanFormAndUnsignedLines() throws {
        let (listener, output) = try start(key: nil, raw: false)
        defer { listener.stop() }
        var frame = KronosTest.frame(9)
        frame.source = IPAddress("2001:db8::1")!
        frame.destination = IPAddress("2001:db8::2")!
        frame.sourcePort = 5353
        frame.destinationPort = 53
        frame.transport = .udp
        frame.payload = [0x00, 0x01, 0x41, 0x42]
        let sink = KronosTest.sink(socketPath)
        sink.write(frame)
        sink.finish(timeout: 2)
        #expect(KronosTest.wait(3) { output.all.count == 1 })
        #expect(output.all == ["UDP [2001:db8::1]:5353 -> [2001:db8::2]:53 in=9 out=27 0.25s payload=4B \"..AB\""])
        #expect(listener.counters.signedUnverified == 0)
    }

    @Test func closesAQuietConnectionAndTheSinkCarriesOn() throws {
        let (listener, output) = try start(key: key, raw: true, quiet: 0.5)
        defer { listener.stop() }
        let sink = KronosTest.sink(socketPath, key: key, maximumQuietConnection: nil)
        sink.write(KronosTest.frame(0))
        sink.flush()
        #expect(KronosTest.wait(3) { listener.counters.quietCloses == 1 })
        sink.write(KronosTest.frame(1))
        sink.finish(timeout: 2)
        #expect(KronosTest.wait(3) { output.all.count == 2 })
        #expect(listener.counters.connections == 2 && listener.counters.bad == 0)
    }

    /// The real 5 s: Kronos closes a connection quiet for 5 s; the frames after it all arrive.
    @Test func realFiveSecondQuietClose() throws {
        let (listener, output) = try start(key: nil, raw: true)
        defer { listener.stop() }
        let sink = KronosTest.sink(socketPath, maximumQuietConnection: nil)
        for i in 0..<10 { sink.write(KronosTest.frame(i)) }
        sink.flush()
        #expect(KronosTest.wait(7) { listener.counters.quietCloses == 1 })
        for i in 10..<20 { sink.write(KronosTest.frame(i)) }
        sink.finish(timeout: 2)
        #expect(KronosTest.wait(3) { output.all.count == 20 })
        #expect(output.all.compactMap(KronosTest.sequence) == Array(0..<20))
        #expect(sink.snapshot().connections == 2)
    }

    @Test func staleSocketIsReplacedButOtherFilesAreNot() throws {
        // A socket file nobody accepts on (a killed listener) is removed and bound again.
        let dead = try KronosTestListener(path: socketPath)
        dead.kill()
        #expect(access(socketPath, F_OK) == 0)
        let (listener, _) = try start(key: nil, raw: true)
        listener.stop()
        // A live listener is not stolen from.
        let live = try KronosTestListener(path: socketPath)
        #expect(throws: KronosSocket.Failure.self) { try start(key: nil, raw: true) }
        live.stop()
        // A regular file is never removed.
        let plain = dir.file("plain")
        FileManager.default.createFile(atPath: plain, contents: Data("keep".utf8))
        #expect(throws: KronosSocket.Failure.self) {
            try KronosListener(
                configuration: .init(socketPath: plain), logger: KronosTest.logger, output: { _ in })
        }
        #expect(FileManager.default.contents(atPath: plain) == Data("keep".utf8))
    }
}
