import Foundation
import SensorCore
import SensorIO
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Two more real readers of the export, beside nfcapd: Wireshark's decoder (`tshark`, on a
/// capture of the datagrams on loopback) and pmacct's collector (`nfacctd` with its print
/// plugin). Both captures together give both templates (iphone.pcap IPv4, http_ipv6.pcap IPv6).
@Suite("IPFIX read by tshark and nfacctd", .serialized)
struct IPFIXDecoderTests {
    static let captures = ["iphone.pcap", "http_ipv6.pcap"]

    /// The frames of both captures, sent over UDP to nfcapd (a listener, so that no datagram
    /// draws an ICMP unreachable); returns them, and the messages sent, once nfcapd has read
    /// every one.
    static func export(to collector: Nfcapd) throws -> (frames: [FlowFrame], messages: Int) {
        let sink = IPFIXTest.sink(.udp, port: collector.port, queueFrames: 32, lossless: true)
        var frames: [FlowFrame] = []
        for capture in captures { frames += try IPFIXTest.export(capture, to: sink) }
        sink.finish(timeout: 10)
        let c = sink.snapshot()
        #expect(c.recordsSent == UInt64(frames.count) && c.lost == 0 && c.sendErrors == 0)
        _ = try collector.flows()  // waits until nfcapd has read them all
        return (frames, Int(c.messagesSent))
    }

    /// Datagrams to or from `port` in the capture file so far (the file is still being written).
    static func captured(_ file: URL, port: UInt16) -> Int {
        let run = try? sh(["/usr/bin/tshark", "-r", file.path, "-Y", "udp.port==\(port)", "-T", "fields", "-e", "frame.number"])
        return run?.out.split(separator: "\n").count ?? 0
    }

    /// One datagram to `port` on loopback (nothing listens there).
    static func probe(_ port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in.loopback(port: port)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, "probe", 5, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    /// tshark captures the datagrams on `lo` and decodes them (`-d udp.port==P,cflow`): no
    /// malformed packet, no expert warning or error (a record before its template would be one),
    /// every record there with the frame's ports, protocol, packets and bytes both ways, and the
    /// payload snapshot of every frame that has one, byte for byte.
    @Test(
        .enabled(if: Privilege.isRoot, "needs root to capture on lo"),
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark"), "apt-get install tshark"),
        .enabled(if: Nfcapd.isInstalled, "apt-get install nfdump"))
    func tsharkDecodesEveryRecord() throws {
        let collector = try Nfcapd()
        let probePort = try freePort(SOCK_DGRAM)
        let file = collector.directory.appending(path: "export.pcapng")
        let tshark = try UnmaskedChild(
            [
                "/usr/bin/tshark", "-i", "lo", "-f", "udp port \(collector.port) or udp port \(probePort)", "-w",
                file.path,
            ],
            output: collector.directory.appending(path: "tshark.log"))
        // The capture is running once a probe datagram is in its file.
        let capturing = IPFIXTest.wait(30) {
            Self.probe(probePort)
            usleep(200_000)
            return Self.captured(file, port: probePort) > 0
        }
        guard capturing else {
            Issue.record("tshark did not start capturing: \(tshark.output)")
            return
        }
        try collector.start()
        let (frames, messages) = try Self.export(to: collector)
        // Every datagram in the file before tshark stops (a loaded machine writes it late).
        let complete = IPFIXTest.wait(20) { Self.captured(file, port: collector.port) >= messages }
        tshark.terminate(timeout: 10)
        #expect(complete, "tshark captured \(Self.captured(file, port: collector.port)) of \(messages) messages")

        let decode = ["/usr/bin/tshark", "-r", file.path, "-d", "udp.port==\(collector.port),cflow"]
        let expert = try sh(decode + ["-q", "-z", "expert,warn"])
        #expect(expert.status == 0, "\(expert.err)")
        #expect(!expert.out.contains("Warns") && !expert.out.contains("Errors"), "\(expert.out)")
        let verbose = try sh(decode + ["-V"], timeout: 60)
        #expect(!verbose.out.contains("Malformed") && !verbose.out.contains("no template"))

        let fields = ["cflow.srcport", "cflow.dstport", "cflow.protocol", "cflow.octets", "cflow.packets"]
        let table = try sh(
            decode + ["-Y", "cflow.srcport", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
                + fields.flatMap { ["-e", $0] } + ["-e", "cflow.section_payload"], timeout: 60)
        #expect(table.status == 0, "\(table.err)")
        var decoded: [String] = []
        var payloads: [String] = []
        for line in table.out.split(separator: "\n") {
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map {
                $0.split(separator: ",").map(String.init)
            }
            guard columns.count == 6 else { continue }
            let (source, destination, proto, octets, packets) =
                (columns[0], columns[1], columns[2], columns[3], columns[4])
            // Octets and packets come twice per record: the initiator's, then the reverse.
            guard destination.count == source.count, proto.count == source.count,
                octets.count == 2 * source.count, packets.count == 2 * source.count
            else {
                Issue.record("columns do not line up: \(line)")
                continue
            }
            for i in source.indices {
                decoded.append(
                    "\(proto[i]) \(source[i])>\(destination[i]) \(packets[2 * i])/\(octets[2 * i]) "
                        + "\(packets[2 * i + 1])/\(octets[2 * i + 1])")
            }
            payloads += columns[5].map { $0.replacingOccurrences(of: ":", with: "") }
        }
        let expected = frames.map {
            "\($0.protocolNumber) \($0.sourcePort)>\($0.destinationPort) \($0.packetsIn)/\($0.bytesIn) "
                + "\($0.packetsOut)/\($0.bytesOut)"
        }
        #expect(decoded.sorted() == expected.sorted())
        let expectedPayloads = frames.compactMap(\.payload).filter { !$0.isEmpty }.map {
            $0.map { String(format: "%02x", $0) }.joined()
        }
        #expect(!expectedPayloads.isEmpty && payloads.sorted() == expectedPayloads.sorted())
        print("IPFIX in tshark: \(decoded.count) records, \(payloads.count) payload sections, no warnings")
    }

    /// pmacct's nfacctd takes the stream: its print plugin lists every flow with the frame's
    /// addresses, ports, protocol, TCP flags and the initiator's packets and bytes (summed by
    /// that key, as the plugin aggregates). It reads no RFC 5103 reverse elements: the
    /// responder's counts are not in its listing.
    @Test(
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/nfacctd"), "apt-get install pmacct"),
        .enabled(if: Nfcapd.isInstalled, "apt-get install nfdump"))
    func nfacctdListsEveryFlow() throws {
        let port = try freePort(SOCK_DGRAM)
        let directory = FileManager.default.temporaryDirectory.appending(path: "dps-nfacctd-\(port)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let listing = directory.appending(path: "flows.csv")
        let configuration = """
            daemonize: false
            nfacctd_ip: 127.0.0.1
            nfacctd_port: \(port)
            plugins: print
            print_output: csv
            print_output_file: \(listing.path)
            print_output_file_append: true
            print_refresh_time: 1
            aggregate: src_host, dst_host, src_port, dst_port, proto, tcpflags

            """
        let configurationFile = directory.appending(path: "nfacctd.conf")
        try configuration.write(to: configurationFile, atomically: true, encoding: .utf8)
        let nfacctd = try UnmaskedChild(
            ["/usr/sbin/nfacctd", "-f", configurationFile.path], output: directory.appending(path: "nfacctd.log"))
        defer {
            // The core process stops its plugin on SIGTERM; the plugin writes what it holds.
            nfacctd.terminate(timeout: 10)
        }
        // Records that reach the core before its plugin is up are not listed: wait for the plugin.
        guard nfacctd.waitFor("waiting for NetFlow/IPFIX data", timeout: 20),
            nfacctd.waitFor("cache entries=", timeout: 20)
        else {
            Issue.record("nfacctd did not start: \(nfacctd.output)")
            return
        }
        usleep(500_000)
        let sink = IPFIXTest.sink(.udp, port: port, queueFrames: 32, lossless: true)
        var frames: [FlowFrame] = []
        for capture in Self.captures { frames += try IPFIXTest.export(capture, to: sink) }
        sink.finish(timeout: 10)
        #expect(sink.snapshot().recordsSent == UInt64(frames.count))

        var expected: [String: (packets: UInt64, bytes: UInt64)] = [:]
        for frame in frames {
            let key =
                "\(frame.source),\(frame.destination),\(frame.sourcePort),\(frame.destinationPort),"
                + "\(frame.tcpFlags.rawValue),\(frame.protocolNumber)"
            expected[key, default: (0, 0)].packets += frame.packetsIn
            expected[key, default: (0, 0)].bytes += frame.bytesIn
        }
        var listed: [String: (packets: UInt64, bytes: UInt64)] = [:]
        let complete = IPFIXTest.wait(15) {
            listed = [:]
            let text = (try? String(contentsOf: listing, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") where !line.hasPrefix("SRC_IP") {
                let c = line.split(separator: ",").map(String.init)
                guard c.count == 8, let packets = UInt64(c[6]), let bytes = UInt64(c[7]) else { continue }
                let key = "\(c[0]),\(c[1]),\(c[2]),\(c[3]),\(c[4]),\(Self.protocolNumber(c[5]))"
                listed[key, default: (0, 0)].packets += packets
                listed[key, default: (0, 0)].bytes += bytes
            }
            return listed.values.reduce(0) { $0 + $1.packets } >= expected.values.reduce(0) { $0 + $1.packets }
        }
        #expect(complete, "nfacctd listed \(listed.count) of \(expected.count) keys: \(nfacctd.output.split(separator: "\n").filter { !$0.contains("Purging") }.joined(separator: "\n"))")
        #expect(listed.count == expected.count)
        for (key, value) in expected {
            #expect(listed[key]?.packets == value.packets && listed[key]?.bytes == value.bytes, "\(key)")
        }
        print("IPFIX in nfacctd: \(frames.count) frames, \(listed.count) listed keys, all equal")
    }

    /// pmacct prints a protocol by its name (getprotobynumber's): back to its number.
    static func protocolNumber(_ text: String) -> String {
        if let number = UInt8(text) { return "\(number)" }
        let known = ["tcp": 6, "udp": 17, "icmp": 1, "igmp": 2, "ipv6-icmp": 58]
        if let number = known[text] { return "\(number)" }
        return getprotobyname(text).map { "\($0.pointee.p_proto)" } ?? text
    }
}
