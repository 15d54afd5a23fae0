#if canImport(Glibc)
import Glibc
#endif

/// The systemd notify protocol, spoken directly: each state change is one datagram of
/// newline-separated `KEY=VALUE` lines sent to the `AF_UNIX` socket named by `$NOTIFY_SOCKET`
/// (a path, or an abstract name when it starts with `@`). Without `$NOTIFY_SOCKET` every send is a
/// no-op, so the daemon behaves the same outside systemd.
///
/// `watchdogInterval` comes from `$WATCHDOG_USEC` (ignored when `$WATCHDOG_PID` names another
/// process); the caller pings with `WATCHDOG=1` at half of it.
public final class SystemdNotifier: Sendable {
    /// `$NOTIFY_SOCKET` as given; nil when absent or unusable.
    public let socketPath: String?
    /// The watchdog timeout systemd set, in seconds; nil when there is none.
    public let watchdogInterval: Double?
    private let fd: Int32
    private let address: [UInt8]

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`.
    public init(environment: [String: String], pid: pid_t = getpid()) {
        watchdogInterval = Self.watchdog(environment: environment, pid: pid)
        guard let path = environment["NOTIFY_SOCKET"], let address = Self.socketAddress(path) else {
            socketPath = nil
            fd = -1
            address = []
            return
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        socketPath = fd >= 0 ? path : nil
        self.fd = fd
        self.address = address
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Whether datagrams go anywhere.
    public var isEnabled: Bool { fd >= 0 }

    /// Sends `state` (one or more `KEY=VALUE` lines) as one datagram. Returns 0 on success (or
    /// when notifications are off), else the errno of the failed send.
    @discardableResult
    public func send(_ state: String) -> Int32 {
        guard fd >= 0 else { return 0 }
        var message = Array(state.utf8)
        let sent = address.withUnsafeBytes { addr in
            message.withUnsafeMutableBytes { bytes in
                sendto(
                    fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL),
                    addr.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(addr.count))
            }
        }
        return sent < 0 ? errno : 0
    }

    /// `READY=1`, with a first `STATUS=`.
    @discardableResult
    public func ready(status: String) -> Int32 { send("READY=1\nSTATUS=\(Self.oneLine(status))") }

    /// `STATUS=`: a one-line text `systemctl status` shows.
    @discardableResult
    public func status(_ text: String) -> Int32 { send("STATUS=\(Self.oneLine(text))") }

    /// `WATCHDOG=1`: the work loop is alive.
    @discardableResult
    public func watchdog() -> Int32 { send("WATCHDOG=1") }

    /// `STOPPING=1`: shutdown has begun.
    @discardableResult
    public func stopping(status: String) -> Int32 { send("STOPPING=1\nSTATUS=\(Self.oneLine(status))") }

    /// `RELOADING=1` before a reload; send `ready(status:)` after it.
    @discardableResult
    public func reloading() -> Int32 { send("RELOADING=1") }

    // MARK: - Environment

    static func oneLine(_ text: String) -> String {
        String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }

    static func watchdog(environment: [String: String], pid: pid_t) -> Double? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], !owner.isEmpty {
            guard let owner = Int32(owner), owner == pid else { return nil }
        }
        return Double(usec) / 1e6
    }

    /// The bytes of a `sockaddr_un` for `path`: an absolute path, or `@name` for the abstract
    /// namespace (a leading NUL, and no terminating one). Nil when it cannot be one.
    public static func socketAddress(_ path: String) -> [UInt8]? {
        let bytes = Array(path.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@") else {
            return nil
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        var address = [UInt8](repeating: 0, count: pathOffset)
        withUnsafeBytes(of: sa_family_t(AF_UNIX)) { family in
            for (i, byte) in family.enumerated() { address[i] = byte }
        }
        if first == UInt8(ascii: "@") {
            guard bytes.count >= 2, bytes.count <= capacity else { return nil }
            address.append(0)
            address.append(contentsOf: bytes.dropFirst())
        } else {
            guard bytes.count < capacity else { return nil }
            address.append(contentsOf: bytes)
            address.append(0)
        }
        return address
    }
}
