import Foundation
import SensorCore
import SensorIO
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The IPFIX sink against a real collector: Debian's nfcapd on loopback stores what `dps` sends,
/// and nfdump's reading of it is the judge, flow by flow.
@Suite(
    "IPFIX to nfcapd", .serialized,
    .enabled(if: Nfcapd.isInstalled, "needs /usr/bin/nfcapd and /usr/bin/nfdump: apt-get install nfdump"))
struct IPFIXCollectorTests {
    /// Every flow of a capture, over UDP, exactly as `dps` made it: addresses, ports, protocol,
    /// packets and bytes each way, first/last ms, end reason, TCP flags. A queue of 32 in lossless
    /// mode makes the capture wait for the writer.
    @Test(arguments: ["iphone.pcap", "http_ipv6.pcap", "gnutella.pcap"])
    func everyFlowOfACaptureArrivesExactly(_ capture: String) throws {
        let collector = try Nfcapd().start()
        let sink = IPFIXTest.sink(.udp, port: collector.port, queueFrames: 32, lossless: true)
        let frames = try IPFIXTest.export(capture, to: sink)
        sink.finish(timeout: 10)
        let c = sink.snapshot()
        #expect(c.produced == UInt64(frames.count) && c.recordsSent == c.produced)
        #expect(c.dropped == 0 && c.lost == 0 && c.sendErrors == 0 && c.undelivered == 0)
        #expect(c.templatesSent == 1 + (c.messagesSent - 1) / 100)
        let collected = try collector.flows().sorted()
        let expected = frames.map(CollectedFlow.init).sorted()
        #expect(collected == expected, "\(capture): \(flowDifference(expected: expected, collected: collected))")
        // nfcapd checks the sequence numbers: none missing, none repeated.
        #expect(collector.log.contains("Flows: \(frames.count),"), "\(collector.log)")
        #expect(collector.log.contains("Sequence Errors: 0,"), "\(collector.log)")
        print("IPFIX \(capture): \(frames.count) flows in \(c.messagesSent) messages, all exact in nfdump")
    }

    /// The same over TCP: each message read whole from the stream by a relay and passed to nfcapd
    /// as one datagram (Debian 12's nfcapd has no TCP listener).
    @Test func tcpExportRelayedToNfcapdArrivesExactly() throws {
        let collector = try Nfcapd().start()
        let relay = try IPFIXTCPRelay(collectorPort: collector.port)
        defer { relay.stop() }
        let sink = IPFIXTest.sink(.tcp, port: relay.port, lossless: true)
        let frames = try IPFIXTest.export("iphone.pcap", to: sink) + IPFIXTest.export("http_ipv6.pcap", to: sink)
        sink.finish(timeout: 10)
        let c = sink.snapshot()
        #expect(c.recordsSent == UInt64(frames.count) && c.connections == 1 && c.reconnects == 0)
        #expect(IPFIXTest.wait(5) { relay.connections.first?.reduce(0) { $0 + $1.records } == frames.count })
        relay.stop()
        #expect(relay.problems.isEmpty, "\(relay.problems)")
        let messages = try #require(relay.connections.first)
        #expect(messages.first?.header.sequenceNumber == 0 && messages.first?.setIDs.first == 2)
        #expect(messages.dropFirst().allSatisfy { !$0.setIDs.contains(2) }, "TCP sends its templates once")
        var before = 0
        for message in messages {
            #expect(message.header.sequenceNumber == UInt32(before) && message.header.observationDomain == 7)
            before += message.records
        }
        let collected = try collector.flows().sorted()
        let expected = frames.map(CollectedFlow.init).sorted()
        #expect(collected == expected, "\(flowDifference(expected: expected, collected: collected))")
    }

    /// A TCP collector that drops the connection: the sink reconnects, the new connection starts
    /// with the templates and sequence number 0, and nothing arrives torn. What the kernel had
    /// taken for the broken connection is lost (TCP cannot tell); every record that reached the
    /// collector is a frame, exact.
    @Test func tcpReconnectSendsTheTemplatesAgain() throws {
        let collector = try Nfcapd().start()
        let relay = try IPFIXTCPRelay(collectorPort: collector.port, closeFirstConnectionAfter: 3)
        defer { relay.stop() }
        let sink = IPFIXTest.sink(.tcp, port: relay.port)
        let frames = (0..<40).map { IPFIXEncodingTests.frame($0) }
        for frame in frames {  // one message each
            let sent = sink.snapshot().recordsSent
            sink.write(frame)
            sink.flush()
            #expect(IPFIXTest.wait(2) { sink.snapshot().recordsSent > sent || sink.snapshot().undelivered > 0 })
            usleep(20_000)  // time for the relay to close and the RST to come back
        }
        sink.finish(timeout: 5)
        let c = sink.snapshot()
        #expect(c.reconnects == 1 && c.connections == 2 && c.sendErrors >= 1)
        #expect(c.produced == c.recordsSent + c.dropped + c.lost + c.undelivered)
        #expect(IPFIXTest.wait(5) { relay.connections.count == 2 })
        let received = relay.connections.map { $0.reduce(0) { $0 + $1.records } }
        relay.stop()
        #expect(relay.problems.isEmpty, "\(relay.problems)")
        let second = try #require(relay.connections.last)
        #expect(second.first?.header.sequenceNumber == 0 && second.first?.setIDs.first == 2)
        #expect(received[0] == 3 && received[1] >= 35, "\(received)")
        let collected = try collector.flows()
        let expected = Set(frames.map(CollectedFlow.init))
        #expect(collected.count == received.reduce(0, +))
        #expect(collected.allSatisfy { expected.contains($0) })
        #expect(Set(collected).count == collected.count)
    }

    /// A collector that starts after `dps`: the messages it gets before the template refresh are
    /// not decodable, and everything from the refresh on is. By time here…
    @Test func aLateCollectorDecodesFromTheNextTimedRefresh() throws {
        let collector = try Nfcapd()
        let sink = IPFIXTest.sink(.udp, port: collector.port, refreshSeconds: 2, refreshMessages: 1000)
        let start = Date()
        let frames = (0..<15).map { IPFIXEncodingTests.frame($0) }
        send(frames[0..<5], sink)  // templates and data into the void
        try collector.start()
        send(frames[5..<10], sink)  // before the refresh: no templates
        #expect(Date().timeIntervalSince(start) < 1.8, "too slow to test: the refresh came")
        usleep(UInt32(max(0, 2.3 - Date().timeIntervalSince(start)) * 1e6))
        send(frames[10..<15], sink)  // the refresh: templates, then data
        sink.finish(timeout: 5)
        let c = sink.snapshot()
        #expect(c.templatesSent == 2 && c.messagesSent == 3)
        let collected = try collector.flows().sorted()
        let expected = frames[10..<15].map(CollectedFlow.init).sorted()
        #expect(collected == expected, "\(flowDifference(expected: expected, collected: collected))")
    }

    /// … and by count of messages.
    @Test func aLateCollectorDecodesFromTheNextCountedRefresh() throws {
        let collector = try Nfcapd()
        let sink = IPFIXTest.sink(.udp, port: collector.port, refreshSeconds: 3600, refreshMessages: 4)
        let frames = (0..<10).map { IPFIXEncodingTests.frame($0) }
        send(frames[0..<1], sink)  // message 1, with the templates, into the void
        try collector.start()
        for i in 1..<10 { send(frames[i..<(i + 1)], sink) }  // messages 2…10; 5 and 9 with templates
        sink.finish(timeout: 5)
        let c = sink.snapshot()
        #expect(c.messagesSent == 10 && c.templatesSent == 3)
        let collected = try collector.flows().sorted()
        let expected = frames[4..<10].map(CollectedFlow.init).sorted()
        #expect(collected == expected, "\(flowDifference(expected: expected, collected: collected))")
    }

    /// UDP to a port nobody listens on: every other send reports the ICMP port unreachable of the
    /// one before (ECONNREFUSED), which is counted and retried; nothing waits, and the counts add up.
    @Test func aGoneUDPCollectorNeverStalls() throws {
        let port = try freePort(SOCK_DGRAM)
        let sink = IPFIXTest.sink(.udp, port: port, queueFrames: 1024)
        let start = Date()
        for i in 0..<5_000 { sink.write(IPFIXEncodingTests.frame(i % 20_000)) }
        let writing = Date().timeIntervalSince(start)
        sink.finish(timeout: 10)
        let c = sink.snapshot()
        #expect(writing < 2, "writes took \(writing) s")
        #expect(Date().timeIntervalSince(start) < 8)
        #expect(c.sendErrors > 0)
        #expect(c.produced == 5_000 && c.produced == c.recordsSent + c.dropped + c.lost + c.undelivered)
        #expect(c.undelivered == 0)
        let keys = Dictionary(uniqueKeysWithValues: sink.statistics.map { ($0.key, $0.value) })
        #expect(keys["ipfix_send_errors"] == c.sendErrors && keys["ipfix_records_sent"] == c.recordsSent)
        #expect(
            Set(keys.keys).isSuperset(of: [
                "ipfix_records_sent", "ipfix_messages_sent", "ipfix_templates_sent", "ipfix_dropped",
                "ipfix_send_errors", "ipfix_reconnects", "ipfix_undelivered",
            ]))
    }

    /// TCP to a port that refuses: writes return at once (the oldest are dropped from the full
    /// queue), `finish` gives up at its timeout, and the counts add up.
    @Test func aRefusingTCPCollectorNeverStalls() throws {
        let port = try freePort(SOCK_STREAM)
        let sink = IPFIXTest.sink(.tcp, port: port, queueFrames: 100)
        let start = Date()
        for i in 0..<500 { sink.write(IPFIXEncodingTests.frame(i)) }
        #expect(Date().timeIntervalSince(start) < 1)
        sink.finish(timeout: 0.3)
        #expect(Date().timeIntervalSince(start) < 3)
        let c = sink.snapshot()
        #expect(c.connections == 0 && c.connectFailures >= 1 && c.recordsSent == 0)
        // The writer holds the batch it took (up to the 100 the queue held) besides the queue.
        #expect(c.dropped + c.undelivered == 500 && c.undelivered >= 100 && c.dropped >= 300)
        #expect(c.produced == c.recordsSent + c.dropped + c.lost + c.undelivered)
        sink.write(IPFIXEncodingTests.frame(0))
        #expect(sink.snapshot().undelivered == c.undelivered + 1)
    }

    /// Writes `frames` and waits until the sink has sent them (one message when they fit).
    private func send(_ frames: ArraySlice<FlowFrame>, _ sink: IPFIXSink) {
        let target = sink.snapshot().recordsSent + UInt64(frames.count)
        for frame in frames { sink.write(frame) }
        sink.flush()
        #expect(IPFIXTest.wait(3) { sink.snapshot().recordsSent + sink.snapshot().lost >= target })
    }
}

/// The sink's datagrams as a plain UDP socket receives them: no collector needed.
@Suite("IPFIX sink datagrams", .serialized)
struct IPFIXDatagramTests {
    /// A UDP socket on loopback with a 4 MiB receive buffer, read after the sink has finished.
    final class Receiver {
        let fd: Int32
        let port: UInt16

        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            self.fd = fd
            var size: Int32 = 4 << 20
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in.loopback(port: 0)
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
                }
            }
            guard bound else {
                close(fd)
                throw IOError("bind", errno: errno)
            }
            port = UInt16(bigEndian: address.sin_port)
        }

        deinit { close(fd) }

        /// Every datagram waiting.
        func datagrams() -> [[UInt8]] {
            var result: [[UInt8]] = []
            var buffer = [UInt8](repeating: 0, count: 70_000)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                guard n > 0 else { return result }
                result.append(Array(buffer[0..<n]))
            }
        }
    }

    @Test func datagramsKeepToTheMTUAndCountTheirRecords() throws {
        let receiver = try Receiver()
        var configuration = IPFIXSinkConfiguration(
            destination: IPFIXDestination(transport: .udp, host: "127.0.0.1", port: receiver.port))
        configuration.mtu = 600
        configuration.templateRefreshMessages = 50
        configuration.lossless = true
        configuration.observationDomain = 0x0102_0304
        let sink = IPFIXSink(configuration: configuration, logger: IPFIXTest.logger)
        let frames = try IPFIXTest.export("gnutella.pcap", to: sink)
        sink.finish(timeout: 10)
        let datagrams = receiver.datagrams()
        let c = sink.snapshot()
        #expect(c.messagesSent == UInt64(datagrams.count) && c.recordsSent == UInt64(frames.count))
        #expect(c.oversizeMessages == 0)
        var before = 0
        var withTemplates: [Int] = []
        for (index, datagram) in datagrams.enumerated() {
            let header = try #require(IPFIXMessage.Header(datagram))
            #expect(datagram.count <= 600 && Int(header.length) == datagram.count)
            #expect(header.version == 10 && header.observationDomain == 0x0102_0304)
            #expect(header.sequenceNumber == UInt32(before))
            let sets = try #require(IPFIXTCPRelay.sets(datagram))
            if sets.ids.first == 2 { withTemplates.append(index) }
            before += sets.records
        }
        #expect(before == frames.count)
        #expect(withTemplates == Array(stride(from: 0, to: datagrams.count, by: 50)))
    }

    @Test func configurationDefaultsAndLimits() {
        var configuration = IPFIXSinkConfiguration(destination: IPFIXDestination(transport: .udp, host: "h"))
        #expect(configuration.mtu == 1400 && configuration.maximumMessageBytes == 1400)
        #expect(configuration.templateRefreshSeconds == 60 && configuration.templateRefreshMessages == 100)
        #expect(configuration.queueFrames == 65_536 && !configuration.lossless && configuration.observationDomain == 0)
        configuration.mtu = 100
        #expect(configuration.maximumMessageBytes == IPFIXSinkConfiguration.minimumMTU)
        configuration.mtu = 100_000
        #expect(configuration.maximumMessageBytes == 65_507)
        configuration.destination.transport = .tcp
        configuration.mtu = 1400
        #expect(configuration.maximumMessageBytes == 65_507)
        configuration.queueFrames = 0
        configuration.templateRefreshMessages = -3
        #expect(configuration.effectiveQueueFrames == 1 && configuration.effectiveTemplateRefreshMessages == 1)
    }

    /// The command line: `dps label --pcap … --ipfix udp://…` backfills a collector from a capture
    /// (lossless: the file waits for the exporter) while writing the labeled NDJSON; nfdump's
    /// flows are the NDJSON's frames, exactly.
    @Test func dpsLabelBackfillsACollector() throws {
        let collector = try Nfcapd().start()
        let directory = FileManager.default.temporaryDirectory.appending(path: "dps-ipfix-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appending(path: "frames.ndjson").path
        let run = try sh(
            [
                TestPaths.dps, "label", "--pcap", SharedCaptures.path("http_ipv6.pcap"), SharedCaptures.path("gnutella.pcap"),
                "--out", output, "--extended", "--unmatched", "other", "--idle-timeout", "1e9", "--active-timeout", "1e9",
                "--ipfix", "udp://127.0.0.1:\(collector.port)", "--ipfix-observation-domain", "9",
            ], timeout: 120)
        #expect(run.status == 0, "\(run.err)")
        var frames: [FlowFrame] = []
        try NDJSONReader(path: output).forEachFrame { frames.append(try $0.get()) }
        #expect(frames.count > 700)
        let collected = try collector.flows().sorted()
        #expect(collected.count == frames.count)
        // NDJSON names the protocol (TCP, UDP, OTHER), not its number: TCP and UDP flows are
        // compared whole, the others (ICMP here) by count above.
        let tcpUDP = collected.filter { $0.protocolNumber == 6 || $0.protocolNumber == 17 }
        let expected = frames.filter { $0.transport != .other }.map(CollectedFlow.init).sorted()
        #expect(expected.count > 700)
        #expect(tcpUDP == expected, "\(flowDifference(expected: expected, collected: tcpUDP))")
        #expect(collector.log.contains("Sequence Errors: 0,"), "\(collector.log)")
        #expect(run.err.contains("exporting IPFIX"), "\(run.err)")
    }

    /// Without `--out` the command only exports, and a collector gets every frame: those no rule
    /// matches too (`--unmatched skip` is about the training file, not the collector).
    @Test func dpsLabelWithoutOutExportsEveryFrame() throws {
        let capture = SharedCaptures.path("gnutella.pcap")
        let all = try sh([TestPaths.dps, "label", "--pcap", capture, "--out", "-", "--unmatched", "other"], timeout: 120)
        let labeled = try sh([TestPaths.dps, "label", "--pcap", capture, "--out", "-"], timeout: 120)
        let frames = all.out.split(separator: "\n").count
        #expect(all.status == 0 && labeled.status == 0 && labeled.out.split(separator: "\n").count < frames)
        let collector = try Nfcapd().start()
        let run = try sh(
            [TestPaths.dps, "label", "--pcap", capture, "--ipfix", "udp://127.0.0.1:\(collector.port)"], timeout: 120)
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out.isEmpty && run.err.contains("labels: none (no --out) errors=0 written=\(frames)"), "\(run.err)")
        #expect(try collector.flows().count == frames)
        let neither = try sh([TestPaths.dps, "label", "--pcap", capture])
        #expect(neither.status != 0 && neither.err.contains("give --out FILE (or --out - for stdout), or --ipfix URL"))
    }
}
