import SensorCore
import SensorIO
import Testing
import TestSupport

/// Every payload byte of a capture ends up in exactly one frame: the L4 payload bytes of the
/// packets the parser accepted equal the bytes of the frames the table emitted, and every packet
/// is in a frame or counted as `trailing` (a packet without payload or RST after its connection's
/// frame). Run through the flow table with close lingers, idle and active timeouts and evictions
/// that really happen on the shared captures.
@Suite("Payload accounting")
struct PayloadAccountingTests {
    struct Totals: Equatable {
        var packets: UInt64 = 0
        var bytes: UInt64 = 0
    }

    static let second: Int64 = 1_000_000_000

    static let configurations: [(String, FlowTableConfiguration)] = [
        ("defaults", .testing()),
        ("short", .testing(idleTimeout: second, activeTimeout: 5 * second, closeLinger: second / 10)),
        ("16 flows", .testing(maxFlows: 16)),
        // No linger: every packet after the closing one meets a tombstone.
        ("no linger", .testing(closeLinger: 0)),
    ]

    @Test(arguments: SharedCaptures.all)
    func everyPayloadByteIsInAFrame(_ name: String) throws {
        for (label, configuration) in Self.configurations {
            var accepted = Totals()
            var framed = Totals()
            var lateFrames = 0
            var absorbed: UInt64 = 0
            var absorbedWithContent = 0
            var closedFlows: Set<UInt64> = []
            let table = FlowTable(configuration: configuration) { frame in
                framed.packets += frame.packetsIn + frame.packetsOut
                framed.bytes += frame.bytesIn + frame.bytesOut
                if closedFlows.contains(frame.flowID) { lateFrames += 1 }
                if frame.endReason == .fin || frame.endReason == .rst { closedFlows.insert(frame.flowID) }
            }
            let source = try PcapSource(path: SharedCaptures.path(name))
            try source.forEachPacket { event, snapshot in
                accepted.packets += 1
                accepted.bytes += UInt64(event.payloadLength)
                let trailingBefore = table.stats.trailingPackets
                table.ingest(event, snapshot: snapshot)
                if table.stats.trailingPackets != trailingBefore {
                    absorbed += 1
                    if event.payloadLength > 0 || event.tcpFlags.contains(.rst) { absorbedWithContent += 1 }
                }
            }
            table.drain()
            let trailing = table.stats.trailingPackets
            print("accounting \(name) (\(label)): \(accepted.packets) packets, \(accepted.bytes) payload bytes, "
                + "\(trailing) trailing, \(lateFrames) late frames, "
                + "fin \(table.stats.frames(.fin)) rst \(table.stats.frames(.rst))")
            #expect(framed.bytes == accepted.bytes, "\(name) (\(label)): payload bytes in no frame")
            #expect(framed.packets + trailing == accepted.packets, "\(name) (\(label))")
            #expect(absorbed == trailing)
            #expect(absorbedWithContent == 0, "\(name) (\(label)): trailing packets with payload or RST")
            #expect(table.count == 0)
            if name == "netflix.pcap" && label == "no linger" {
                // Resets after the close: before late frames, 31 were absorbed as trailing.
                #expect(lateFrames == 31)
            }
        }
    }
}
