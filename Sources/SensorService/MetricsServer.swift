import Logging
import SensorCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The HTTP endpoint Prometheus scrapes: `GET /metrics` (and `HEAD`) answers with `render()`'s
/// bytes. One thread, one `poll(2)` loop, non-blocking sockets, every response closes its
/// connection. Everything a client can make it hold is bounded (`Limits`): open connections, the
/// bytes of a request, the time to send a request and to take the response.
public final class MetricsServer: @unchecked Sendable {
    public struct Limits: Sendable {
        /// Connections open at once; one more is accepted and closed at once (`counters.dropped`).
        /// No slot is reserved: while all are held, a scrape is dropped too and succeeds once
        /// the holders time out.
        public var maxConnections: Int
        /// Bytes of the request line and headers; beyond them the answer is 431.
        public var maxRequestBytes: Int
        /// From accept to the end of the request's headers; then again to send the response.
        public var requestTimeout: Duration
        /// Bytes of `render()`'s body; a larger body is answered with 500 (and logged).
        public var maxResponseBytes: Int

        /// Values below 1 (64 for `maxRequestBytes`, 1 ms for the timeout) are raised to it.
        public init(
            maxConnections: Int = 64, maxRequestBytes: Int = 8192, requestTimeout: Duration = .seconds(5),
            maxResponseBytes: Int = 1 << 20
        ) {
            self.maxConnections = max(1, maxConnections)
            self.maxRequestBytes = max(64, maxRequestBytes)
            self.requestTimeout = max(.milliseconds(1), requestTimeout)
            self.maxResponseBytes = max(1, maxResponseBytes)
        }
    }

    /// The bound address as `host:port` (`[host]:port` for IPv6), with the port the kernel chose.
    public let boundAddress: String
    public let limits: Limits
    private let logger: Logger
    private let render: @Sendable () -> [UInt8]
    private let listenFD: Int32
    private let state = Mutex(MetricsServerCounters())
    private let started = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    // Confined to the thread in `run()`.
    private var scratch = [UInt8](repeating: 0, count: 4096)
    private var warnedFull = false
    private var acceptFailing = false

    /// Binds and listens now, so a bad or busy address fails here. `listen` is `HOST:PORT`, HOST
    /// an IPv4 address, `[IPv6 address]` or `localhost`; port 0 takes any free port. `render` is
    /// called on the server's thread for each `GET`/`HEAD /metrics`: keep it quick.
    public init(
        listen: String, limits: Limits = Limits(), logger: Logger, render: @escaping @Sendable () -> [UInt8]
    ) throws(MetricsServerError) {
        var (storage, length) = try Self.socketAddress(listen)
        let family = Int32(storage.ss_family)
        let fd = socket(family, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw MetricsServerError(.socket, errno, "metrics server \(listen): socket") }
        func check(_ result: Int32, _ code: MetricsServerError.Code, _ call: String) throws(MetricsServerError) {
            guard result != 0 else { return }
            let number = errno
            close(fd)
            throw MetricsServerError(code, number, "metrics server \(listen): \(call)")
        }
        var one: Int32 = 1
        let size = socklen_t(MemoryLayout<Int32>.size)
        try check(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, size), .socket, "SO_REUSEADDR")
        if family == AF_INET6 {
            try check(setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, size), .socket, "IPV6_V6ONLY")
        }
        try withUnsafeMutablePointer(to: &storage) { pointer throws(MetricsServerError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(MetricsServerError) in
                try check(bind(fd, address, length), .bind, "bind")
                try check(Glibc.listen(fd, SOMAXCONN), .listen, "listen")
                try check(getsockname(fd, address, &length), .socket, "getsockname")
            }
        }
        listenFD = fd
        boundAddress = Self.text(of: storage)
        self.limits = limits
        self.logger = logger
        self.render = render
    }

    deinit {
        if !started.load(ordering: .acquiring) { close(listenFD) }
    }

    public var counters: MetricsServerCounters { state.withLock { $0 } }

    /// Makes `run()` return within about 100 ms, closing every connection and the listening socket.
    public func stop() { stopping.store(true, ordering: .releasing) }

    /// Serves until `stop()`, on the calling thread (it blocks in poll(2)). Runs once per server.
    public func run() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var connections: [Connection] = []
        var fds: [pollfd] = []
        var acceptPausedUntil = ContinuousClock.now
        defer {
            for connection in connections { close(connection.fd) }
            close(listenFD)
        }
        while !stopping.load(ordering: .acquiring) {
            let now = ContinuousClock.now
            for i in connections.indices where connections[i].deadline <= now {
                if connections[i].response.isEmpty { refused(connections[i], "request not complete in time") }
                close(connections[i].fd)
                connections[i].fd = -1
            }
            connections.removeAll { $0.fd < 0 }
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: now >= acceptPausedUntil ? listenFD : -1, events: Int16(POLLIN), revents: 0))
            for c in connections {
                fds.append(pollfd(fd: c.fd, events: Int16(c.response.isEmpty ? POLLIN : POLLOUT), revents: 0))
            }
            let ready = poll(&fds, nfds_t(fds.count), 100)
            guard ready > 0 else { continue }  // timeout, EINTR (poll's other errors cannot happen here)
            for i in connections.indices where fds[i + 1].revents != 0 {
                if connections[i].response.isEmpty { receive(&connections[i]) } else { transmit(&connections[i]) }
            }
            connections.removeAll { $0.fd < 0 }
            if fds[0].revents != 0 && !accept(into: &connections) {
                acceptPausedUntil = .now + .seconds(1)
            }
        }
    }

    private struct Connection {
        var fd: Int32
        var peer: sockaddr_storage
        var deadline: ContinuousClock.Instant
        var request: [UInt8] = []
        /// Set once the request is answered; `sent` bytes of it are written.
        var response: [UInt8] = []
        var sent = 0
    }

    /// Accepts what is waiting; false when out of descriptors or memory (accepting pauses a while).
    private func accept(into connections: inout [Connection]) -> Bool {
        for _ in 0..<64 {
            var peer = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listenFD, $0, &length) }
            }
            if fd < 0 {
                switch errno {
                case EAGAIN, EWOULDBLOCK: return true
                case EINTR, ECONNABORTED, EPROTO: continue
                default:
                    if !acceptFailing {
                        logger.warning("metrics server cannot accept: \(String(cString: strerror(errno)))")
                    }
                    acceptFailing = true
                    return false
                }
            }
            acceptFailing = false
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)  // accept4(2), which sets both at once, is not in Glibc's module
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
            guard connections.count < limits.maxConnections else {
                close(fd)
                state.withLock { $0.dropped += 1 }
                if !warnedFull {
                    warnedFull = true
                    logger.warning(
                        "metrics server: \(limits.maxConnections) connections open, closing new ones at once",
                        metadata: ["peer": "\(Self.text(of: peer))"])
                }
                continue
            }
            connections.append(Connection(fd: fd, peer: peer, deadline: .now + limits.requestTimeout))
        }
        return true
    }

    /// Reads what has come of a request, never more than `maxRequestBytes` in all; answers it
    /// once its headers are complete.
    private func receive(_ c: inout Connection) {
        let room = min(scratch.count, limits.maxRequestBytes - c.request.count)
        let n = scratch.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, room, 0) }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
        guard n > 0 else {  // the client left (or failed) before its request was complete
            close(c.fd)
            c.fd = -1
            return
        }
        let searchFrom = max(0, c.request.count - 2)
        c.request.append(contentsOf: scratch[0..<n])
        let reply: Reply
        if Self.headersComplete(c.request, from: searchFrom) {
            reply = answer(c.request)
        } else if c.request.count >= limits.maxRequestBytes {
            reply = Reply(
                431, "Request Header Fields Too Large", refusal: "request over \(limits.maxRequestBytes) bytes")
        } else {
            return
        }
        if let refusal = reply.refusal { refused(c, refusal) } else { state.withLock { $0.served += 1 } }
        c.request = []
        c.response = reply.bytes
        c.deadline = .now + limits.requestTimeout
    }

    /// Writes what the socket takes of the response; closes the connection once all is sent.
    private func transmit(_ c: inout Connection) {
        let n = c.response.withUnsafeBytes {
            send(c.fd, $0.baseAddress! + c.sent, $0.count - c.sent, Int32(MSG_NOSIGNAL))
        }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
        if n > 0 { c.sent += n }
        if n <= 0 || c.sent == c.response.count {
            close(c.fd)
            c.fd = -1
        }
    }

    private func refused(_ c: Connection, _ reason: String) {
        state.withLock { $0.refused += 1 }
        logger.debug("metrics request refused: \(reason)", metadata: ["peer": "\(Self.text(of: c.peer))"])
    }

    /// A response (status line, headers, body) and, when it is not a success, why.
    struct Reply {
        var bytes: [UInt8]
        var refusal: String?

        init(
            _ status: Int, _ reason: String, refusal: String?, extraHeader: String = "",
            contentType: String = "text/plain; charset=utf-8", body: [UInt8]? = nil, sendBody: Bool = true
        ) {
            let body = body ?? Array("\(status) \(reason)\n".utf8)
            var head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\n"
            head += "Content-Length: \(body.count)\r\nConnection: close\r\n\(extraHeader)\r\n"
            bytes = Array(head.utf8) + (sendBody ? body : [])
            self.refusal = refusal
        }
    }

    /// The answer to a request whose headers are complete; only its request line matters.
    func answer(_ request: [UInt8]) -> Reply {
        var line = request.prefix { $0 != UInt8(ascii: "\n") }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, line.allSatisfy({ (0x20...0x7E).contains($0) }),
            !parts[0].isEmpty, parts[0].allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }),
            parts[1].first == UInt8(ascii: "/"),
            parts[2].elementsEqual("HTTP/1.0".utf8) || parts[2].elementsEqual("HTTP/1.1".utf8)
        else { return Reply(400, "Bad Request", refusal: "malformed request line") }
        let method = String(decoding: parts[0], as: UTF8.self)
        let path = String(decoding: parts[1].prefix { $0 != UInt8(ascii: "?") }, as: UTF8.self)
        let head = method == "HEAD"
        guard path == "/metrics" || path == "/" else {
            let body = Array("404 Not Found: see /metrics\n".utf8)
            return Reply(404, "Not Found", refusal: "no such path", body: body, sendBody: !head)
        }
        guard method == "GET" || head else {
            return Reply(405, "Method Not Allowed", refusal: "method \(method)", extraHeader: "Allow: GET, HEAD\r\n")
        }
        if path == "/" {
            return Reply(200, "OK", refusal: nil, body: Array("dps: metrics at /metrics\n".utf8), sendBody: !head)
        }
        let body = render()
        guard body.count <= limits.maxResponseBytes else {
            logger.error("metrics body of \(body.count) bytes is over the limit of \(limits.maxResponseBytes)")
            return Reply(500, "Internal Server Error", refusal: "metrics body too large", sendBody: !head)
        }
        let type = "text/plain; version=0.0.4; charset=utf-8"
        return Reply(200, "OK", refusal: nil, contentType: type, body: body, sendBody: !head)
    }

    /// Whether the headers end (an empty line, `\r\n` or `\n`) in `bytes` at or after `start`.
    static func headersComplete(_ bytes: [UInt8], from start: Int) -> Bool {
        let newline = UInt8(ascii: "\n")
        for i in start..<bytes.count where bytes[i] == newline {
            if i + 1 < bytes.count && bytes[i + 1] == newline { return true }
            if i + 2 < bytes.count && bytes[i + 1] == UInt8(ascii: "\r") && bytes[i + 2] == newline { return true }
        }
        return false
    }

    /// What is wrong with a listen address (the `metrics_listen` setting's check); nil when usable.
    public static func listenProblem(_ text: String) -> String? {
        do {
            _ = try socketAddress(text)
            return nil
        } catch {
            return error.message
        }
    }

    /// `HOST:PORT` as a socket address; `.badAddress` for anything else.
    static func socketAddress(
        _ text: String
    ) throws(MetricsServerError) -> (storage: sockaddr_storage, length: socklen_t) {
        let bad = MetricsServerError(
            .badAddress, 0,
            "metrics listen address \"\(Echo.escaped(text))\": expected HOST:PORT, HOST an IPv4 address, "
                + "an IPv6 address in brackets or localhost, PORT 0-65535 (e.g. 127.0.0.1:7470, [::1]:7470)")
        guard let colon = text.lastIndex(of: ":") else { throw bad }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard (1...5).contains(portText.count), portText.allSatisfy({ $0.isASCII && $0.isNumber }),
            let port = UInt16(portText)
        else { throw bad }
        var storage = sockaddr_storage()
        if host.hasPrefix("[") && host.hasSuffix("]") && host.count > 2 {
            host = String(host.dropFirst().dropLast())
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else { throw bad }
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: address) { Array($0) }) }
            return (storage, socklen_t(MemoryLayout<sockaddr_in6>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        if host == "localhost" { host = "127.0.0.1" }
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw bad }
        withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: address) { Array($0) }) }
        return (storage, socklen_t(MemoryLayout<sockaddr_in>.size))
    }

    /// `1.2.3.4:80` or `[::1]:80`.
    static func text(of storage: sockaddr_storage) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        func text(_ family: Int32, _ address: UnsafeRawPointer) -> String {
            inet_ntop(family, address, &buffer, socklen_t(buffer.count))
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return withUnsafeBytes(of: storage) { raw in
            if Int32(storage.ss_family) == AF_INET6 {
                var address = raw.load(as: sockaddr_in6.self)
                return "[\(text(AF_INET6, &address.sin6_addr))]:\(UInt16(bigEndian: address.sin6_port))"
            }
            var address = raw.load(as: sockaddr_in.self)
            return "\(text(AF_INET, &address.sin_addr)):\(UInt16(bigEndian: address.sin_port))"
        }
    }
}

/// What a `MetricsServer` has done since it started.
public struct MetricsServerCounters: Sendable, Equatable {
    /// Requests answered with 200 (`/metrics`, `/`).
    public var served: UInt64 = 0
    /// Requests answered with an error (400, 404, 405, 431, 500) or closed for not being complete
    /// within `requestTimeout`.
    public var refused: UInt64 = 0
    /// Connections closed at once because `maxConnections` were open.
    public var dropped: UInt64 = 0

    public init(served: UInt64 = 0, refused: UInt64 = 0, dropped: UInt64 = 0) {
        self.served = served
        self.refused = refused
        self.dropped = dropped
    }
}

/// Why a `MetricsServer` could not start: what failed, `errno` (0 for `.badAddress`), and a message
/// naming the address.
public struct MetricsServerError: Error, CustomStringConvertible, Equatable {
    public enum Code: Sendable, Equatable { case badAddress, socket, bind, listen }
    public var code: Code
    public var errno: Int32
    public var message: String

    public init(_ code: Code, _ errno: Int32, _ message: String) {
        self.code = code
        self.errno = errno
        self.message = message
    }

    public var description: String { errno == 0 ? message : "\(message): \(String(cString: strerror(errno)))" }
}
