import Foundation
import Logging
import SensorCore
import SensorIO
import SensorService

/// Measure 7: frames/s through `KronosSink` (encode, optional HMAC, bounded queue, writer thread,
/// Unix stream socket) to a reader thread that drains the socket as fast as it can and counts
/// lines. The producer keeps the queue below its bound (it waits while 60000 of the 65536 slots
/// are taken), so the figure is delivered frames, none dropped.
enum KronosBench {
    final class Reader: @unchecked Sendable {
        let listener: Int32
        private let lock = NSLock()
        private var _lines: UInt64 = 0
        private var _done = false
        var lines: UInt64 { lock.lock(); defer { lock.unlock() }; return _lines }
        var done: Bool { lock.lock(); defer { lock.unlock() }; return _done }

        init(listener: Int32) { self.listener = listener }

        func run() {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var total: UInt64 = 0
            // One connection (the sink's quiet reconnect is off); EOF when the sink finishes.
            let fd = accept(listener, nil, nil)
            if fd >= 0 {
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    buffer.withUnsafeBytes { raw in
                        var p = raw.baseAddress!
                        var left = n
                        while left > 0, let hit = memchr(p, 10, left) {
                            total += 1
                            let used = UnsafeRawPointer(hit) - p + 1
                            p += used
                            left -= used
                        }
                    }
                }
                close(fd)
            }
            lock.lock()
            _lines = total
            _done = true
            lock.unlock()
        }
    }

    static func sampleFrames() -> [FlowFrame] {
        var frames: [FlowFrame] = []
        for i in 0..<1024 {
            let payloadLength = i % 2 == 0 ? 128 : 37
            var payload: [UInt8] = []
            for b in 0..<payloadLength { payload.append(UInt8(truncatingIfNeeded: b &* 7 &+ i)) }
            let first: Int64 = 1_764_072_000_000_000 + Int64(i)
            let duration: Double = 0.004211 * Double(i % 50)
            let bytesOut = UInt64(4096 * (i % 7 + 1))
            let frame = FlowFrame(
                source: IPAddress(ipv4: 198, 51, 100, UInt8(1 + i % 200)),
                destination: IPAddress(ipv4: 203, 0, 113, UInt8(1 + i / 200)),
                sourcePort: UInt16(40000 + i), destinationPort: 443, transport: .tcp,
                bytesIn: UInt64(517 + i), bytesOut: bytesOut, duration: duration,
                payload: payload, packetsIn: 12, packetsOut: 15, firstSeen: first,
                lastSeen: first + 4211, tcpFlags: TCPFlags(letters: "SAFP"),
                endReason: .fin, interface: "eth0", flowID: UInt64(i))
            frames.append(frame)
        }
        return frames
    }

    struct Result {
        var sent: UInt64
        var received: UInt64
        var dropped: UInt64
        var seconds: Double
    }

    static func run(frames total: Int, signed: Bool) throws -> Result {
        let path = "/tmp/dps-bench-\(getpid()).sock"
        unlink(path)
        let listener = try KronosSocket.listen(path: path, backlog: 4)
        defer {
            close(listener)
            unlink(path)
        }
        let reader = Reader(listener: listener)
        let thread = Thread { reader.run() }
        thread.start()
        var logger = Logger(label: "dps-bench")
        logger.logLevel = .error
        let key: KronosKey? = signed ? KronosKey(bytes: Array("dps-bench-key-0123456789abcdef".utf8)) : nil
        // The daemon's own configuration (the declared defaults), but never replacing a quiet
        // connection: the run is short and the listener never closes one.
        var configuration = RunOptions().kronosSink
        configuration.socketPath = path
        configuration.maximumQuietConnection = nil
        let sink = KronosSink(
            configuration: configuration,
            signer: KronosSigner(encoder: FrameEncoder(extended: false), key: key), logger: logger)
        let frames = sampleFrames()
        let start = monotonicSeconds()
        for i in 0..<total {
            sink.write(frames[i & 1023])
            if i & 1023 == 1023 {
                while sink.snapshot().queued > 60_000 { usleep(50) }
            }
        }
        sink.flush()
        sink.finish(timeout: 120)
        while !reader.done { usleep(1000) }
        let seconds = monotonicSeconds() - start
        let counters = sink.snapshot()
        return Result(sent: counters.sent, received: reader.lines, dropped: counters.dropped, seconds: seconds)
    }

    static func measure(frames: Int, signedFrames: Int, rounds: Int, into report: Report) throws {
        for (signed, n) in [(false, frames), (true, signedFrames)] {
            log("kronos: \(n) frames through KronosSink\(signed ? " with HMAC-SHA256" : "")")
            _ = try run(frames: min(n, 20_000), signed: signed)  // warm-up
            let name = signed ? "signed" : "unsigned"
            var rates: [Double] = []
            for _ in 0..<rounds {
                let r = try run(frames: n, signed: signed)
                rates.append(Double(r.received) / r.seconds)
                if r.received != UInt64(n) || r.dropped != 0 {
                    report.note("kronos \(name): \(n) written, \(r.sent) sent, \(r.received) read, \(r.dropped) dropped")
                }
            }
            log("kronos \(name): \(rates.map { String(Int($0)) }.joined(separator: ", ")) frames/s")
            report.add(Figure("kronos.\(name)_frames_per_s", "kronos: frames/s delivered, \(name) (median of \(rounds))",
                              median(rates), "frames/s", atLeast: signed ? 300_000 : 1_000_000))
        }
    }
}
