import Foundation
import SensorCore
import TestSupport
import Testing

@testable import SensorIO

#if canImport(Glibc)
import Glibc
#endif

/// The message layer alone: bytes checked against RFC 7011's layout, no socket.
@Suite("IPFIX encoding")
struct IPFIXEncodingTests {
    static func frame(
        _ i: Int, source: String = "198.51.100.1", destination: String = "203.0.113.7", interface: String = "eth0",
        payload: [UInt8]? = Array("GET / HTTP/1.1\r\n".utf8)
    ) -> FlowFrame {
        FlowFrame(
            source: IPAddress(source)!, destination: IPAddress(destination)!, sourcePort: UInt16(40_000 + i),
            destinationPort: 443, transport: .tcp, bytesIn: UInt64(100 + i), bytesOut: 5000, duration: 1.5,
            payload: payload, packetsIn: 7, packetsOut: 9, firstSeen: 1_700_000_000_123_456,
            lastSeen: 1_700_000_001_623_999, tcpFlags: [.syn, .ack, .fin], endReason: .fin, interface: interface)
    }

    static func be16(_ b: ArraySlice<UInt8>) -> Int { Int(b[b.startIndex]) << 8 | Int(b[b.startIndex + 1]) }

    /// The sets of a message: (set id, set body).
    static func sets(_ message: [UInt8]) -> [(id: Int, body: ArraySlice<UInt8>)] {
        var result: [(Int, ArraySlice<UInt8>)] = []
        var offset = IPFIXMessage.headerBytes
        while offset + 4 <= message.count {
            let id = be16(message[offset...])
            let length = be16(message[(offset + 2)...])
            guard length >= 4, offset + length <= message.count else { break }
            result.append((id, message[(offset + 4)..<(offset + length)]))
            offset += length
        }
        return result
    }

    @Test func headerFields() throws {
        var encoder = IPFIXMessageEncoder(observationDomain: 0xDEAD_BEEF)
        let messages = encoder.encode([Self.frame(1)], exportTime: 1_700_000_123)
        #expect(messages.count == 1)
        let header = try #require(IPFIXMessage.Header(messages[0]))
        #expect(header.version == 10)
        #expect(Int(header.length) == messages[0].count)
        #expect(header.exportTime == 1_700_000_123)
        #expect(header.sequenceNumber == 0)
        #expect(header.observationDomain == 0xDEAD_BEEF)
        #expect(
            Array(messages[0].prefix(4)) == [0, 10, UInt8(messages[0].count >> 8), UInt8(messages[0].count & 0xFF)])
        #expect(Self.sets(messages[0]).map(\.id) == [2, 256])
        #expect(encoder.sequenceNumber == 1)
    }

    @Test func templateLayout() {
        var bytes: [UInt8] = []
        IPFIXMessage.appendTemplateSet(to: &bytes)
        #expect(bytes.count == IPFIXMessage.templateSetBytes)
        #expect(Self.be16(bytes[0...]) == 2 && Self.be16(bytes[2...]) == bytes.count)
        // Each template: id, field count, then (id, length) or (id | 0x8000, length, PEN).
        let common: [[Int]] = [
            [7, 2], [11, 2], [4, 1], [6, 1], [152, 8], [153, 8], [136, 1], [239, 1], [1, 8], [2, 8],
            [0x8001, 8, 29305], [0x8002, 8, 29305], [58, 2], [82, 0xFFFF], [314, 0xFFFF],
        ]
        var offset = 4
        for (id, addresses) in [(256, [[8, 4], [12, 4]]), (257, [[27, 16], [28, 16]])] {
            #expect(Self.be16(bytes[offset...]) == id)
            #expect(Self.be16(bytes[(offset + 2)...]) == 17)
            offset += 4
            var read: [[Int]] = []
            for _ in 0..<17 {
                var spec = [Self.be16(bytes[offset...]), Self.be16(bytes[(offset + 2)...])]
                offset += 4
                if spec[0] & 0x8000 != 0 {
                    spec.append(bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) })
                    offset += 4
                }
                read.append(spec)
            }
            #expect(read == addresses + common)
        }
        #expect(offset == bytes.count)
        #expect(IPFIXTemplate.ipv4.fixedRecordBytes == 66 && IPFIXTemplate.ipv6.fixedRecordBytes == 90)
    }

    @Test func ipv4RecordBytes() {
        var record: [UInt8] = []
        let template = IPFIXMessage.appendRecord(Self.frame(1), to: &record)
        #expect(template == .ipv4)
        let expected: [UInt8] =
            [198, 51, 100, 1, 203, 0, 113, 7]  // initiator, responder
            + [0x9C, 0x41, 0x01, 0xBB]  // 40001, 443
            + [6, 0x13]  // TCP; SYN ACK FIN
            + [0, 0, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x7B]  // 1_700_000_000_123 ms
            + [0, 0, 0x01, 0x8B, 0xCF, 0xE5, 0x6E, 0x57]  // 1_700_000_001_623 ms
            + [3, 1]  // end of flow detected; biflowDirection initiator
            + [0, 0, 0, 0, 0, 0, 0, 101, 0, 0, 0, 0, 0, 0, 0, 7]  // initiator octets, packets
            + [0, 0, 0, 0, 0, 0, 0x13, 0x88, 0, 0, 0, 0, 0, 0, 0, 9]  // responder octets, packets
            + [0, 0]  // VLAN: untagged
            + [4] + Array("eth0".utf8) + [16] + Array("GET / HTTP/1.1\r\n".utf8)
        #expect(record == expected)
    }

    @Test func ipv6AndMixedFamilies() {
        var record: [UInt8] = []
        let v6 = Self.frame(1, source: "2001:db8::1", destination: "2001:db8::2", payload: nil)
        #expect(IPFIXMessage.appendRecord(v6, to: &record) == .ipv6)
        #expect(record.count == 90 + 1 + 4 + 1)
        #expect(Array(record[0..<16]) == [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1])
        #expect(record.last == 0)  // no payload: an empty ipPayloadPacketSection
        // One IPv4 and one IPv6 address: the IPv6 template, the IPv4 one mapped.
        record = []
        let mixed = Self.frame(1, source: "192.0.2.1", destination: "2001:db8::2")
        #expect(IPFIXMessage.appendRecord(mixed, to: &record) == .ipv6)
        #expect(Array(record[0..<16]) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 0, 2, 1])
    }

    @Test func longVariableLengthValues() {
        var record: [UInt8] = []
        let name = String(repeating: "x", count: 300)
        IPFIXMessage.appendRecord(Self.frame(1, interface: name, payload: nil), to: &record)
        #expect(Array(record[66..<69]) == [255, 0x01, 0x2C])
        #expect(record.count == 66 + 3 + 300 + 1)
    }

    @Test func endReasons() {
        let expected: [EndReason: UInt8] = [.idle: 1, .active: 2, .fin: 3, .rst: 3, .shutdown: 4, .evicted: 5]
        for reason in EndReason.allCases { #expect(IPFIXTemplate.flowEndReason(reason) == expected[reason]) }
    }

    @Test func sequenceNumbersCountRecordsBefore() throws {
        var encoder = IPFIXMessageEncoder(observationDomain: 7, maximumMessageBytes: 600)
        let frames = (0..<100).map { Self.frame($0) }
        let messages = encoder.encode(frames, exportTime: 1)
        var before = 0
        for (index, message) in messages.enumerated() {
            let header = try #require(IPFIXMessage.Header(message))
            #expect(header.sequenceNumber == UInt32(before))
            #expect(message.count <= 600 && Int(header.length) == message.count)
            let sets = Self.sets(message)
            #expect(sets.map(\.id) == (index == 0 ? [2, 256] : [256]))
            let recordBytes = 66 + 5 + 17
            #expect(sets.last!.body.count % recordBytes == 0)
            before += sets.last!.body.count / recordBytes
        }
        #expect(before == 100)
        #expect(encoder.sequenceNumber == 100)
        // The next call goes on from there.
        let more = encoder.encode(frames.prefix(3), exportTime: 2, templates: false)
        #expect(IPFIXMessage.Header(more[0])?.sequenceNumber == 100)
    }

    @Test func messagesFillTheMTU() throws {
        var encoder = IPFIXMessageEncoder(observationDomain: 0, maximumMessageBytes: 1400)
        let messages = encoder.encode((0..<200).map { Self.frame($0) }, exportTime: 1, templates: false)
        let perMessage = (1400 - 16 - 4) / 88
        #expect(messages.dropLast().allSatisfy { $0.count == 16 + 4 + perMessage * 88 })
        #expect(messages.count == (200 + perMessage - 1) / perMessage)
    }

    @Test func anOversizeRecordGoesAlone() throws {
        var encoder = IPFIXMessageEncoder(observationDomain: 0, maximumMessageBytes: 1400)
        let big = Self.frame(1, interface: String(repeating: "i", count: 2000))
        let messages = encoder.encode([Self.frame(0), big, Self.frame(2)], exportTime: 1, templates: false)
        #expect(messages.count == 3)
        #expect(messages[1].count == 16 + 4 + 66 + 3 + 2000 + 17)
        #expect(messages.map { IPFIXMessage.Header($0)!.sequenceNumber } == [0, 1, 2])
        // One no message can hold is left out.
        let huge = Self.frame(1, interface: String(repeating: "i", count: 70_000))
        #expect(encoder.encode([huge], exportTime: 1).isEmpty)
    }

    @Test func bothFamiliesInOneMessageTakeOneSetEach() {
        var encoder = IPFIXMessageEncoder(observationDomain: 0)
        let frames = [
            Self.frame(0), Self.frame(1, source: "2001:db8::1", destination: "2001:db8::2"), Self.frame(2),
        ]
        let messages = encoder.encode(frames, exportTime: 1, templates: false)
        #expect(messages.count == 1)
        let sets = Self.sets(messages[0])
        #expect(sets.map(\.id) == [256, 257])
        #expect(sets[0].body.count == 2 * 88 && sets[1].body.count == 90 + 5 + 17)
        #expect(sets[0].body.prefix(8).elementsEqual([198, 51, 100, 1, 203, 0, 113, 7]))
    }
}

@Suite("IPFIX destination")
struct IPFIXDestinationTests {
    @Test func parsesSchemesHostsAndPorts() throws {
        #expect(
            try IPFIXDestination.parse("udp://127.0.0.1:2055")
                == IPFIXDestination(transport: .udp, host: "127.0.0.1", port: 2055))
        #expect(
            try IPFIXDestination.parse("TCP://collector.example:4739/")
                == IPFIXDestination(transport: .tcp, host: "collector.example", port: 4739))
        #expect(
            try IPFIXDestination.parse("udp://[2001:db8::9]:9995")
                == IPFIXDestination(transport: .udp, host: "2001:db8::9", port: 9995))
        #expect(
            try IPFIXDestination.parse("udp://collector")
                == IPFIXDestination(transport: .udp, host: "collector", port: 4739))
        #expect(try IPFIXDestination.parse("udp://[::1]").port == 4739)
        #expect(
            IPFIXDestination(transport: .udp, host: "2001:db8::9", port: 9995).description == "udp://[2001:db8::9]:9995"
        )
    }

    @Test(arguments: [
        ("127.0.0.1:2055", "expected udp://HOST:PORT or tcp://HOST:PORT"),
        ("sctp://127.0.0.1:2055", "the scheme must be udp or tcp, not \"sctp\""),
        ("udp://", "no host"),
        ("udp://:2055", "no host"),
        ("udp://127.0.0.1:0", "the port must be a number from 1 to 65535, not \"0\""),
        ("udp://127.0.0.1:70000", "the port must be a number from 1 to 65535, not \"70000\""),
        ("udp://127.0.0.1:", "the port must be a number from 1 to 65535, not \"\""),
        ("udp://2001:db8::9:4739", "an IPv6 address must be in brackets: [2001:db8::1]:4739"),
        ("udp://[2001:db8::9:4739", "an IPv6 address opened with [ is not closed with ]"),
        ("udp://host/path", "only HOST:PORT may follow udp://"),
    ])
    func rejectsWithAReason(_ text: String, _ reason: String) {
        #expect(throws: IPFIXDestinationError(text: text, reason: reason)) { try IPFIXDestination.parse(text) }
    }

    @Test func errorNamesTheText() {
        let error = IPFIXDestinationError(text: "udp://", reason: "no host")
        #expect(error.description == "IPFIX destination \"udp://\": no host")
    }
}

/// `FlowFrame.protocolNumber`: from the flow key in the table, from `transport` otherwise.
@Suite("IPFIX protocol number")
struct IPFIXProtocolNumberTests {
    @Test func defaultFollowsTransport() {
        let tcp = IPFIXEncodingTests.frame(0)
        #expect(tcp.protocolNumber == 6)
        let udp = FlowFrame(
            source: tcp.source, destination: tcp.destination, sourcePort: 1, destinationPort: 2, transport: .udp,
            bytesIn: 0, bytesOut: 0, duration: 0, payload: nil)
        #expect(udp.protocolNumber == 17)
        let other = FlowFrame(
            source: tcp.source, destination: tcp.destination, sourcePort: 0, destinationPort: 0, transport: .other,
            bytesIn: 0, bytesOut: 0, duration: 0, payload: nil)
        #expect(other.protocolNumber == 0)
        let icmp = FlowFrame(
            source: tcp.source, destination: tcp.destination, sourcePort: 0, destinationPort: 0, transport: .other,
            bytesIn: 0, bytesOut: 0, duration: 0, payload: nil, protocolNumber: 1)
        #expect(icmp.protocolNumber == 1)
    }

    @Test func theTableSetsItFromTheKey() throws {
        // iphone.pcap has ICMP (1), ICMPv6 (58) and IGMP (2) besides TCP and UDP.
        let (_, frames, _) = try ourConversations(SharedCaptures.path("iphone.pcap"))
        let numbers = Set(frames.map(\.protocolNumber))
        #expect(numbers.isSuperset(of: [1, 2, 6, 17, 58]))
        #expect(frames.allSatisfy { $0.transport == FlowProtocol(number: $0.protocolNumber) })
    }

    @Test func ndjsonGivesTheTransportsNumber() throws {
        for (name, number) in [("TCP", 6), ("UDP", 17), ("OTHER", 0)] {
            let line =
                #"{"src_ip":"10.0.0.1","dst_ip":"10.0.0.2","src_port":1,"dst_port":2,"protocol":"\#(name)","bytes_in":0,"bytes_out":0,"duration":0,"payload":null}"#
            #expect(try FlowFrameJSON.parse(Array(line.utf8)).protocolNumber == UInt8(number))
        }
    }
}

/// The writer's state machine alone: a clock of numbers, made-up send outcomes.
@Suite("IPFIX export state")
struct IPFIXExportStateTests {
    static let s: Int64 = 1_000_000_000

    /// One message per send unless `messagesPerSend` (UDP) says more.
    static func state(
        _ transport: IPFIXDestination.Transport, refreshSeconds: Double = 60, refreshMessages: Int = 100,
        messagesPerSend: Int = 1
    ) -> IPFIXExportState {
        var configuration = IPFIXSinkConfiguration(
            destination: IPFIXDestination(transport: transport, host: "127.0.0.1", port: 4739))
        configuration.templateRefreshSeconds = refreshSeconds
        configuration.templateRefreshMessages = refreshMessages
        return IPFIXExportState(configuration: configuration, maximumMessageBytes: 600, messagesPerSend: messagesPerSend)
    }

    /// `count` queued records, as the sink queues them.
    static func records(_ count: Int) -> KronosLines {
        var lines = KronosLines()
        for i in 0..<count {
            IPFIXQueuedRecord.append(IPFIXEncodingTests.frame(i), to: &lines.bytes)
            lines.ends.append(lines.bytes.count)
        }
        return lines
    }

    /// Sends the prepared message whole; returns (records, had templates, sequence number).
    static func sendWhole(_ state: inout IPFIXExportState, now: Int64) -> (Int, Bool, UInt32) {
        _ = state.prepareMessage(now: now, exportTime: 1)
        guard let header = IPFIXMessage.Header(state.messages) else { return (0, false, 0) }
        let templates = state.messageHasTemplates
        return (state.sent(state.messages.count, now: now).records, templates, header.sequenceNumber)
    }

    @Test func stepsOfAFreshWriter() {
        var state = Self.state(.udp)
        #expect(state.next(now: 0, drainDeadline: nil) == .takeBatch)
        state.took(Self.records(3))
        #expect(state.next(now: 0, drainDeadline: nil) == .connect)
        state.connectFailed(now: 0)
        #expect(state.next(now: 0, drainDeadline: nil) == .wait(until: Self.s / 10))
        #expect(state.next(now: Self.s / 10, drainDeadline: nil) == .connect)
        #expect(state.next(now: 0, drainDeadline: 0) == .stop(midMessage: false))
        let reconnect = state.connected(now: Self.s / 10)
        #expect(!reconnect)
        #expect(state.next(now: Self.s / 10, drainDeadline: nil) == .send(from: 0))
        let whole = Self.sendWhole(&state, now: Self.s)
        #expect(whole == (3, true, 0))
        #expect(state.next(now: Self.s, drainDeadline: nil) == .takeBatch)
    }

    @Test func udpTemplatesAgainAfterTheInterval() {
        var state = Self.state(.udp, refreshSeconds: 10, refreshMessages: 1000)
        _ = state.connected(now: 0)
        state.took(Self.records(40))
        var sent: [(Int, Bool, UInt32)] = []
        for second in [0, 1, 9, 10, 11, 25] { sent.append(Self.sendWhole(&state, now: Int64(second) * Self.s)) }
        #expect(sent.map(\.1) == [true, false, false, true, false, true])
        // 600-byte messages of 88-byte records: 4 after the header and the 164-byte template
        // set, else 6.
        #expect(sent.map(\.0) == [4, 6, 6, 4, 6, 4])
        #expect(sent.map(\.2) == [0, 4, 10, 16, 20, 26])
    }

    @Test func udpTemplatesAgainAfterSoManyMessages() {
        var state = Self.state(.udp, refreshSeconds: 3600, refreshMessages: 3)
        _ = state.connected(now: 0)
        state.took(Self.records(60))
        let templates = (0..<8).map { _ in Self.sendWhole(&state, now: 0).1 }
        #expect(templates == [true, false, false, true, false, false, true, false])
    }

    @Test func tcpNewConnectionStartsAFreshSessionAndResendsTheMessageWhole() throws {
        var state = Self.state(.tcp)
        _ = state.connected(now: 0)
        state.took(Self.records(30))
        let first = Self.sendWhole(&state, now: 0)
        #expect(first == (4, true, 0))
        let second = Self.sendWhole(&state, now: 100 * Self.s)
        #expect(second == (6, false, 4))  // no refresh on TCP
        _ = state.prepareMessage(now: 0, exportTime: 1)
        let half = state.messages.count / 2
        let completed = state.sent(half, now: 0)
        #expect(completed == IPFIXExportState.Completion())
        #expect(state.next(now: 0, drainDeadline: nil) == .send(from: half))
        #expect(state.next(now: 0, drainDeadline: 0) == .send(from: half))  // the grace
        #expect(state.next(now: IPFIXExportState.midMessageGrace, drainDeadline: 0) == .stop(midMessage: true))
        let lost = state.sendFailed(errno: EPIPE, now: 5)
        #expect(lost == .connectionLost(midMessage: true))
        #expect(state.remaining == 20 && state.messages.isEmpty)
        #expect(state.next(now: 5, drainDeadline: nil) == .connect)
        let reconnected = state.connected(now: 6)
        #expect(reconnected)
        // Templates first again, sequence from 0, the same records from the first not yet sent.
        _ = state.prepareMessage(now: 6, exportTime: 1)
        let header = try #require(IPFIXMessage.Header(state.messages))
        #expect(header.sequenceNumber == 0 && state.messageHasTemplates && state.messageRecords == 4)
        let firstRecord = IPFIXEncodingTests.sets(state.messages)[1].body.prefix(12)
        #expect(firstRecord.suffix(4).elementsEqual([0x9C, 0x40 + 10, 0x01, 0xBB]))  // port 40010
    }

    /// The headers of the packed messages not yet sent: (sequence number, has templates).
    static func packedHeaders(_ state: IPFIXExportState) -> [(UInt32, Bool)] {
        var start = state.unsentEnds.startIndex == 0 ? 0 : state.messageEnds[state.unsentEnds.startIndex - 1]
        return state.unsentEnds.map { end in
            defer { start = end }
            let message = Array(state.messages[start..<end])
            let header = IPFIXMessage.Header(message)!
            return (header.sequenceNumber, IPFIXEncodingTests.sets(message).contains { $0.id == 2 })
        }
    }

    @Test func udpPacksSeveralMessagesForOneSendNumberedAsIfEachWentOut() {
        var state = Self.state(.udp, refreshMessages: 3, messagesPerSend: 4)
        _ = state.connected(now: 0)
        state.took(Self.records(60))
        _ = state.prepareMessage(now: 0, exportTime: 1)
        // 4 records beside the templates, else 6; templates again after 3 messages.
        #expect(Self.packedHeaders(state).map(\.0) == [0, 4, 10, 16])
        #expect(Self.packedHeaders(state).map(\.1) == [true, false, false, true])
        // Two of the four go out (a sendmmsg that stopped early): the other two stay packed.
        let twoEnd = state.messageEnds[1]
        #expect(state.sent(twoEnd, now: 0) == .init(records: 10, messages: 2, templates: 1))
        #expect(state.unsentEnds.count == 2 && state.next(now: 0, drainDeadline: nil) == .send(from: twoEnd))
        _ = state.prepareMessage(now: 0, exportTime: 1)  // nothing new while some are packed
        #expect(Self.packedHeaders(state).map(\.0) == [10, 16])
        // The third is dropped: the fourth, numbered as if it went out, is packed again.
        #expect(state.sendFailed(errno: ENETUNREACH, now: 0) == .dropMessage(records: 6))
        #expect(state.messages.isEmpty && state.remaining == 44)
        _ = state.prepareMessage(now: 0, exportTime: 1)
        // Templates every 3 messages that went out (the lost one does not count): the second.
        #expect(Self.packedHeaders(state).map(\.0) == [10, 16, 20, 26])
        #expect(Self.packedHeaders(state).map(\.1) == [false, true, false, false])
        #expect(state.sent(state.messages.count, now: 0) == .init(records: 22, messages: 4, templates: 1))
        #expect(state.messages.isEmpty && state.sequenceNumber == 32 && state.remaining == 22)
    }

    @Test func udpRefusedIsRetriedOnceThenTheMessageIsDropped() {
        var state = Self.state(.udp)
        _ = state.connected(now: 0)
        state.took(Self.records(10))
        _ = state.prepareMessage(now: 0, exportTime: 1)
        let full = state.sendFailed(errno: EAGAIN, now: 0)
        #expect(full == .wouldBlock)
        let signal = state.sendFailed(errno: EINTR, now: 0)
        #expect(signal == .interrupted)
        let refused = state.sendFailed(errno: ECONNREFUSED, now: 0)
        #expect(refused == .retry)
        let refusedAgain = state.sendFailed(errno: ECONNREFUSED, now: 0)
        #expect(refusedAgain == .dropMessage(records: 4))
        #expect(state.remaining == 6 && state.isConnected)
        // The sequence number does not count records that did not go out; the templates did not
        // go out either.
        let next = Self.sendWhole(&state, now: 0)
        #expect(next == (4, true, 0))
        // Any other error drops the message at once.
        state.took(Self.records(2))
        _ = state.prepareMessage(now: 0, exportTime: 1)
        let unreachable = state.sendFailed(errno: ENETUNREACH, now: 0)
        #expect(unreachable == .dropMessage(records: 2))
    }

    @Test func backoffDoublesToItsMaximumAndResetsOnConnect() {
        var state = Self.state(.tcp)
        state.took(Self.records(1))
        var waits: [Int64] = []
        var now: Int64 = 0
        for _ in 0..<8 {
            state.connectFailed(now: now)
            waits.append(state.nextAttempt - now)
            now = state.nextAttempt
        }
        #expect(waits == [1, 2, 4, 8, 16, 32, 50, 50].map { Int64($0) * Self.s / 10 })
        _ = state.connected(now: now)
        state.connectFailed(now: now)
        #expect(state.nextAttempt - now == Self.s / 10)
    }
}
