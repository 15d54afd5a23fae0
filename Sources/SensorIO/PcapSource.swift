import CPcap
import SensorCore

#if canImport(Glibc)
    import Glibc
#endif

/// A pcap or pcapng file read with libpcap, its frames parsed by `PacketParser` into the packet
/// events the BPF program would have produced for them.
///
/// Timestamps are the capture's, in nanoseconds since the epoch (libpcap scales microsecond files
/// up). The interface index is 0. Link types: those of `PacketParser.LinkType` (Ethernet, Linux
/// cooked capture, raw IP, loopback, PPP, Cisco HDLC, 802.11, PPI); any other, which has no IP
/// the parser can find, is refused when the file is opened, the error naming it.
///
/// Two filters, both of which a packet must pass, each counting what it leaves out: a libpcap
/// filter expression (`expression`, tcpdump's syntax) run on each record before it is parsed, and
/// the include/exclude rules of a `PacketFilter` (the same `verdict` for pcap input as the BPF
/// program's tables for live capture) on each parsed packet.
public final class PcapSource {
    public let path: String
    public let linkType: PacketParser.LinkType
    /// Include/exclude rules applied to each parsed packet (`forEachPacket`).
    public let filter: PacketFilter
    /// The libpcap filter expression applied to each record, compiled for this file.
    private let expression: PcapExpression?
    private var handle: OpaquePointer?
    /// The stdio buffer under libpcap's FILE: 64 KiB instead of 4 KiB, so a large capture takes
    /// a sixteenth of the read system calls, while what was read is still in the L2 cache when
    /// the parser gets to it (1 MiB was slower: the copy and the parse both went to memory).
    /// Freed after `pcap_close`.
    private var readBuffer: UnsafeMutableRawPointer?
    private static let readBufferBytes = 64 << 10

    /// Records read from the file so far (IP or not, filtered or not).
    public private(set) var packetsRead: UInt64 = 0
    /// Records the libpcap filter expression rejected: not parsed, in no other counter.
    public private(set) var rejectedByExpression: UInt64 = 0
    /// Parsed packets an exclude rule matched (`PacketFilter.Verdict.excluded`): not delivered.
    public private(set) var excluded: UInt64 = 0
    /// Parsed packets no include rule matched (`PacketFilter.Verdict.notIncluded`): not delivered.
    public private(set) var notIncluded: UInt64 = 0
    /// Records the filters left out: `rejectedByExpression + excluded + notIncluded`.
    public var filtered: UInt64 { rejectedByExpression + excluded + notIncluded }
    /// Records that gave no packet event: not IPv4/IPv6, or an invalid or cut-short IP header.
    public private(set) var skipped: UInt64 = 0
    /// Of `skipped`: frames that are not IPv4/IPv6 (ARP, LLDP, ...).
    public private(set) var skippedNotIP: UInt64 = 0
    /// Of `skipped`: IP packets whose IP header is invalid or cut short, or whose IP length
    /// reaches beyond the packet's original length; and records whose original length is
    /// impossible (beyond `largestOriginalLength`), whatever they hold. Corrupt headers, all.
    public private(set) var skippedMalformed: UInt64 = 0
    /// Delivered packets whose capture stopped inside the packet (caplen < len, the IP length
    /// within len): their payload length is the original one, their snapshot holds what was
    /// captured.
    public private(set) var cutBySnaplen: UInt64 = 0
    /// Delivered non-first IPv4/IPv6 fragments (ports 0).
    public private(set) var fragments: UInt64 = 0
    /// Delivered packets whose TCP/UDP header did not fit (ports 0, payload 0).
    public private(set) var truncatedHeaders: UInt64 = 0
    /// Delivered tunnel packets whose inner packet could not be read: their outer packet.
    public private(set) var tunnelOuter: UInt64 = 0

    /// Opens `path`, with `filter` for the parsed packets and `expression`, a libpcap filter
    /// expression compiled for the file's link type and snaplen, for its records. Throws a
    /// `PcapError` naming the file and libpcap's reason, an unsupported link type, or an expression
    /// libpcap cannot compile (`badExpression`, libpcap's reason).
    public init(path: String, filter: PacketFilter = .none, expression: String? = nil) throws {
        self.path = path
        self.filter = filter
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        let precision = UInt32(PCAP_TSTAMP_PRECISION_NANO)
        var readBuffer: UnsafeMutableRawPointer?
        let opened: OpaquePointer?
        if path == "-" {
            // Standard input, as libpcap reads "-"; it keeps stdio's own buffer.
            opened = pcap_open_offline_with_tstamp_precision(path, precision, &errorBuffer)
        } else {
            guard let file = fopen(path, "rb") else {
                throw PcapError(.unreadable, path: path, reason: String(cString: strerror(errno)), errno: errno)
            }
            var info = stat()
            if fstat(fileno(file), &info) == 0, info.st_mode & S_IFMT == S_IFREG { fileSize = Int64(info.st_size) }
            readBuffer = malloc(Self.readBufferBytes)
            setvbuf(file, readBuffer, _IOFBF, Self.readBufferBytes)
            opened = pcap_fopen_offline_with_tstamp_precision(file, precision, &errorBuffer)
            if opened == nil {
                fclose(file)  // libpcap leaves the FILE to its caller when it refuses it
                free(readBuffer)
            }
        }
        guard let handle = opened else {
            throw PcapError(
                .notACapture, path: path,
                reason: errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        let dlt = pcap_datalink(handle)
        guard let linkType = PacketParser.LinkType(rawValue: dlt) else {
            pcap_close(handle)
            free(readBuffer)
            throw PcapError(
                .unsupportedLinkType, path: path,
                reason: "unsupported link type \(dlt) (\(Self.name(ofLinkType: dlt))): dps reads IP from "
                    + PacketParser.LinkType.summary)
        }
        if let expression {
            do throws(PcapExpression.Failure) {
                self.expression = try PcapExpression(expression, handle: handle)
            } catch {
                pcap_close(handle)
                free(readBuffer)
                throw PcapError(.badExpression, path: path, reason: error.reason)
            }
        } else {
            self.expression = nil
        }
        self.linkType = linkType
        self.handle = handle
        self.readBuffer = readBuffer
        largestOriginalLength = max(Int(pcap_snapshot(handle)), Self.largestPacket)
    }

    /// libpcap's largest snapshot length (`MAXIMUM_SNAPLEN`), 256 KiB: no capture tool records a
    /// longer packet.
    public static let largestPacket = 262_144

    /// The largest original length (pcap `len`) a record of this file can have: the file's
    /// snaplen or `largestPacket`, whichever is larger. A record that says more has a corrupt
    /// header: counted in `skippedMalformed`, not parsed (an original length of 2^31-1 would make
    /// a 48-byte packet's IP length look like a snaplen cut of 35 KB).
    public let largestOriginalLength: Int

    /// libpcap's name and description of a link type (`IEEE802_11_RADIO, 802.11 plus radiotap
    /// header`), or `USERn` for the private-use ones libpcap does not name.
    static func name(ofLinkType dlt: Int32) -> String {
        if let name = pcap_datalink_val_to_name(dlt) {
            let description = pcap_datalink_val_to_description(dlt).map { String(cString: $0) }
            return [String(cString: name), description].compactMap { $0 }.joined(separator: ", ")
        }
        if (147...162).contains(dlt) { return "USER\(dlt - 147), private use" }  // LINKTYPE_USER0...15
        return "unknown"
    }

    /// The file's size when it is a regular file (not standard input): with `position`, how far
    /// the reading is.
    public private(set) var fileSize: Int64?

    /// Bytes of the file consumed so far (read ahead by up to the read buffer); nil once read or
    /// for standard input.
    public var position: Int64? {
        guard fileSize != nil, let handle, let file = pcap_file(handle) else { return nil }
        let offset = ftello(file)
        return offset >= 0 ? Int64(offset) : nil
    }

    deinit {
        if let handle { pcap_close(handle) }
        free(readBuffer)
    }

    /// Calls body for every IP packet in file order (timestamps: the capture's, ns since epoch)
    /// that passes the filters. Non-IP or unparseable frames, and records with an impossible
    /// original length, are counted in `skipped`, not passed; packets the expression or the
    /// include/exclude rules leave out, in `rejectedByExpression`, `excluded` and `notIncluded`.
    /// `filtered`, when given, gets the timestamp of each record the filters leave out, so that
    /// a clock driven by the capture still moves with them (as a live sensor's wall clock moves
    /// past the packets the kernel filters out): leaving out one flow's packets then changes no
    /// other flow's frames. At damage (truncated or corrupt file) it throws an error naming the
    /// file and the packet number, after delivering every packet before it. The snapshot buffer
    /// is valid only during the call.
    public func forEachPacket(
        filtered: ((_ timestamp: Int64) -> Void)? = nil, _ body: (PacketEvent, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let linkType = linkType
        let largestOriginalLength = largestOriginalLength
        let filter = filter
        let filtering = !filter.isEmpty
        try forEachRecord(filtered: filtered) { frame, original, timestamp in
            guard original <= largestOriginalLength else {
                skipped += 1
                skippedMalformed += 1
                return
            }
            switch PacketParser.parse(frame, originalLength: original, linkType: linkType, timestamp: timestamp) {
            case .packet(let event, let snapshot, let flags):
                if filtering {
                    switch filter.verdict(event) {
                    case .observe: break
                    case .excluded:
                        excluded += 1
                        filtered?(timestamp)
                        return
                    case .notIncluded:
                        notIncluded += 1
                        filtered?(timestamp)
                        return
                    }
                }
                if original > frame.count { cutBySnaplen += 1 }
                if flags.contains(.fragment) { fragments += 1 }
                if flags.contains(.truncated) { truncatedHeaders += 1 }
                if flags.contains(.tunnelOuter) { tunnelOuter += 1 }
                try body(event, UnsafeRawBufferPointer(rebasing: frame[snapshot]))
            case .notIP:
                skipped += 1
                skippedNotIP += 1
            case .malformed:
                skipped += 1
                skippedMalformed += 1
            }
        }
    }

    /// Calls body for every record in file order that the libpcap expression, when there is one,
    /// accepts (the others counted in `rejectedByExpression`, their timestamps passed to
    /// `filtered`), unparsed: the captured bytes (from the link-layer header, `linkType`), the
    /// packet's original length, and its timestamp in ns since the epoch. Counts `packetsRead`;
    /// errors as `forEachPacket`. The file can be read once.
    public func forEachRecord(
        filtered: ((_ timestamp: Int64) -> Void)? = nil,
        _ body: (_ frame: UnsafeRawBufferPointer, _ originalLength: Int, _ timestamp: Int64) throws -> Void
    ) throws {
        guard let handle else { throw PcapError(.alreadyRead, path: path, reason: "already read to its end") }
        defer {
            pcap_close(handle)
            self.handle = nil
            free(readBuffer)
            readBuffer = nil
        }
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while true {
            let status = pcap_next_ex(handle, &header, &data)
            if status == PCAP_ERROR_BREAK { return }  // end of file
            guard status == 1, let header, let data else {
                let reason =
                    status == PCAP_ERROR ? String(cString: pcap_geterr(handle)) : "pcap_next_ex returned \(status)"
                throw PcapError(.damaged, path: path, packet: packetsRead + 1, reason: reason)
            }
            packetsRead += 1
            let timestamp =
                Int64(header.pointee.ts.tv_sec) &* 1_000_000_000 &+ Int64(header.pointee.ts.tv_usec)
            if let expression, !expression.accepts(header, data) {
                rejectedByExpression += 1
                filtered?(timestamp)
                continue
            }
            let frame = UnsafeRawBufferPointer(start: data, count: Int(header.pointee.caplen))
            try body(frame, Int(header.pointee.len), timestamp)
        }
    }
}

/// A pcap file that cannot be opened or read: a code to match, the file (and the packet, for
/// damage), why, and the errno when a call failed.
public struct PcapError: Error, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The file cannot be opened (`errno` says why).
        case unreadable
        /// libpcap does not take it as a pcap or pcapng file.
        case notACapture
        case unsupportedLinkType
        /// A record cannot be read (cut short, corrupt): `packet` is its number.
        case damaged
        /// A source is read once.
        case alreadyRead
        /// libpcap cannot compile the filter expression for this file (`reason` is libpcap's).
        case badExpression
    }

    public var code: Code
    public var path: String
    /// The 1-based number of the record that could not be read; nil when opening failed.
    public var packet: UInt64?
    public var reason: String
    public var errno: Int32?

    public init(_ code: Code, path: String, packet: UInt64? = nil, reason: String, errno: Int32? = nil) {
        self.code = code
        self.path = path
        self.packet = packet
        self.reason = reason
        self.errno = errno
    }

    public var description: String {
        if let packet { return "\(path): packet \(packet): \(reason)" }
        return "\(path): \(reason)"
    }
}
