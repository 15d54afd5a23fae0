import SensorCore

/// The RFC 7011 message layer: a 16-byte header, then sets, each a 4-byte set header (id, length)
/// and its records. `dps` sends one template set (id 2) holding both templates
/// (`IPFIXTemplate`), and data sets whose id is the template id. All numbers are big-endian; no
/// set is padded.
///
/// Header: version 10, the message length, the export time (seconds since the Unix epoch), the
/// sequence number (data records sent before this message in this transport session and
/// observation domain, modulo 2^32), the observation domain id.
public enum IPFIXMessage {
    public static let version: UInt16 = 10
    public static let headerBytes = 16
    public static let setHeaderBytes = 4
    public static let templateSetID: UInt16 = 2
    /// The largest message: a UDP datagram over IPv4 carries at most 65507 bytes (and the length
    /// field holds at most 65535).
    public static let maximumBytes = 65_507
    /// The template set with both templates.
    public static let templateSetBytes: Int = {
        var bytes: [UInt8] = []
        appendTemplateSet(to: &bytes)
        return bytes.count
    }()
    /// The largest record a message can carry after the template set. A frame whose record is
    /// larger (an interface name of tens of kilobytes) cannot be exported.
    public static let maximumRecordBytes = maximumBytes - headerBytes - templateSetBytes - setHeaderBytes

    /// A message header, as read back (tests, tools).
    public struct Header: Equatable, Sendable {
        public var version: UInt16
        public var length: UInt16
        public var exportTime: UInt32
        public var sequenceNumber: UInt32
        public var observationDomain: UInt32

        public init(
            version: UInt16, length: UInt16, exportTime: UInt32, sequenceNumber: UInt32, observationDomain: UInt32
        ) {
            self.version = version
            self.length = length
            self.exportTime = exportTime
            self.sequenceNumber = sequenceNumber
            self.observationDomain = observationDomain
        }

        /// The header at the start of `bytes`; nil when fewer than 16 bytes.
        public init?(_ bytes: some RandomAccessCollection<UInt8>) {
            guard bytes.count >= IPFIXMessage.headerBytes else { return nil }
            let b = Array(bytes.prefix(IPFIXMessage.headerBytes))
            func word(_ at: Int) -> UInt32 { b[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
            version = UInt16(b[0]) << 8 | UInt16(b[1])
            length = UInt16(b[2]) << 8 | UInt16(b[3])
            exportTime = word(4)
            sequenceNumber = word(8)
            observationDomain = word(12)
        }
    }

    public static func appendHeader(_ header: Header, to out: inout [UInt8]) {
        out.appendBigEndian(header.version)
        out.appendBigEndian(header.length)
        out.appendBigEndian(header.exportTime)
        out.appendBigEndian(header.sequenceNumber)
        out.appendBigEndian(header.observationDomain)
    }

    /// The template set: both templates, each its id, its field count and its field specifiers
    /// (an enterprise-specific one with the enterprise bit set and its PEN after it).
    public static func appendTemplateSet(to out: inout [UInt8]) {
        let start = out.count
        out.appendBigEndian(templateSetID)
        out.appendBigEndian(UInt16(0))  // length, set below
        for template in IPFIXTemplate.allCases {
            out.appendBigEndian(template.id)
            out.appendBigEndian(UInt16(template.fields.count))
            for field in template.fields {
                out.appendBigEndian(field.enterprise == nil ? field.element : field.element | 0x8000)
                out.appendBigEndian(field.length)
                if let enterprise = field.enterprise { out.appendBigEndian(enterprise) }
            }
        }
        let length = UInt16(out.count - start)
        out[start + 2] = UInt8(length >> 8)
        out[start + 3] = UInt8(length & 0xFF)
    }

    /// Appends `frame`'s data record (the fields of `IPFIXTemplate(frame)`, in order); returns the
    /// template.
    @discardableResult
    public static func appendRecord(_ frame: FlowFrame, to out: inout [UInt8]) -> IPFIXTemplate {
        let template = IPFIXTemplate(frame)
        var interface = frame.interface
        interface.withUTF8 { name in
            withPayload(frame) { payload in
                // Written in place, sized once: one array append per value cost a third of the
                // exporter's time.
                let bound =
                    template.fixedRecordBytes + variableLengthBytes(name.count) + variableLengthBytes(payload.count)
                ByteWriter.append(to: &out, bound: bound) { w in
                    switch template {
                    case .ipv4:
                        w.writeIPv4(frame.source)
                        w.writeIPv4(frame.destination)
                    case .ipv6:
                        w.writeIPv6(frame.source)
                        w.writeIPv6(frame.destination)
                    }
                    w.writeBigEndian(frame.sourcePort)
                    w.writeBigEndian(frame.destinationPort)
                    w.write(frame.protocolNumber)
                    w.write(frame.tcpFlags.rawValue)
                    w.writeBigEndian(UInt64(max(0, frame.firstSeen) / 1000))
                    w.writeBigEndian(UInt64(max(0, frame.lastSeen) / 1000))
                    w.write(IPFIXTemplate.flowEndReason(frame.endReason))
                    w.write(UInt8(1))  // biflowDirection: initiator
                    w.writeBigEndian(frame.bytesIn)
                    w.writeBigEndian(frame.packetsIn)
                    w.writeBigEndian(frame.bytesOut)
                    w.writeBigEndian(frame.packetsOut)
                    w.writeBigEndian(frame.vlan)
                    w.writeVariableLength(UnsafeRawBufferPointer(name))
                    w.writeVariableLength(payload)
                }
            }
        }
        return template
    }

    private static func withPayload<R>(_ frame: FlowFrame, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard let payload = frame.payload else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return payload.withUnsafeBytes(body)
    }

    /// Packs records into one message of at most `maximumBytes` (a record too large for that is
    /// packed alone): the header, the template set when `templates`, then one data set per
    /// template present, each holding its records in queue order. `records` entries from index
    /// `start` are queued records (`IPFIXQueuedRecord`). Appends the message to `out`; returns
    /// how many records it took.
    static func pack(
        _ records: KronosLines, from start: Int, into out: inout [UInt8], sequenceNumber: UInt32,
        exportTime: UInt32, observationDomain: UInt32, templates: Bool, maximumBytes: Int
    ) -> Int {
        var size = headerBytes + (templates ? templateSetBytes : 0)
        var setBytes = (0, 0)  // per template, with the set header; 0 when absent
        var end = start
        while end < records.ends.count {
            let range = IPFIXQueuedRecord.range(records, end)
            let isIPv6 = records.bytes[range.lowerBound] == IPFIXTemplate.ipv6.rawValue
            let present = isIPv6 ? setBytes.1 : setBytes.0
            let add = range.count - 1 + (present == 0 ? setHeaderBytes : 0)
            if end > start && size + add > maximumBytes { break }
            size += add
            if isIPv6 { setBytes.1 += add } else { setBytes.0 += add }
            end += 1
        }
        out.reserveCapacity(out.count + size)
        let header = Header(
            version: version, length: UInt16(truncatingIfNeeded: size), exportTime: exportTime,
            sequenceNumber: sequenceNumber, observationDomain: observationDomain)
        appendHeader(header, to: &out)
        if templates { appendTemplateSet(to: &out) }
        for (template, bytes) in [(IPFIXTemplate.ipv4, setBytes.0), (.ipv6, setBytes.1)] where bytes > 0 {
            out.appendBigEndian(template.id)
            out.appendBigEndian(UInt16(bytes))
            for index in start..<end {
                let range = IPFIXQueuedRecord.range(records, index)
                guard records.bytes[range.lowerBound] == template.rawValue else { continue }
                out.append(contentsOf: records.bytes[(range.lowerBound + 1)..<range.upperBound])
            }
        }
        return end - start
    }
}

/// A record as the sink queues it: one byte naming its template (`IPFIXTemplate.rawValue`), then
/// the record. Queued in a `KronosQueue` (its "lines" are these entries), so the queue's bounds,
/// drop-oldest and buffer reuse are the Kronos sink's.
enum IPFIXQueuedRecord {
    /// Appends `frame`'s queue entry to `out`.
    static func append(_ frame: FlowFrame, to out: inout [UInt8]) {
        let tag = out.count
        out.append(0)
        out[tag] = IPFIXMessage.appendRecord(frame, to: &out).rawValue
    }

    /// The bytes of entry `index` (tag included).
    static func range(_ records: KronosLines, _ index: Int) -> Range<Int> {
        (index == 0 ? 0 : records.ends[index - 1])..<records.ends[index]
    }
}

/// Frames to whole messages, without a socket: for tools, benchmarks and tests. The sink uses the
/// same packing, one message at a time as the socket takes them.
public struct IPFIXMessageEncoder {
    public let observationDomain: UInt32
    public let maximumMessageBytes: Int
    /// Data records encoded so far: the next message's sequence number.
    public private(set) var sequenceNumber: UInt32 = 0

    public init(observationDomain: UInt32, maximumMessageBytes: Int = 1400) {
        self.observationDomain = observationDomain
        self.maximumMessageBytes = min(IPFIXMessage.maximumBytes, maximumMessageBytes)
    }

    /// `frames` as messages of at most `maximumMessageBytes` each (a record too large for that
    /// alone goes alone in a message); the first carries the template set when `templates`.
    /// Frames whose record exceeds `IPFIXMessage.maximumRecordBytes` are left out.
    public mutating func encode(_ frames: some Sequence<FlowFrame>, exportTime: UInt32, templates: Bool = true)
        -> [[UInt8]]
    {
        var records = KronosLines()
        for frame in frames {
            let start = records.bytes.count
            IPFIXQueuedRecord.append(frame, to: &records.bytes)
            if records.bytes.count - start - 1 > IPFIXMessage.maximumRecordBytes {
                records.bytes.removeSubrange(start...)
                continue
            }
            records.ends.append(records.bytes.count)
        }
        var messages: [[UInt8]] = []
        var index = 0
        var withTemplates = templates
        while index < records.ends.count {
            var message: [UInt8] = []
            let taken = IPFIXMessage.pack(
                records, from: index, into: &message, sequenceNumber: sequenceNumber, exportTime: exportTime,
                observationDomain: observationDomain, templates: withTemplates, maximumBytes: maximumMessageBytes)
            messages.append(message)
            sequenceNumber &+= UInt32(truncatingIfNeeded: taken)
            index += taken
            withTemplates = false
        }
        return messages
    }
}

/// The bytes `writeVariableLength` writes for a value of `count` bytes.
private func variableLengthBytes(_ count: Int) -> Int {
    let count = min(count, Int(UInt16.max))
    return count < 255 ? 1 + count : 3 + count
}

extension ByteWriter {
    mutating func writeIPv4(_ address: IPAddress) {
        withUnsafeBytes(of: address.high) { write(UnsafeRawBufferPointer(rebasing: $0.prefix(4))) }
    }

    /// 16 bytes; an IPv4 address as IPv4-mapped (`::ffff:a.b.c.d`).
    mutating func writeIPv6(_ address: IPAddress) {
        guard address.isIPv6 else {
            writeBigEndian(UInt64(0))
            writeBigEndian(UInt32(0xFFFF))
            writeIPv4(address)
            return
        }
        withUnsafeBytes(of: address.high) { write($0) }
        withUnsafeBytes(of: address.low) { write($0) }
    }

    /// A variable-length value (RFC 7011 §7): one length byte below 255, else 255 and two bytes.
    /// A value over 65535 bytes is cut there (its record is over `maximumRecordBytes` anyway).
    mutating func writeVariableLength(_ value: UnsafeRawBufferPointer) {
        let value = UnsafeRawBufferPointer(rebasing: value.prefix(Int(UInt16.max)))
        if value.count < 255 {
            write(UInt8(value.count))
        } else {
            write(UInt8(255))
            writeBigEndian(UInt16(value.count))
        }
        write(value)
    }
}

extension [UInt8] {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}
