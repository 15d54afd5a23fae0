import Foundation
import SensorCore
import SensorIO

/// Where the shared captures are: `../shared/pcaps` from the package root.
enum SharedCaptures {
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/pcaps")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Every capture with an nDPI listing beside it, by file name.
    static var all: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { ($0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng")) }.sorted()
    }
}

/// A packet as delivered by `PcapSource`, snapshot copied.
struct DeliveredPacket: Equatable {
    var event: PacketEvent
    var snapshot: [UInt8]
}

func readAllPackets(_ path: String) throws -> (packets: [DeliveredPacket], source: PcapSource) {
    let source = try PcapSource(path: path)
    var packets: [DeliveredPacket] = []
    try source.forEachPacket { event, snapshot in
        packets.append(DeliveredPacket(event: event, snapshot: Array(snapshot)))
    }
    return (packets, source)
}

/// A temporary directory removed at deinit.
final class PcapTempDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("dps-pcap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// Writes classic pcap files (little-endian, microsecond or nanosecond timestamps).
struct PcapWriter {
    var linkType: UInt32
    var nanoseconds = false
    var snaplen: UInt32 = 262144
    private(set) var data = Data()

    init(linkType: UInt32, nanoseconds: Bool = false) {
        self.linkType = linkType
        self.nanoseconds = nanoseconds
        append32(nanoseconds ? 0xA1B2_3C4D : 0xA1B2_C3D4)
        append16(2)
        append16(4)
        append32(0)
        append32(0)
        append32(snaplen)
        append32(linkType)
    }

    /// `originalLength` defaults to the frame's length; a larger value marks a snaplen cut.
    mutating func add(_ frame: [UInt8], seconds: UInt32, fraction: UInt32, originalLength: Int? = nil) {
        append32(seconds)
        append32(fraction)
        append32(UInt32(frame.count))
        append32(UInt32(originalLength ?? frame.count))
        data.append(contentsOf: frame)
    }

    func write(to path: String) throws { try data.write(to: URL(fileURLWithPath: path)) }

    private mutating func append32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }
    private mutating func append16(_ value: UInt16) {
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }
}

/// The byte offsets at which each record of a classic little-endian pcap starts.
func pcapRecordOffsets(_ data: Data) -> [Int] {
    var offsets: [Int] = []
    var offset = 24
    let bytes = [UInt8](data)
    while offset + 16 <= bytes.count {
        offsets.append(offset)
        let captured =
            Int(bytes[offset + 8]) | Int(bytes[offset + 9]) << 8 | Int(bytes[offset + 10]) << 16
            | Int(bytes[offset + 11]) << 24
        offset += 16 + captured
    }
    return offsets
}
