import Foundation
import SensorCore
import SensorIO
import Testing
import TestSupport

/// An IPv4/UDP packet 198.51.100.1:5000 -> 203.0.113.2:53 with `payload`.
private func udpPacket(_ payload: [UInt8]) -> [UInt8] {
    let total = 28 + payload.count
    return [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 1, 0, 0, 64, 17, 0, 0, 198, 51, 100, 1, 203, 0, 113, 2]
        + [0x13, 0x88, 0, 53, UInt8((8 + payload.count) >> 8), UInt8((8 + payload.count) & 0xFF), 0, 0] + payload
}

private let ethernetHeader: [UInt8] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]

@Suite("PcapSource")
struct PcapSourceTests {
    @Test func readsTheSharedHTTPCapture() throws {
        let (packets, source) = try readAllPackets(SharedCaptures.path("http.pcapng"))
        #expect(source.packetsRead == 10)
        #expect(source.skipped == 0)
        #expect(packets.count == 10)
        let first = try #require(packets.first)
        // pcapng with nanosecond resolution (tcpdump shows 1643129441.023341).
        #expect(first.event.timestamp == 1_643_129_441_023_341_461)
        #expect(first.event.source == IPAddress("192.168.1.128"))
        #expect(first.event.destination == IPAddress("216.58.208.142"))
        #expect(first.event.sourcePort == 42170 && first.event.destinationPort == 80)
        #expect(first.event.tcpFlags == [.syn])
        #expect(first.event.interface == 0)
        // The request: the first packet with payload, "GET / HTTP/1.1".
        let request = try #require(packets.first { $0.event.payloadLength > 0 })
        #expect(request.snapshot.starts(with: Array("GET /".utf8)))
        #expect(request.snapshot.count == min(Int(request.event.payloadLength), 128))
    }

    @Test func everySharedCaptureReadsToTheEnd() throws {
        let names = SharedCaptures.all
        #expect(names.count >= 18, "the shared captures are missing from \(SharedCaptures.directory.path)")
        for name in names {
            let (packets, source) = try readAllPackets(SharedCaptures.path(name))
            #expect(UInt64(packets.count) + source.skipped == source.packetsRead, "\(name)")
            #expect(packets.count > 0, "\(name)")
        }
    }

    @Test func theSameFileTwiceGivesTheSamePackets() throws {
        for name in ["bittorrent.pcap", "quic.pcap", "ip_fragmented_garbage.pcap"] {
            let once = try readAllPackets(SharedCaptures.path(name)).packets
            let twice = try readAllPackets(SharedCaptures.path(name)).packets
            #expect(once == twice, "\(name)")
        }
    }

    @Test func aTruncatedFileDeliversWhatCameBeforeTheDamageThenNamesFileAndPacket() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: SharedCaptures.path("bittorrent.pcap")))
        let offsets = pcapRecordOffsets(original)
        #expect(offsets.count == 299)
        let full = try readAllPackets(SharedCaptures.path("bittorrent.pcap")).packets
        let directory = try PcapTempDirectory()
        // Cut in the middle of record 120's data, then in the middle of record 200's header.
        for (record, cutInside) in [(120, 16 + 30), (200, 7)] {
            let path = directory.path("cut-\(record).pcap")
            try original.prefix(offsets[record - 1] + cutInside).write(to: URL(fileURLWithPath: path))
            let source = try PcapSource(path: path)
            var delivered: [DeliveredPacket] = []
            let error = #expect(throws: PcapError.self) {
                try source.forEachPacket { delivered.append(DeliveredPacket(event: $0, snapshot: Array($1))) }
            }
            #expect(error?.code == .damaged)
            #expect(error?.packet == UInt64(record))
            #expect(error?.description.contains(path) == true)
            #expect(error?.description.contains("packet \(record)") == true)
            #expect(source.packetsRead == UInt64(record - 1))
            #expect(delivered.count == record - 1 - Int(source.skipped))
            #expect(delivered == Array(full.prefix(delivered.count)))
        }
    }

    @Test func aTruncatedPcapngFileNamesFileAndPacket() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: SharedCaptures.path("http.pcapng")))
        let full = try readAllPackets(SharedCaptures.path("http.pcapng")).packets
        let directory = try PcapTempDirectory()
        let path = directory.path("cut.pcapng")
        try original.prefix(original.count * 3 / 4).write(to: URL(fileURLWithPath: path))
        let source = try PcapSource(path: path)
        var delivered: [DeliveredPacket] = []
        let error = #expect(throws: PcapError.self) {
            try source.forEachPacket { delivered.append(DeliveredPacket(event: $0, snapshot: Array($1))) }
        }
        #expect(source.packetsRead > 0 && source.packetsRead < 10)
        #expect(error?.packet == source.packetsRead + 1)
        #expect(error?.description.hasPrefix("\(path): packet \(source.packetsRead + 1): ") == true)
        #expect(delivered == Array(full.prefix(delivered.count)))
        #expect(delivered.count == Int(source.packetsRead))
    }

    @Test func openingErrorsNameTheFile() throws {
        let directory = try PcapTempDirectory()
        let missing = directory.path("missing.pcap")
        let error = #expect(throws: PcapError.self) { try PcapSource(path: missing) }
        #expect(error?.description.hasPrefix(missing) == true)
        #expect(error?.code == .unreadable && error?.errno == ENOENT)

        let garbage = directory.path("garbage.pcap")
        try Data("this is not a capture file at all".utf8).write(to: URL(fileURLWithPath: garbage))
        let garbageError = #expect(throws: PcapError.self) { try PcapSource(path: garbage) }
        #expect(garbageError?.description.hasPrefix(garbage) == true)
        #expect(garbageError?.code == .notACapture)

        // A link type with no IP dps can find in it: refused, named.
        let user = directory.path("user0.pcap")
        try PcapWriter(linkType: 147).write(to: user)
        let linkError = #expect(throws: PcapError.self) { try PcapSource(path: user) }
        let named = "unsupported link type 147 (USER0, private use): dps reads IP from "
        #expect(linkError?.description.contains(named) == true)
        #expect(linkError?.description.contains(PacketParser.LinkType.summary) == true)
        #expect(linkError?.code == .unsupportedLinkType)
        #expect(linkError?.description.hasPrefix(user) == true)
        let radiotap = directory.path("radiotap.pcap")
        try PcapWriter(linkType: 127).write(to: radiotap)
        let radiotapError = #expect(throws: PcapError.self) { try PcapSource(path: radiotap) }
        #expect(
            radiotapError?.description.contains(
                "unsupported link type 127 (IEEE802_11_RADIO, 802.11 plus radiotap header)") == true)
    }

    @Test func everyLinkTypeGivesTheSameEvents() throws {
        let directory = try PcapTempDirectory()
        let ip = udpPacket(Array("hello".utf8))
        let frames: [(UInt32, [UInt8])] = [
            (1, ethernetHeader + ip),
            (113, [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00] + ip),
            (276, [0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0] + ip),
            (101, ip),
            (12, ip),
            (228, ip),
            (9, PacketBuilder.ppp(ip)),
            (104, PacketBuilder.ciscoHDLC(ip)),
            (105, PacketBuilder.ieee80211(qos: true, ip)),
            (192, PacketBuilder.ppi(ethernetHeader + ip)),
            (192, PacketBuilder.ppi(dlt: 105, fields: PacketBuilder.ppi80211Common, PacketBuilder.ieee80211(ip))),
        ]
        var results: [DeliveredPacket] = []
        for (number, (link, frame)) in frames.enumerated() {
            var writer = PcapWriter(linkType: link, nanoseconds: true)
            writer.add(frame, seconds: 1_700_000_000, fraction: 123_456_789)
            writer.add([0xFF, 0xFF], seconds: 1_700_000_001, fraction: 0)  // no IP in it
            let path = directory.path("link-\(number)-\(link).pcap")
            try writer.write(to: path)
            let (packets, source) = try readAllPackets(path)
            #expect(packets.count == 1, "link type \(link)")
            #expect(source.skipped == 1, "link type \(link)")
            #expect(source.packetsRead == 2, "link type \(link)")
            results += packets
        }
        let expected = PacketEvent(
            timestamp: 1_700_000_000_123_456_789, source: IPAddress("198.51.100.1")!,
            destination: IPAddress("203.0.113.2")!, sourcePort: 5000, destinationPort: 53, transport: 17,
            payloadLength: 5)
        #expect(results.count == frames.count)
        for result in results {
            #expect(result.event == expected)
            #expect(result.snapshot == Array("hello".utf8))
        }

        // LINKTYPE_IPV6: IPv6 only.
        let v6 = PacketBuilder.ipv6(next: 17, l4: PacketBuilder.udp(5000, 53, payload: Array("hello".utf8)))
        var writer = PcapWriter(linkType: 229)
        writer.add(v6, seconds: 1, fraction: 0)
        writer.add(ip, seconds: 2, fraction: 0)  // IPv4 where IPv6 must be: a malformed header
        try writer.write(to: directory.path("ipv6.pcap"))
        let (packets, source) = try readAllPackets(directory.path("ipv6.pcap"))
        #expect(source.linkType == .ipv6)
        #expect(packets.map(\.event.source) == [IPAddress("2001:db8::1")!])
        #expect(packets.first?.snapshot == Array("hello".utf8))
        #expect(source.skippedMalformed == 1)
    }

    @Test func microsecondTimestampsAreScaledToNanoseconds() throws {
        let directory = try PcapTempDirectory()
        var writer = PcapWriter(linkType: 1)
        writer.add(ethernetHeader + udpPacket([1]), seconds: 1_600_000_000, fraction: 654_321)
        try writer.write(to: directory.path("us.pcap"))
        let packets = try readAllPackets(directory.path("us.pcap")).packets
        #expect(packets.map(\.event.timestamp) == [1_600_000_000_654_321_000])
    }

    @Test func aSnaplenCutKeepsTheFullPayloadLength() throws {
        let directory = try PcapTempDirectory()
        let payload = (0..<1000).map { UInt8(truncatingIfNeeded: $0) }
        let frame = ethernetHeader + udpPacket(payload)
        var writer = PcapWriter(linkType: 1)
        writer.add(Array(frame.prefix(14 + 28 + 40)), seconds: 1, fraction: 0, originalLength: frame.count)
        try writer.write(to: directory.path("cut.pcap"))
        let (packets, source) = try readAllPackets(directory.path("cut.pcap"))
        #expect(packets.count == 1)
        #expect(packets.first?.event.payloadLength == 1000)
        #expect(packets.first?.snapshot == Array(payload.prefix(40)))
        #expect(source.cutBySnaplen == 1)
    }

    @Test func impossibleLengthsAreMalformedAndASnaplenCutIsNot() throws {
        let directory = try PcapTempDirectory()
        // 48 bytes whose IPv4 tot_len says 35,205 (a 35,177-byte UDP payload).
        var short = ethernetHeader + udpPacket(Array("abcdef".utf8))
        short[16...17] = [0x89, 0x85]
        #expect(short.count == 48)
        var tooLong = ethernetHeader + udpPacket(Array("tot_len says 10 more".utf8))
        tooLong[17] &+= 10
        let payload = (0..<1000).map { UInt8(truncatingIfNeeded: $0) }
        let cut = ethernetHeader + udpPacket(payload)
        var writer = PcapWriter(linkType: 1)
        writer.add(short, seconds: 1, fraction: 0, originalLength: 0x7FFF_FFFF)  // impossible original length
        writer.add(tooLong, seconds: 2, fraction: 0)  // captured = original, the IP length beyond both
        writer.add(Array(cut.prefix(14 + 28 + 40)), seconds: 3, fraction: 0, originalLength: cut.count)  // snaplen cut
        writer.add(short, seconds: 4, fraction: 0, originalLength: 262_145)  // one byte beyond the largest
        writer.add(ethernetHeader + udpPacket([7]), seconds: 5, fraction: 0, originalLength: 262_144)  // the largest
        try writer.write(to: directory.path("lengths.pcap"))

        let source = try PcapSource(path: directory.path("lengths.pcap"))
        #expect(source.largestOriginalLength == 262_144)
        var frames: [FlowFrame] = []
        let table = FlowTable(configuration: .testing()) { frames.append($0) }
        var delivered: [DeliveredPacket] = []
        try source.forEachPacket { event, snapshot in
            delivered.append(DeliveredPacket(event: event, snapshot: Array(snapshot)))
            table.ingest(event, snapshot: snapshot)
        }
        table.drain()
        #expect(source.packetsRead == 5)
        #expect(source.skippedMalformed == 3)
        #expect(source.skipped == 3)
        #expect(source.cutBySnaplen == 2)
        #expect(delivered.map(\.event.payloadLength) == [1000, 1])
        #expect(delivered.first?.snapshot == Array(payload.prefix(40)))
        // No frame holds a byte of the malformed records.
        #expect(frames.map { $0.bytesIn + $0.bytesOut }.reduce(0, +) == 1001)
        #expect(frames.map { $0.packetsIn + $0.packetsOut }.reduce(0, +) == 2)
    }

    @Test func fragmentsAndTruncatedHeadersAreCounted() throws {
        let (packets, source) = try readAllPackets(SharedCaptures.path("ip_fragmented_garbage.pcap"))
        // 1252 records: 1248 non-first IPv4 fragments and 4 first fragments whose TCP header
        // does not fit in the datagram (see tcpdump's "[|tcp]").
        #expect(source.packetsRead == 1252)
        #expect(source.fragments == 1248)
        #expect(source.truncatedHeaders == 4)
        #expect(packets.allSatisfy { $0.event.sourcePort == 0 && $0.event.destinationPort == 0 })
    }
}
