import Foundation
import Logging
import SensorCore
import SensorIO

#if canImport(Glibc)
import Glibc
#endif

/// Measure: records/s through `IPFIXSink` (queue, writer thread, RFC 7011 encoding, UDP messages
/// of at most 1400 bytes) to a reader thread that drains a local UDP socket and counts messages.
/// The sink runs lossless (the producer waits for room), so the figure is records sent, none
/// dropped; the reader's count of messages shows whether the kernel dropped any datagram.
enum IPFIXBench {
    final class Reader: @unchecked Sendable {
        let fd: Int32
        private let lock = NSLock()
        private var _messages: UInt64 = 0
        private var _stop = false
        private var _done = false
        var messages: UInt64 { lock.lock(); defer { lock.unlock() }; return _messages }
        var done: Bool { lock.lock(); defer { lock.unlock() }; return _done }
        func stop() { lock.lock(); _stop = true; lock.unlock() }
        private var stopping: Bool { lock.lock(); defer { lock.unlock() }; return _stop }

        init(fd: Int32) { self.fd = fd }

        func run() {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var count: UInt64 = 0
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 {
                    count += 1
                    continue
                }
                if n < 0 && errno == EINTR { continue }
                if stopping { break }  // the socket is empty (a receive timeout) and the sink done
            }
            lock.lock()
            _messages = count
            _done = true
            lock.unlock()
        }
    }

    struct Result {
        var records: UInt64
        var messagesSent: UInt64
        var messagesRead: UInt64
        var seconds: Double
    }

    static func run(frames total: Int) throws -> Result {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var size: Int32 = 64 << 20
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let port = try bindLoopback(fd)
        let reader = Reader(fd: fd)
        let thread = Thread { reader.run() }
        thread.start()
        var logger = Logger(label: "dps-bench")
        logger.logLevel = .error
        var configuration = IPFIXSinkConfiguration(
            destination: IPFIXDestination(transport: .udp, host: "127.0.0.1", port: port))
        configuration.lossless = true
        let sink = IPFIXSink(configuration: configuration, logger: logger)
        let frames = KronosBench.sampleFrames()
        let start = monotonicSeconds()
        for i in 0..<total { sink.write(frames[i & 1023]) }
        sink.flush()
        sink.finish(timeout: 120)
        let seconds = monotonicSeconds() - start
        // The reader drains what is still in the socket, then stops at its next receive timeout.
        reader.stop()
        while !reader.done { usleep(1000) }
        let counters = sink.snapshot()
        return Result(
            records: counters.recordsSent, messagesSent: counters.messagesSent, messagesRead: reader.messages,
            seconds: seconds)
    }

    /// Binds `fd` to a free port on 127.0.0.1; returns the port.
    static func bindLoopback(_ fd: Int32) throws -> UInt16 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw BenchError("bind: \(String(cString: strerror(errno)))") }
        return UInt16(bigEndian: address.sin_port)
    }

    static func measure(frames: Int, rounds: Int, into report: Report) throws {
        log("ipfix: \(frames) frames through IPFIXSink over UDP to a local socket")
        _ = try run(frames: min(frames, 20_000))  // warm-up
        var rates: [Double] = []
        for _ in 0..<rounds {
            let r = try run(frames: frames)
            rates.append(Double(r.records) / r.seconds)
            if r.records != UInt64(frames) || r.messagesRead != r.messagesSent {
                report.note(
                    "ipfix: \(frames) written, \(r.records) records sent in \(r.messagesSent) messages, "
                        + "\(r.messagesRead) messages read")
            }
        }
        log("ipfix: \(rates.map { String(Int($0)) }.joined(separator: ", ")) records/s")
        report.add(
            Figure(
                "ipfix.records_per_s", "ipfix: records/s sent over UDP (median of \(rounds))", median(rates),
                "records/s", atLeast: 1_000_000))
    }
}
