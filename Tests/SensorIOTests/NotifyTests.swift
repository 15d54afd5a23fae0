import Foundation
import Testing

@testable import SensorIO

#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket bound where `$NOTIFY_SOCKET` points: a path, or an abstract name.
final class NotifyReceiver {
    let fd: Int32
    let name: String
    private let path: String?

    /// `abstract`: bind `@name` in the abstract namespace; else a temporary path.
    init(abstract: Bool) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NotifyTestError("socket: \(errno)") }
        let id = UUID().uuidString.prefix(8)
        if abstract {
            name = "@dps-notify-test-\(id)"
            path = nil
        } else {
            path = FileManager.default.temporaryDirectory.appending(path: "dps-notify-\(id).sock").path
            name = path!
        }
        guard let address = SystemdNotifier.socketAddress(name) else { throw NotifyTestError("bad name \(name)") }
        let bound = address.withUnsafeBytes {
            bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
        }
        guard bound == 0 else { throw NotifyTestError("bind \(name): \(errno)") }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(fd)
        if let path { unlink(path) }
    }

    /// The next datagram, or nil after the receive timeout.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}

struct NotifyTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite("systemd notify")
struct NotifyTests {
    @Test("each message is one datagram, to a path and to an abstract socket", arguments: [false, true])
    func datagrams(abstract: Bool) throws {
        let receiver = try NotifyReceiver(abstract: abstract)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": receiver.name])
        #expect(notifier.isEnabled)
        #expect(notifier.ready(status: "capturing on eth0\n: packets=0") == 0)
        #expect(receiver.receive() == "READY=1\nSTATUS=capturing on eth0 : packets=0")
        #expect(notifier.status("packets=12 frames=3") == 0)
        #expect(receiver.receive() == "STATUS=packets=12 frames=3")
        #expect(notifier.watchdog() == 0)
        #expect(receiver.receive() == "WATCHDOG=1")
        #expect(notifier.reloading() == 0)
        #expect(receiver.receive() == "RELOADING=1")
        #expect(notifier.stopping(status: "bye") == 0)
        #expect(receiver.receive() == "STOPPING=1\nSTATUS=bye")
    }

    @Test("a receiver that is gone gives an error, not a crash")
    func receiverGone() throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "dps-notify-none-\(UUID().uuidString.prefix(8)).sock").path
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        #expect(notifier.isEnabled)
        #expect(notifier.watchdog() == ENOENT)
    }

    @Test("without NOTIFY_SOCKET, or with an unusable one, nothing is sent")
    func disabled() {
        for environment in [[:], ["NOTIFY_SOCKET": ""], ["NOTIFY_SOCKET": "relative/path"], ["NOTIFY_SOCKET": "@"],
                            ["NOTIFY_SOCKET": "/" + String(repeating: "x", count: 200)]] {
            let notifier = SystemdNotifier(environment: environment)
            #expect(!notifier.isEnabled)
            #expect(notifier.send("READY=1") == 0)
        }
    }

    @Test("socket addresses: path with a NUL, abstract with a leading NUL and none at the end")
    func addresses() throws {
        let offset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        let path = try #require(SystemdNotifier.socketAddress("/run/systemd/notify"))
        #expect(Array(path[offset...]) == Array("/run/systemd/notify".utf8) + [0])
        #expect(path.withUnsafeBytes { $0.load(as: sa_family_t.self) } == sa_family_t(AF_UNIX))
        let abstract = try #require(SystemdNotifier.socketAddress("@abc"))
        #expect(Array(abstract[offset...]) == [0] + Array("abc".utf8))
        // The longest abstract name fills sun_path (108 bytes) exactly.
        #expect(SystemdNotifier.socketAddress("@" + String(repeating: "a", count: 107))?.count == offset + 108)
        #expect(SystemdNotifier.socketAddress("@" + String(repeating: "a", count: 108)) == nil)
        #expect(SystemdNotifier.socketAddress("/" + String(repeating: "a", count: 106))?.count == offset + 108)
        #expect(SystemdNotifier.socketAddress("/" + String(repeating: "a", count: 107)) == nil)
    }

    @Test("the watchdog interval: WATCHDOG_USEC, for this process only")
    func watchdog() {
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000"]).watchdogInterval == 30)
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "500000", "WATCHDOG_PID": "\(getpid())"]).watchdogInterval == 0.5)
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "500000", "WATCHDOG_PID": "1"], pid: 4242).watchdogInterval == nil)
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "0"]).watchdogInterval == nil)
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "soon"]).watchdogInterval == nil)
        #expect(SystemdNotifier(environment: [:]).watchdogInterval == nil)
    }
}
