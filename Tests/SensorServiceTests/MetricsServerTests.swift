import Foundation
import Logging
import Synchronization
import Testing

@testable import SensorService

#if canImport(Glibc)
import Glibc
#endif

/// The metrics endpoint over real loopback sockets: routes, the bounds (request size, timeout,
/// connections), the listen address.
@Suite("Metrics server", .serialized)
struct MetricsServerTests {
    static let body = Array("# HELP dps_test A test.\n# TYPE dps_test counter\ndps_test{if=\"eth0\"} 42\n".utf8)

    @Test("GET and HEAD /metrics, /, 404, 405, 400; every response closes")
    func routes() throws {
        let log = CapturedLog()
        let running = try RunningServer(logger: log.logger)
        defer { running.stop() }
        let address = running.server.boundAddress
        #expect(address.hasPrefix("127.0.0.1:") && !address.hasSuffix(":0"))

        for request in [
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n", "GET /metrics HTTP/1.0\n\n",
            "GET /metrics?name[]=dps_test HTTP/1.1\r\n\r\n",
        ] {
            let response = try #require(try fetch(address, request))
            #expect(response.status == 200)
            #expect(response.body == Self.body)
            #expect(response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
            #expect(response.headers["content-length"] == "\(Self.body.count)")
            #expect(response.headers["connection"] == "close")
        }
        let head = try #require(try fetch(address, "HEAD /metrics HTTP/1.1\r\n\r\n"))
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(head.headers["content-length"] == "\(Self.body.count)")
        let root = try #require(try fetch(address, "GET / HTTP/1.1\r\n\r\n"))
        #expect(root.status == 200 && String(decoding: root.body, as: UTF8.self).contains("/metrics"))

        #expect(try fetch(address, "GET /nope HTTP/1.1\r\n\r\n")?.status == 404)
        #expect(try fetch(address, "GET /metricsx HTTP/1.1\r\n\r\n")?.status == 404)
        let post = try #require(try fetch(address, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"))
        #expect(post.status == 405 && post.headers["allow"] == "GET, HEAD")
        for garbage in [
            "garbage\r\n\r\n", "\r\n\r\n", "GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
            "get /metrics HTTP/1.1\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n",
            "GET /met\u{1}rics HTTP/1.1\r\n\r\n", "\u{16}\u{3}\u{1}\u{0}\u{a5}\n\n",
        ] {
            #expect(try fetch(address, garbage)?.status == 400, "\(garbage.debugDescription)")
        }
        #expect(running.server.counters == MetricsServerCounters(served: 5, refused: 12, dropped: 0))
        #expect(log.entries.filter { $0.level == .debug && $0.message.hasPrefix("metrics request refused") }.count == 12)

        let clock = ContinuousClock()
        #expect(clock.measure { running.stop() } < .seconds(1))
    }

    @Test("a 1 MB request line or header section is refused and closed; the next GET is served")
    func oversizedRequest() throws {
        let running = try RunningServer()
        defer { running.stop() }
        let address = running.server.boundAddress
        let huge = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
        let clock = ContinuousClock()
        for request in [Array("GET /".utf8) + huge, Array("GET /metrics HTTP/1.1\r\nX: ".utf8) + huge] {
            let start = clock.now
            let client = try TestClient(address)
            defer { client.close() }
            _ = client.send(request)  // fails (reset) once the server has closed, or not: both are fine
            // Closed at once (not at the 5 s timeout): the 431 when it arrives before the reset, else nothing.
            let answer = try #require(client.receiveUntilClosed())
            #expect(clock.now - start < .seconds(2))
            #expect(answer.isEmpty || answer.starts(with: Array("HTTP/1.1 431 ".utf8)))
            #expect(try fetch(address, "GET /metrics HTTP/1.1\r\n\r\n")?.status == 200)
        }
        #expect(running.server.counters == MetricsServerCounters(served: 2, refused: 2, dropped: 0))
    }

    @Test("random bytes are answered or closed, never hang or crash the server")
    func randomRequests() throws {
        let running = try RunningServer()
        defer { running.stop() }
        let address = running.server.boundAddress
        var random = Xorshift(seed: 0x5EED)
        for round in 0..<300 {
            var request = (0..<Int(random.next() % 200)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if round % 3 == 0 { request = Array("GET /metrics HTTP/1.1\r\n".utf8) + request }
            if round % 2 == 0 { request += Array("\r\n\r\n".utf8) }
            let client = try TestClient(address)
            defer { client.close() }
            #expect(client.send(request))
            client.shutdownWrite()  // an incomplete request then ends without an answer
            let answer = try #require(client.receiveUntilClosed(), "round \(round) left open")
            if !answer.isEmpty, let response = TestResponse(answer) {
                #expect([200, 400, 404, 405].contains(response.status), "round \(round)")
            } else {
                #expect(answer.isEmpty, "round \(round): not HTTP")
            }
        }
        #expect(try fetch(address, "GET /metrics HTTP/1.1\r\n\r\n")?.body == Self.body)
    }

    @Test("slowloris: a request not complete within requestTimeout is closed; others are served meanwhile")
    func slowClient() throws {
        let running = try RunningServer(limits: .init(requestTimeout: .milliseconds(500)))
        defer { running.stop() }
        let address = running.server.boundAddress
        let clock = ContinuousClock()
        let start = clock.now
        let slow = try TestClient(address)
        defer { slow.close() }
        #expect(slow.send(Array("GET /metr".utf8)))
        #expect(try fetch(address, "GET /metrics HTTP/1.1\r\n\r\n")?.body == Self.body)
        #expect(slow.isOpen)
        #expect(slow.receiveUntilClosed() == [])
        let elapsed = clock.now - start
        #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(3), "closed after \(elapsed)")
        #expect(running.server.counters == MetricsServerCounters(served: 1, refused: 1, dropped: 0))
    }

    @Test("a client that does not read the response is closed after requestTimeout")
    func clientNotReading() throws {
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 16 << 20)  // beyond what socket buffers hold
        let running = try RunningServer(
            limits: .init(requestTimeout: .milliseconds(300), maxResponseBytes: 16 << 20), body: big)
        defer { running.stop() }
        let client = try TestClient(running.server.boundAddress, receiveBuffer: 65536)
        defer { client.close() }
        #expect(client.send(Array("GET /metrics HTTP/1.1\r\n\r\n".utf8)))
        Thread.sleep(forTimeInterval: 1.5)
        let received = try #require(client.receiveUntilClosed())
        #expect(received.count > 0 && received.count < big.count)
        #expect(try fetch(running.server.boundAddress, "GET / HTTP/1.1\r\n\r\n")?.status == 200)
    }

    @Test("a body over maxResponseBytes is a 500, logged")
    func bodyTooLarge() throws {
        let log = CapturedLog()
        let running = try RunningServer(limits: .init(maxResponseBytes: 10), logger: log.logger)
        defer { running.stop() }
        #expect(try fetch(running.server.boundAddress, "GET /metrics HTTP/1.1\r\n\r\n")?.status == 500)
        #expect(log.entries.contains { $0.level == .error && $0.message.contains("over the limit") })
    }

    @Test("1,000 idle connections: at most maxConnections held, the rest dropped and counted, served after the timeout")
    func idleConnections() throws {
        // 1,000 client sockets in this process, plus up to 64 on the server side.
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var limit = rlimit()
        getrlimit(resource, &limit)
        if limit.rlim_cur < 1300 {
            limit.rlim_cur = min(limit.rlim_max, 1300)
            setrlimit(resource, &limit)
            getrlimit(resource, &limit)
        }
        let count = min(1000, Int(min(limit.rlim_cur, 100_000)) - 300)
        if count < 1000 { print("RLIMIT_NOFILE is \(limit.rlim_cur): \(count) idle connections, not 1,000") }
        try #require(count > 100, "RLIMIT_NOFILE \(limit.rlim_cur) is too low for this test")

        let log = CapturedLog()
        // A timeout longer than opening 1,000 connections takes on a loaded machine, so that
        // none of the 64 held ones times out (freeing a slot) before the counts are checked.
        let running = try RunningServer(
            limits: .init(maxConnections: 64, requestTimeout: .seconds(8)), logger: log.logger)
        defer { running.stop() }
        let address = running.server.boundAddress
        var clients: [TestClient] = []
        defer { for client in clients { client.close() } }
        for _ in 0..<count { clients.append(try TestClient(address)) }

        // No slot is reserved: while 64 are held, a scrape is dropped like the rest.
        #expect(eventually { running.server.counters.dropped == UInt64(count - 64) })
        #expect(eventually { clients.filter(\.isOpen).count == 64 })
        let whileFull = try TestClient(address)
        #expect(whileFull.receiveUntilClosed() == [])
        whileFull.close()
        #expect(eventually { running.server.counters.dropped == UInt64(count - 64 + 1) })
        #expect(log.entries.filter { $0.level == .warning }.count == 1)

        // The held ones time out (counted as refused); then a scrape is served.
        #expect(eventually(within: .seconds(15)) { running.server.counters.refused == 64 })
        #expect(try fetch(address, "GET /metrics HTTP/1.1\r\n\r\n")?.body == Self.body)
        #expect(clients.filter(\.isOpen).isEmpty)
    }

    @Test("listen addresses that are not HOST:PORT are .badAddress", arguments: [
        "nonsense", "127.0.0.1", "127.0.0.1:99999", "[::1", "[::1]", "::1:80", "[]:80", ":80", "127.0.0.1:",
        "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:８０", "127.0.0.1:80 ", "127.0.0.1.5:80", "example.com:80",
        "[127.0.0.1]:80", "[fe80::1%lo]:80", "",
    ])
    func badAddress(_ text: String) {
        let error = #expect(throws: MetricsServerError.self) {
            _ = try MetricsServer(listen: text, logger: Logger(label: "test")) { [] }
        }
        #expect(error?.code == .badAddress && error?.errno == 0)
        #expect(error?.description.contains("expected HOST:PORT") == true)
    }

    @Test("a busy port is .bind with EADDRINUSE; localhost is 127.0.0.1")
    func busyPort() throws {
        let first = try MetricsServer(listen: "localhost:0", logger: Logger(label: "test")) { [] }
        #expect(first.boundAddress.hasPrefix("127.0.0.1:"))
        let error = #expect(throws: MetricsServerError.self) {
            _ = try MetricsServer(listen: first.boundAddress, logger: Logger(label: "test")) { [] }
        }
        #expect(error?.code == .bind && error?.errno == EADDRINUSE)
        #expect(error?.description.contains(first.boundAddress) == true)
    }

    @Test("[::1]:0 serves over IPv6", .enabled(if: hasIPv6Loopback, "no IPv6 loopback (::1) in this kernel"))
    func ipv6() throws {
        let running = try RunningServer(listen: "[::1]:0")
        defer { running.stop() }
        #expect(running.server.boundAddress.hasPrefix("[::1]:"))
        #expect(try fetch(running.server.boundAddress, "GET /metrics HTTP/1.1\r\n\r\n")?.body == Self.body)
    }

    static let hasIPv6Loopback: Bool = {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
            }
        }
    }()
}

/// A server running on a thread of its own; `stop()` returns once `run()` has returned.
private final class RunningServer: Sendable {
    let server: MetricsServer
    private let done = DispatchSemaphore(value: 0)

    init(
        listen: String = "127.0.0.1:0", limits: MetricsServer.Limits = .init(),
        body: [UInt8] = MetricsServerTests.body, logger: Logger = Logger(label: "metrics-test")
    ) throws {
        let server = try MetricsServer(listen: listen, limits: limits, logger: logger) { body }
        self.server = server
        let done = done
        Thread {
            server.run()
            done.signal()
        }.start()
    }

    /// Returns at once when already stopped.
    func stop() {
        server.stop()
        done.wait()
        done.signal()
    }
}

/// A blocking TCP client whose sends and receives give up after 5 s.
private struct TestClient {
    let fd: Int32

    /// `receiveBuffer`: SO_RCVBUF, which also stops the kernel growing it.
    init(_ address: String, receiveBuffer: Int32? = nil) throws {
        let (storage, length) = try MetricsServer.socketAddress(address)
        fd = socket(Int32(storage.ss_family), Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var target = storage
        let result = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(fd)
            throw MetricsServerError(.socket, code, "test client: connect \(address)")
        }
    }

    /// False when not everything could be sent (the server closed, or 5 s passed).
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    /// What arrives until the server closes (or resets) the connection; nil when it is still
    /// open after 5 s.
    func receiveUntilClosed() -> [UInt8]? {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                received += chunk[0..<n]
            } else if n == 0 || errno == ECONNRESET {
                return received
            } else if errno != EINTR {
                return nil
            }
        }
    }

    /// Whether the server has neither closed nor reset the connection.
    var isOpen: Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) == 0
    }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    func close() { Glibc.close(fd) }
}

/// Reproducible pseudo-random numbers.
private struct Xorshift {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}

/// A parsed response: status, headers (names in lower case), body.
private struct TestResponse {
    var status: Int
    var headers: [String: String] = [:]
    var body: [UInt8]

    init?(_ bytes: [UInt8]) {
        let separator = Array("\r\n\r\n".utf8)
        guard let end = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) else { return nil }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusLine = lines[0].split(separator: " ")
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else { return nil }
        self.status = status
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[line[..<colon].lowercased()] = value
        }
        body = Array(bytes[(end + separator.count)...])
    }
}

/// Sends `request` on a new connection and reads the response to the server's close.
private func fetch(_ address: String, _ request: String) throws -> TestResponse? {
    let client = try TestClient(address)
    defer { client.close() }
    guard client.send(Array(request.utf8)), let bytes = client.receiveUntilClosed() else { return nil }
    return TestResponse(bytes)
}

/// Whether `condition` holds within `limit`, checked every 10 ms.
private func eventually(within limit: Duration = .seconds(3), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return condition()
}

/// Log entries at every level, for checking what the server logs.
private final class CapturedLog: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
    }

    private let store = Mutex<[Entry]>([])
    var entries: [Entry] { store.withLock { $0 } }

    var logger: Logger {
        var logger = Logger(label: "metrics-test") { _ in Handler(sink: self) }
        logger.logLevel = .trace
        return logger
    }

    struct Handler: LogHandler {
        let sink: CapturedLog
        var logLevel = Logger.Level.trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            sink.store.withLock { $0.append(Entry(level: event.level, message: "\(event.message)")) }
        }
    }
}
