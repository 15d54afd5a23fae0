import Foundation
import Logging
import SensorCore
import SensorIO
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Debian's `nfcapd` on loopback, storing what it receives in a temporary directory; `nfdump`
/// reads it back. Stopped (SIGTERM, which makes it write its file) and its directory removed at
/// the latest when released.
final class Nfcapd {
    static let binary = "/usr/bin/nfcapd"
    static let reader = "/usr/bin/nfdump"
    static var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: binary) && FileManager.default.isExecutableFile(atPath: reader)
    }

    let port: UInt16
    let directory: URL
    private var process: UnmaskedChild?
    /// What nfcapd wrote (it logs to stderr), kept after it stopped.
    private(set) var log = ""

    /// Picks a free UDP port unless given one; `start()` runs the collector.
    init(port: UInt16? = nil) throws {
        self.port = try port ?? freePort(SOCK_DGRAM)
        directory = FileManager.default.temporaryDirectory.appending(path: "dps-nfcapd-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts nfcapd (a 4 MiB receive buffer, so that a burst of messages is not dropped by the
    /// kernel) and waits until it has bound its socket.
    @discardableResult
    func start() throws -> Self {
        let child = try UnmaskedChild(
            [Self.binary, "-b", "127.0.0.1", "-p", "\(port)", "-w", directory.path, "-B", "4194304"],
            output: directory.appending(path: "nfcapd.log"))
        process = child
        guard child.waitFor("Startup nfcapd", timeout: 10) else {
            stop()
            throw IOError("nfcapd did not start: \(log)")
        }
        return self
    }

    /// Stops nfcapd: SIGTERM makes it write the flows it holds to its file.
    func stop() {
        guard let child = process else { return }
        process = nil
        child.terminate(timeout: 10)
        log = child.output
    }

    /// Bytes waiting in nfcapd's socket (`rx_queue` in /proc/net/udp); nil when not found.
    var unread: Int? {
        let local = String(format: "0100007F:%04X", port)
        let table = (try? String(contentsOfFile: "/proc/net/udp", encoding: .utf8)) ?? ""
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4, fields[1] == local else { continue }
            return fields[4].split(separator: ":").last.flatMap { Int($0, radix: 16) }
        }
        return nil
    }

    /// Stops nfcapd once it has read every datagram the sink sent (a datagram the kernel took is
    /// not yet one nfcapd has read), and reads every flow it stored.
    func flows() throws -> [CollectedFlow] {
        let deadline = Date().addingTimeInterval(10)
        while (unread ?? 0) > 0 && Date() < deadline { usleep(10_000) }
        usleep(200_000)  // the last one read is processed before nfcapd takes the signal
        stop()
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasPrefix("nfcapd.") && !$0.contains("current") && !$0.hasSuffix(".log") }.sorted()
        var flows: [CollectedFlow] = []
        for file in files {
            let run = try sh([Self.reader, "-r", directory.appending(path: file).path, "-o", "raw"])
            guard run.status == 0 else { throw IOError("nfdump -r \(file): \(run.err)") }
            flows += try CollectedFlow.parseRaw(run.out)
        }
        return flows
    }
}

/// A child process started with no signal blocked. The test runner's threads block SIGTERM, and
/// a child started by `Process` inherits that mask, so it would never see the SIGTERM that makes
/// nfcapd write its file. Output (stdout and stderr) goes to a file.
final class UnmaskedChild {
    let pid: pid_t
    let outputURL: URL
    private var reaped = false

    init(_ arguments: [String], output: URL) throws {
        outputURL = output
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, arguments[0], &actions, &attributes, argv, environ)
        guard status == 0 else { throw IOError("posix_spawn \(arguments[0])", errno: status) }
        pid = child
    }

    deinit { terminate(timeout: 0) }

    var output: String { (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "" }

    /// Waits until the output contains `text`; false on timeout or exit.
    func waitFor(_ text: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if output.contains(text) { return true }
            if hasExited() { return output.contains(text) }
            usleep(20_000)
        }
        return false
    }

    /// SIGTERM, then SIGKILL after `timeout` seconds; reaps the child.
    func terminate(timeout: Double) {
        guard !hasExited() else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if hasExited() { return }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        while !hasExited() { usleep(10_000) }
    }

    private func hasExited() -> Bool {
        guard !reaped else { return true }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid || (result < 0 && errno == ECHILD) { reaped = true }
        return reaped
    }
}

/// A flow as nfdump shows it (`-o raw`), or as a frame should appear there. nfdump shows an ICMP
/// flow's destination port as type.code and not its source port: `sourcePort` is nil for those.
struct CollectedFlow: Hashable, Comparable, CustomStringConvertible {
    var protocolNumber: UInt8
    var source: IPAddress
    var destination: IPAddress
    var sourcePort: UInt16?
    var destinationPort: UInt16
    /// Milliseconds since the epoch.
    var first: Int64
    var last: Int64
    var packetsIn: UInt64
    var bytesIn: UInt64
    var packetsOut: UInt64
    var bytesOut: UInt64
    var endReason: UInt8
    var tcpFlags: UInt8
    var biflowDirection: UInt8

    static func isICMP(_ number: UInt8) -> Bool { number == 1 || number == 58 }

    init(_ frame: FlowFrame) {
        protocolNumber = frame.protocolNumber
        source = frame.source
        destination = frame.destination
        sourcePort = Self.isICMP(frame.protocolNumber) ? nil : frame.sourcePort
        destinationPort = frame.destinationPort
        first = frame.firstSeen / 1000
        last = frame.lastSeen / 1000
        packetsIn = frame.packetsIn
        bytesIn = frame.bytesIn
        packetsOut = frame.packetsOut
        bytesOut = frame.bytesOut
        endReason = IPFIXTemplate.flowEndReason(frame.endReason)
        tcpFlags = frame.tcpFlags.rawValue
        biflowDirection = 1
    }

    init(raw fields: [String: String]) throws {
        func value(_ key: String) throws -> String {
            guard let text = fields[key] else { throw IOError("nfdump record without \"\(key)\": \(fields)") }
            return text
        }
        func number<T: FixedWidthInteger>(_ key: String) throws -> T {
            let text = try value(key)
            let parsed = text.hasPrefix("0x") ? T(text.dropFirst(2), radix: 16) : T(text)
            guard let parsed else { throw IOError("nfdump \"\(key)\" = \"\(text)\"") }
            return parsed
        }
        func address(_ key: String) throws -> IPAddress {
            guard let parsed = IPAddress(try value(key)) else { throw IOError("nfdump \"\(key)\" = \(fields[key]!)") }
            return parsed
        }
        protocolNumber = try number("proto")
        source = try address("src addr")
        destination = try address("dst addr")
        if let icmp = fields["ICMP"] {
            let parts = icmp.split(separator: ".").compactMap { UInt16($0) }
            guard parts.count == 2 else { throw IOError("nfdump ICMP = \(icmp)") }
            sourcePort = nil
            destinationPort = parts[0] << 8 | parts[1]
        } else {
            sourcePort = try number("src port")
            destinationPort = try number("dst port")
        }
        first = try number("first")
        last = try number("last")
        packetsIn = try number("in packets")
        bytesIn = try number("in bytes")
        packetsOut = try number("out packets")
        bytesOut = try number("out bytes")
        endReason = try number("end reason")
        tcpFlags = try number("tcp flags")
        biflowDirection = try number("biFlow Dir")
    }

    /// The records of `nfdump -o raw`: a "Flow Record:" line, then `  key = value [comment]`.
    static func parseRaw(_ text: String) throws -> [CollectedFlow] {
        var flows: [CollectedFlow] = []
        var fields: [String: String]?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("Flow Record") {
                if let fields { flows.append(try CollectedFlow(raw: fields)) }
                fields = [:]
                continue
            }
            guard fields != nil, line.hasPrefix("  "), let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].split(separator: " ").first.map(String.init) ?? ""
            fields?[key] = value
        }
        if let fields { flows.append(try CollectedFlow(raw: fields)) }
        return flows
    }

    var description: String {
        let ports = "\(sourcePort.map(String.init) ?? "-") -> \(destinationPort)"
        return "proto \(protocolNumber) \(source) -> \(destination) \(ports) ms \(first)-\(last) "
            + "in \(packetsIn)p/\(bytesIn)B out \(packetsOut)p/\(bytesOut)B end \(endReason) flags \(tcpFlags) "
            + "bfd \(biflowDirection)"
    }

    static func < (l: CollectedFlow, r: CollectedFlow) -> Bool { l.description < r.description }
}

/// What two lists of flows do not share, for a failure message (multisets: a flow twice counts twice).
func flowDifference(expected: [CollectedFlow], collected: [CollectedFlow]) -> String {
    var counts: [CollectedFlow: Int] = [:]
    for flow in expected { counts[flow, default: 0] += 1 }
    for flow in collected { counts[flow, default: 0] -= 1 }
    let missing = counts.filter { $0.value > 0 }.keys.sorted().prefix(10).map { "  missing \($0)" }
    let extra = counts.filter { $0.value < 0 }.keys.sorted().prefix(10).map { "  extra   \($0)" }
    return "expected \(expected.count), collected \(collected.count)\n" + (missing + extra).joined(separator: "\n")
}

/// A port free on 127.0.0.1 for `type` (SOCK_DGRAM or SOCK_STREAM), found by binding port 0.
func freePort(_ type: __socket_type) throws -> UInt16 {
    let fd = socket(AF_INET, Int32(type.rawValue), 0)
    guard fd >= 0 else { throw IOError("socket", errno: errno) }
    defer { close(fd) }
    var address = sockaddr_in.loopback(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw IOError("bind 127.0.0.1:0", errno: errno) }
    return UInt16(bigEndian: address.sin_port)
}

extension sockaddr_in {
    static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}

/// A TCP collector stand-in: accepts the exporter's connections on loopback, reads the stream
/// message by message (a header, then the rest of its length), checks each is whole, and relays it
/// as one UDP datagram to nfcapd, which has no TCP listener in Debian 12's nfdump 1.7.1. It can
/// close the first connection after some messages, dropping whatever else the exporter had
/// written, to make it reconnect.
final class IPFIXTCPRelay: @unchecked Sendable {
    /// One message as read: its header, the ids of its sets and its data records.
    struct Message {
        var header: IPFIXMessage.Header
        var setIDs: [Int]
        var records: Int
    }

    let port: UInt16
    private let listener: Int32
    private let udp: Int32
    private let closeFirstAfter: Int?
    private let lock = NSLock()
    private var connectionsRead: [[Message]] = []
    private var problemsFound: [String] = []
    private var stopping = false
    private let done = DispatchSemaphore(value: 0)

    init(collectorPort: UInt16, closeFirstConnectionAfter messages: Int? = nil) throws {
        closeFirstAfter = messages
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.listener = listener
        self.udp = udp
        var address = sockaddr_in.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        var collector = sockaddr_in.loopback(port: collectorPort)
        let ready = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 4) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        let connected = withUnsafePointer(to: &collector) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(udp, $0, length) == 0 }
        }
        guard ready, connected else {
            close(listener)
            close(udp)
            throw IOError("relay sockets", errno: errno)
        }
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in
            serve()
            done.signal()
        }
        thread.start()
    }

    /// The messages of each connection, in order.
    var connections: [[Message]] {
        lock.lock()
        defer { lock.unlock() }
        return connectionsRead
    }

    /// Torn messages, wrong versions, bad set lengths.
    var problems: [String] {
        lock.lock()
        defer { lock.unlock() }
        return problemsFound
    }

    func stop() {
        lock.lock()
        let already = stopping
        stopping = true
        lock.unlock()
        guard !already else { return }
        done.wait()
        close(listener)
        close(udp)
    }

    deinit { stop() }

    private var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    private func serve() {
        while !isStopping {
            var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            lock.lock()
            connectionsRead.append([])
            let index = connectionsRead.count - 1
            lock.unlock()
            read(fd, connection: index)
            close(fd)
        }
    }

    /// Reads messages until EOF, stop, or the first connection's message limit.
    private func read(_ fd: Int32, connection index: Int) {
        while true {
            if index == 0, let limit = closeFirstAfter, connections[0].count >= limit { return }
            var header = [UInt8](repeating: 0, count: IPFIXMessage.headerBytes)
            guard let got = readFully(fd, &header, from: 0) else { return }
            if got == 0 { return }  // EOF between messages
            guard got == header.count, let parsed = IPFIXMessage.Header(header), parsed.version == 10,
                Int(parsed.length) >= IPFIXMessage.headerBytes
            else {
                problem("connection \(index): a torn or bad header (\(got) bytes)")
                return
            }
            var message = header + [UInt8](repeating: 0, count: Int(parsed.length) - header.count)
            guard readFully(fd, &message, from: header.count) == message.count else {
                problem("connection \(index): a message cut short")
                return
            }
            guard let sets = Self.sets(message) else {
                problem("connection \(index): set lengths do not add up to the message length")
                return
            }
            _ = message.withUnsafeBytes { send(udp, $0.baseAddress, $0.count, 0) }
            lock.lock()
            connectionsRead[index].append(Message(header: parsed, setIDs: sets.ids, records: sets.records))
            lock.unlock()
        }
    }

    /// Fills `buffer` from `offset`; the bytes read in all (less at EOF), nil on stop or error.
    private func readFully(_ fd: Int32, _ buffer: inout [UInt8], from offset: Int) -> Int? {
        var filled = offset
        while filled < buffer.count {
            if isStopping { return nil }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, $0.count - filled, 0) }
            if n < 0 { return errno == EINTR ? filled : nil }
            if n == 0 { return filled }
            filled += n
        }
        return filled
    }

    private func problem(_ text: String) {
        lock.lock()
        problemsFound.append(text)
        lock.unlock()
    }

    /// The set ids of a message and its data records, walked with the templates' record layout:
    /// the fixed part, then two variable-length values. Nil when the lengths do not add up.
    static func sets(_ message: [UInt8]) -> (ids: [Int], records: Int)? {
        func be16(_ at: Int) -> Int { Int(message[at]) << 8 | Int(message[at + 1]) }
        var ids: [Int] = []
        var records = 0
        var offset = IPFIXMessage.headerBytes
        while offset < message.count {
            guard offset + 4 <= message.count else { return nil }
            let id = be16(offset)
            let length = be16(offset + 2)
            guard length >= 4, offset + length <= message.count else { return nil }
            ids.append(id)
            if let template = IPFIXTemplate.allCases.first(where: { Int($0.id) == id }) {
                var at = offset + 4
                while at < offset + length {
                    at += template.fixedRecordBytes
                    for _ in 0..<2 {
                        guard at < offset + length else { return nil }
                        if message[at] < 255 {
                            at += 1 + Int(message[at])
                        } else {
                            guard at + 3 <= offset + length else { return nil }
                            at += 3 + be16(at + 1)
                        }
                    }
                    guard at <= offset + length else { return nil }
                    records += 1
                }
            }
            offset += length
        }
        return (ids, records)
    }
}

enum IPFIXTest {
    static let logger = Logger(label: "ipfix-test")

    /// A sink for `port` on loopback.
    static func sink(
        _ transport: IPFIXDestination.Transport, port: UInt16, queueFrames: Int = 65_536, lossless: Bool = false,
        refreshSeconds: Double = 60, refreshMessages: Int = 100, observationDomain: UInt32 = 7
    ) -> IPFIXSink {
        var configuration = IPFIXSinkConfiguration(
            destination: IPFIXDestination(transport: transport, host: "127.0.0.1", port: port))
        configuration.observationDomain = observationDomain
        configuration.queueFrames = queueFrames
        configuration.lossless = lossless
        configuration.templateRefreshSeconds = refreshSeconds
        configuration.templateRefreshMessages = refreshMessages
        return IPFIXSink(configuration: configuration, logger: logger)
    }

    /// Feeds a capture through PcapSource and FlowTable (timeouts so long that every flow ends
    /// at the drain, as in the nDPI test) into `sink`; returns the frames it was given.
    static func export(_ capture: String, to sink: FrameSink) throws -> [FlowFrame] {
        let never: Int64 = 1_000_000_000_000_000_000
        var frames: [FlowFrame] = []
        let table = FlowTable(
            configuration: FlowTableConfiguration.testing(idleTimeout: never, activeTimeout: never, closeLinger: never)
        ) { frame in
            frames.append(frame)
            sink.write(frame)
        }
        let source = try PcapSource(path: SharedCaptures.path(capture))
        try source.forEachPacket { event, snapshot in table.ingest(event, snapshot: snapshot) }
        table.drain()
        sink.flush()
        return frames
    }

    /// Polls `condition` every 10 ms until it holds or `timeout` seconds pass.
    static func wait(_ timeout: Double, until condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }
}
