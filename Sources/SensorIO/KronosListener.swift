import Foundation
import Logging
import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// A Kronos-compatible listener (`dps listen`): binds the Unix socket, takes one sender at a time,
/// closes a connection after `quietTimeout` seconds without data (as Kronos does), checks each
/// line's signature when it has a key, and hands each good frame to `output`.
public final class KronosListener: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var socketPath: String
        /// With a key, only lines signed with it are accepted.
        public var key: KronosKey?
        /// Seconds without data after which a connection is closed (Kronos: 5).
        public var quietTimeout: Double
        /// Pass the JSON of good lines through unchanged instead of the one-line human form.
        public var raw: Bool

        public init(socketPath: String, key: KronosKey? = nil, quietTimeout: Double = 5, raw: Bool = false) {
            self.socketPath = socketPath
            self.key = key
            self.quietTimeout = quietTimeout
            self.raw = raw
        }
    }

    public struct Counters: Sendable, Equatable, CustomStringConvertible {
        public var connections: UInt64 = 0
        /// Connections closed by the listener after the quiet timeout.
        public var quietCloses: UInt64 = 0
        /// Good frames handed on.
        public var frames: UInt64 = 0
        /// Lines discarded, all reasons (the fields below).
        public var bad: UInt64 { unsigned + badSignature + malformed + overlong + torn }
        /// Lines without a `<hex>:` signature while a key is set.
        public var unsigned: UInt64 = 0
        /// Signed lines whose HMAC does not match the key.
        public var badSignature: UInt64 = 0
        /// Lines that are not a FlowFrame JSON object.
        public var malformed: UInt64 = 0
        /// Lines over 8192 bytes.
        public var overlong: UInt64 = 0
        /// A last line without its newline when a connection ended.
        public var torn: UInt64 = 0
        /// Signed lines accepted without checking (no key given).
        public var signedUnverified: UInt64 = 0

        public var description: String {
            "connections=\(connections) quiet_closes=\(quietCloses) frames=\(frames) bad=\(bad) "
                + "unsigned=\(unsigned) bad_signature=\(badSignature) malformed=\(malformed) "
                + "overlong=\(overlong) torn=\(torn) signed_unverified=\(signedUnverified)"
        }
    }

    public let configuration: Configuration
    private let logger: Logger
    private let output: @Sendable (String) -> Void
    private let lock = NSLock()
    private var state = Counters()
    private var listenFD: Int32 = -1
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private let decoder = JSONDecoder()

    /// Binds the socket now (removing a stale socket file) so a failure shows before `run()`.
    public init(
        configuration: Configuration, logger: Logger, output: @escaping @Sendable (String) -> Void
    ) throws(KronosSocket.Failure) {
        self.configuration = configuration
        self.logger = logger
        self.output = output
        listenFD = try KronosSocket.listen(path: configuration.socketPath)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            let code = errno
            close(listenFD)
            throw KronosSocket.Failure(operation: "pipe for", path: configuration.socketPath, code: code)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
    }

    deinit {
        if listenFD >= 0 { close(listenFD) }
        if wakeRead >= 0 { close(wakeRead) }
        if wakeWrite >= 0 { close(wakeWrite) }
    }

    public var counters: Counters {
        lock.lock()
        defer { lock.unlock() }
        return state
    }

    /// Makes `run()` return (from any thread or a signal handler's task).
    public func stop() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Accepts and reads senders one at a time until `stop()`; then closes and removes the socket.
    public func run() {
        defer {
            close(listenFD)
            listenFD = -1
            unlink(configuration.socketPath)
        }
        while true {
            var fds = [
                pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let n = poll(&fds, 2, -1)
            if n < 0 {
                if errno == EINTR { continue }
                logger.error("poll failed: \(String(cString: strerror(errno)))")
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let connection = accept(listenFD, nil, nil)
            if connection < 0 { continue }
            update { $0.connections += 1 }
            logger.info("sender connected")
            let stopped = serve(connection)
            close(connection)
            if stopped { return }
        }
    }

    /// Reads one connection to its end; true when `stop()` was called meanwhile.
    private func serve(_ connection: Int32) -> Bool {
        var buffer: [UInt8] = []
        var skipping = false  // inside an overlong line, up to its newline
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let quietMs = Int32(max(1, configuration.quietTimeout * 1000))
        while true {
            var fds = [
                pollfd(fd: connection, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, quietMs)
            if ready < 0 {
                if errno == EINTR { continue }
                return false
            }
            if fds[1].revents != 0 { return true }
            if ready == 0 {
                // Shut down before counting: once the count shows, a sender's next write fails
                // (EPIPE) instead of landing in a socket about to close (tests wait on the count).
                shutdown(connection, Int32(SHUT_RDWR))
                update { $0.quietCloses += 1 }
                logger.info("closing a connection quiet for \(configuration.quietTimeout) s")
                if !buffer.isEmpty { update { $0.torn += 1 } }
                return false
            }
            let n = chunk.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                if !buffer.isEmpty && !skipping { update { $0.torn += 1 } }
                logger.info("sender disconnected")
                return false
            }
            var start = 0
            for i in 0..<n where chunk[i] == UInt8(ascii: "\n") {
                if skipping {
                    skipping = false
                } else if buffer.count + (i - start) + 1 > KronosSigner.maximumLineBytes {
                    update { $0.overlong += 1 }
                } else {
                    buffer.append(contentsOf: chunk[start..<i])
                    handle(buffer[...])
                }
                buffer.removeAll(keepingCapacity: true)
                start = i + 1
            }
            if start < n && !skipping {
                buffer.append(contentsOf: chunk[start..<n])
                if buffer.count >= KronosSigner.maximumLineBytes {
                    update { $0.overlong += 1 }
                    buffer.removeAll(keepingCapacity: true)
                    skipping = true
                }
            }
        }
    }

    /// The fields `dps listen` shows; extra keys are allowed.
    struct WireFrame: Decodable {
        var src_ip: String
        var dst_ip: String
        var src_port: UInt16
        var dst_port: UInt16
        var `protocol`: String
        var bytes_in: UInt64
        var bytes_out: UInt64
        var duration: Double
        var payload: String?
        var end_reason: String?
        var label: String?
    }

    /// One line, without its newline.
    func handle(_ line: ArraySlice<UInt8>) {
        let json: ArraySlice<UInt8>
        if let key = configuration.key {
            guard KronosSigner.splitSigned(line) != nil else {
                update { $0.unsigned += 1 }
                return
            }
            guard let verified = KronosSigner.verify(line, key: key) else {
                update { $0.badSignature += 1 }
                return
            }
            json = verified
        } else if let (_, rest) = KronosSigner.splitSigned(line) {
            update { $0.signedUnverified += 1 }
            json = rest
        } else {
            json = line
        }
        guard let frame = try? decoder.decode(WireFrame.self, from: Data(json)) else {
            update { $0.malformed += 1 }
            return
        }
        update { $0.frames += 1 }
        output(configuration.raw ? String(decoding: json, as: UTF8.self) : Self.describe(frame))
    }

    /// `TCP 198.51.100.1:40112 -> 198.51.100.2:80 in=37 out=512 0.004211s "GET / HTTP/1.1.."`
    static func describe(_ frame: WireFrame) -> String {
        func endpoint(_ ip: String, _ port: UInt16) -> String {
            ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        }
        var text = "\(frame.protocol) \(endpoint(frame.src_ip, frame.src_port)) -> "
        text += "\(endpoint(frame.dst_ip, frame.dst_port)) in=\(frame.bytes_in) out=\(frame.bytes_out) "
        text += "\(frame.duration)s"
        if let reason = frame.end_reason { text += " end=\(reason)" }
        if let label = frame.label { text += " label=\(label)" }
        if let payload = frame.payload, let bytes = Base64.decode(payload) {
            let shown = bytes.prefix(40).map { byte -> Character in
                (0x20..<0x7F).contains(byte) && byte != UInt8(ascii: "\"") ? Character(UnicodeScalar(byte)) : "."
            }
            text += " payload=\(bytes.count)B \"\(String(shown))\(bytes.count > 40 ? "..." : "")\""
        }
        return text
    }

    private func update(_ body: (inout Counters) -> Void) {
        lock.lock()
        body(&state)
        lock.unlock()
    }
}
