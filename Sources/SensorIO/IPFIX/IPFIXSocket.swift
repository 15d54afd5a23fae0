#if canImport(Glibc)
import Glibc
#endif

/// The exporter's socket: a non-blocking UDP socket connected to the collector (so that `send`
/// needs no address, and an ICMP port unreachable comes back as ECONNREFUSED), or a non-blocking
/// TCP connection.
enum IPFIXSocket {
    /// Resolves `destination` and connects to its first address that takes the connection.
    /// A TCP connect not done within `timeout` seconds fails (ETIMEDOUT).
    static func connect(_ destination: IPFIXDestination, timeout: Double) throws(IOError) -> Int32 {
        let socketType = destination.transport == .udp ? SOCK_DGRAM : SOCK_STREAM
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(socketType.rawValue)
        hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(destination.host, String(destination.port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = status == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(status))
            throw IOError("resolve \(destination.host): \(reason)")
        }
        defer { freeaddrinfo(list) }
        var failure = IOError("connect \(destination): no address")
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry?.pointee {
            entry = info.ai_next
            let type = info.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
            let fd = socket(info.ai_family, type, info.ai_protocol)
            guard fd >= 0 else {
                failure = IOError("socket for \(destination)", errno: errno)
                continue
            }
            if Glibc.connect(fd, info.ai_addr, info.ai_addrlen) == 0 { return fd }
            var code = errno
            if code == EINPROGRESS {
                code = finishConnect(fd, timeout: timeout)
                if code == 0 { return fd }
            }
            close(fd)
            failure = IOError("connect \(destination)", errno: code)
        }
        throw failure
    }

    /// Waits for a non-blocking connect; its errno, 0 when connected.
    private static func finishConnect(_ fd: Int32, timeout: Double) -> Int32 {
        let deadline = KronosSocket.now() + Int64(max(0, min(timeout, 1e6)) * 1e9)
        while true {
            let left = deadline - KronosSocket.now()
            guard left > 0 else { return ETIMEDOUT }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(left / 1_000_000 + 1, 1000)))
            if ready < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if ready == 0 { continue }
            var code: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { return errno }
            return code
        }
    }
}
