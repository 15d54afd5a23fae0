/// How the IPFIX sink exports: where to, under which observation domain, how it queues, how often
/// it repeats its templates and how it reconnects. Each setting's default is on its declaration;
/// set the others on a copy made with `init(destination:)`. Values out of range are taken at the
/// nearest one that works (`effective…`).
public struct IPFIXSinkConfiguration: Sendable, Equatable {
    /// The collector (`IPFIXDestination.parse("udp://HOST:PORT")`).
    public var destination: IPFIXDestination
    /// The observation domain id in every message header: tells a collector's sensors apart when
    /// they share an address (behind NAT), or one sensor's interfaces apart.
    public var observationDomain: UInt32 = 0
    /// Records held while the collector is slow or away (at least 1).
    public var queueFrames: Int = 65_536
    /// True (pcap input): `write` waits for room in a full queue, so no frame is dropped. False
    /// (live capture): a full queue drops its oldest record (counted), and `write` never waits.
    public var lossless: Bool = false
    /// UDP: the templates go out again, with the next data, once this many seconds have passed
    /// since they last did, so that a collector that started (or restarted) later learns them.
    public var templateRefreshSeconds: Double = 60
    /// UDP: … or once this many messages have gone without them (at least 1), whichever first.
    public var templateRefreshMessages: Int = 100
    /// UDP: the most bytes of one IPFIX message, which is the datagram's payload (512 to 65507).
    /// 1400 fits a 1500-byte path with IPv6 and UDP headers to spare, so no message is
    /// fragmented. A record too large to share a message this size goes alone in a larger one.
    /// TCP messages go up to 65507 bytes.
    public var mtu: Int = 1400
    /// The first wait after a failed connect (seconds), doubled after each failure up to
    /// `maximumBackoff`; a TCP connection that worked and broke is retried at once. (A UDP socket
    /// fails to connect only when its host does not resolve or has no route.)
    public var initialBackoff: Double = 0.1
    public var maximumBackoff: Double = 5
    /// TCP: a connect not done after this many seconds has failed.
    public var connectTimeout: Double = 3

    public init(destination: IPFIXDestination) {
        self.destination = destination
    }

    /// The smallest `mtu` taken: the header, the template set and a typical record fit.
    public static let minimumMTU = 512

    /// The most bytes of one message on this configuration's transport.
    public var maximumMessageBytes: Int {
        destination.transport == .udp
            ? min(IPFIXMessage.maximumBytes, max(Self.minimumMTU, mtu)) : IPFIXMessage.maximumBytes
    }

    public var effectiveQueueFrames: Int { max(1, queueFrames) }
    public var effectiveTemplateRefreshMessages: Int { max(1, templateRefreshMessages) }
}
