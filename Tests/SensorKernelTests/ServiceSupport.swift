import Foundation
import SensorIO
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket bound at a temporary path, standing in for systemd's `$NOTIFY_SOCKET`: a
/// background thread collects every datagram with the time it arrived. (A path, not an abstract
/// name: abstract sockets belong to a network namespace, and `dps` runs in another one.)
final class NotifyListener: @unchecked Sendable {
    struct Message: Sendable {
        var text: String
        var at: Date
    }

    let path: String
    private let fd: Int32
    private let received = Mutex<[Message]>([])
    private let stop = Atomic<Bool>(false)
    private var thread: Thread?

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appending(path: "dps-notify-\(UUID().uuidString.prefix(8)).sock").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket: errno \(errno)") }
        guard let address = SystemdNotifier.socketAddress(path) else { throw TestSetupError("bad path \(path)") }
        let bound = address.withUnsafeBytes {
            bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
        }
        guard bound == 0 else { throw TestSetupError("bind \(path): errno \(errno)") }
        chmod(path, 0o666)  // dps may run as nobody
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 8192)
            while !stop.load(ordering: .relaxed) {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 {
                    let message = Message(text: String(decoding: buffer[0..<n], as: UTF8.self), at: Date())
                    received.withLock { $0.append(message) }
                }
            }
        }
        self.thread = thread
        thread.start()
    }

    deinit { close() }

    func close() {
        guard !stop.exchange(true, ordering: .relaxed) else { return }
        usleep(200_000)  // the thread sees `stop` within one receive timeout
        Glibc.close(fd)
        unlink(path)
    }

    var messages: [Message] { received.withLock { $0 } }

    /// Waits until a datagram satisfies `predicate`; returns it, or nil on timeout.
    func waitFor(timeout: Double = 10, _ predicate: (String) -> Bool) -> Message? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let found = messages.first(where: { predicate($0.text) }) { return found }
            usleep(20_000)
        }
        return nil
    }
}

/// `key=value` pairs of a STATUS= or log line (values without spaces).
func counters(in text: String) -> [String: Int] {
    var result: [String: Int] = [:]
    for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
        let parts = word.split(separator: "=", maxSplits: 1)
        if parts.count == 2, let value = Int(parts[1]) { result[String(parts[0])] = value }
    }
    return result
}
