import SensorCore

/// One field specifier of a template (RFC 7011 §3.2): an information element, its length in the
/// record, and for an enterprise-specific element its Private Enterprise Number.
public struct IPFIXField: Equatable, Sendable {
    /// The element id, without the enterprise bit.
    public var element: UInt16
    /// Bytes in the record; `variableLength` for a length-prefixed value (RFC 7011 §7).
    public var length: UInt16
    /// The PEN of an enterprise-specific element; nil for IANA's.
    public var enterprise: UInt32?

    public static let variableLength: UInt16 = 0xFFFF

    public init(_ element: UInt16, length: UInt16, enterprise: UInt32? = nil) {
        self.element = element
        self.length = length
        self.enterprise = enterprise
    }
}

/// Information element ids `dps` exports, from IANA's "IPFIX Information Elements" registry.
public enum IPFIXElement {
    public static let octetDeltaCount: UInt16 = 1
    public static let packetDeltaCount: UInt16 = 2
    public static let protocolIdentifier: UInt16 = 4
    public static let tcpControlBits: UInt16 = 6
    public static let sourceTransportPort: UInt16 = 7
    public static let sourceIPv4Address: UInt16 = 8
    public static let destinationTransportPort: UInt16 = 11
    public static let destinationIPv4Address: UInt16 = 12
    public static let sourceIPv6Address: UInt16 = 27
    public static let destinationIPv6Address: UInt16 = 28
    public static let vlanId: UInt16 = 58
    public static let interfaceName: UInt16 = 82
    public static let flowEndReason: UInt16 = 136
    public static let flowStartMilliseconds: UInt16 = 152
    public static let flowEndMilliseconds: UInt16 = 153
    public static let biflowDirection: UInt16 = 239
    public static let ipPayloadPacketSection: UInt16 = 314

    /// RFC 5103's Reverse Information Element PEN: an IANA element under this enterprise number is
    /// the same element for the reverse direction of a biflow.
    public static let reversePEN: UInt32 = 29305
}

/// The two templates `dps` exports, one per address family (a frame with one IPv4 and one IPv6
/// address goes under `ipv6`, its IPv4 address mapped as `::ffff:a.b.c.d`).
///
/// A record is a biflow (RFC 5103) with the initiator as source:
/// - `source…Address`, `sourceTransportPort`: the initiator (`FlowFrame.source`); `destination…`:
///   the responder.
/// - `protocolIdentifier`: `FlowFrame.protocolNumber`; `tcpControlBits`: the flags seen in
///   either direction, in 1 byte (RFC 7011 §6.2's reduced-size encoding of RFC 7125's 2: `dps`
///   keeps the 8 flags FIN…CWR, no NS), which pmacct's nfacctd needs: it reads the flags only
///   from a 1-byte field (1.7.7 showed 0 for every flow with 2).
/// - `flowStartMilliseconds` / `flowEndMilliseconds`: `firstSeen` / `lastSeen`, truncated to ms.
/// - `flowEndReason`: idle 1, active 2, fin and rst 3 (end of flow detected), shutdown 4 (forced
///   end), evicted 5 (lack of resources).
/// - `biflowDirection` 1 (initiator): the source is the initiator.
/// - `octetDeltaCount` / `packetDeltaCount`: what the initiator sent in this frame's period;
///   the same elements under the reverse PEN: what the responder sent. Octets are L4 payload bytes
///   (`bytesIn` / `bytesOut`), as in every `dps` frame, not IP bytes. The reverse elements, not
///   initiatorOctets/responderOctets/initiatorPackets/responderPackets (231/232/298/299), because
///   collectors decode them: nfdump 1.7 maps reverse octetDeltaCount/packetDeltaCount to its
///   out bytes/packets and skips 231/232/298/299 (its counts stay 0).
/// - `vlanId`: the outermost VLAN tag's ID, 0 untagged.
/// - `interfaceName`: the capture interface; `ipPayloadPacketSection`: the payload snapshot (up
///   to 128 bytes of the first payload; empty when the frame has none).
///
/// Labels are not exported: IANA has no element for them, and an enterprise-specific one would
/// need a Private Enterprise Number `dps` does not have.
public enum IPFIXTemplate: UInt8, CaseIterable, Sendable {
    case ipv4 = 0
    case ipv6 = 1

    /// The template id (data records of this template are in sets with this id).
    public var id: UInt16 { 256 + UInt16(rawValue) }

    /// The field specifiers, in record order.
    public var fields: [IPFIXField] { self == .ipv4 ? Self.ipv4Fields : Self.ipv6Fields }

    /// Bytes of a record before its two variable-length values.
    public var fixedRecordBytes: Int { self == .ipv4 ? Self.ipv4Fixed : Self.ipv6Fixed }

    /// The template for a frame's addresses.
    public init(_ frame: FlowFrame) {
        self = frame.source.isIPv6 || frame.destination.isIPv6 ? .ipv6 : .ipv4
    }

    private static func fields(addressElements source: UInt16, _ destination: UInt16, length: UInt16) -> [IPFIXField] {
        typealias E = IPFIXElement
        return [
            IPFIXField(source, length: length),
            IPFIXField(destination, length: length),
            IPFIXField(E.sourceTransportPort, length: 2),
            IPFIXField(E.destinationTransportPort, length: 2),
            IPFIXField(E.protocolIdentifier, length: 1),
            IPFIXField(E.tcpControlBits, length: 1),
            IPFIXField(E.flowStartMilliseconds, length: 8),
            IPFIXField(E.flowEndMilliseconds, length: 8),
            IPFIXField(E.flowEndReason, length: 1),
            IPFIXField(E.biflowDirection, length: 1),
            IPFIXField(E.octetDeltaCount, length: 8),
            IPFIXField(E.packetDeltaCount, length: 8),
            IPFIXField(E.octetDeltaCount, length: 8, enterprise: E.reversePEN),
            IPFIXField(E.packetDeltaCount, length: 8, enterprise: E.reversePEN),
            IPFIXField(E.vlanId, length: 2),
            IPFIXField(E.interfaceName, length: IPFIXField.variableLength),
            IPFIXField(E.ipPayloadPacketSection, length: IPFIXField.variableLength),
        ]
    }

    private static let ipv4Fields = fields(
        addressElements: IPFIXElement.sourceIPv4Address, IPFIXElement.destinationIPv4Address, length: 4)
    private static let ipv6Fields = fields(
        addressElements: IPFIXElement.sourceIPv6Address, IPFIXElement.destinationIPv6Address, length: 16)

    private static let ipv4Fixed = ipv4Fields.reduce(0) {
        $0 + ($1.length == IPFIXField.variableLength ? 0 : Int($1.length))
    }
    private static let ipv6Fixed = ipv6Fields.reduce(0) {
        $0 + ($1.length == IPFIXField.variableLength ? 0 : Int($1.length))
    }

    /// `flowEndReason` (IANA element 136) for a frame's reason.
    public static func flowEndReason(_ reason: EndReason) -> UInt8 {
        switch reason {
        case .idle: 1
        case .active: 2
        case .fin, .rst: 3
        case .shutdown: 4
        case .evicted: 5
        }
    }
}
