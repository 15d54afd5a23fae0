import Logging
import SensorCore

/// What happens to a frame no rule matches.
public enum UnmatchedPolicy: Equatable, Sendable {
    /// Not written (counted).
    case skip
    /// Written with this label (counted as unmatched too).
    case label(String)

    /// `skip`, or any other word as the label.
    public init(argument: String) {
        self = argument == "skip" ? .skip : .label(argument)
    }
}

/// Labels each frame with a `Labeler` and forwards it to another sink (a `LineWriter`); counts
/// frames per label, unmatched frames and input errors (reported by the sources through
/// `countError()`). Every frame also goes, before labeling, to `unlabeled` when there is one:
/// IPFIX collectors, which carry no label and want every flow, the unmatched ones too. With no
/// `next`, frames are only passed on there, not labeled.
public final class LabelingSink: FrameSink {
    public let labeler: Labeler
    public let unmatched: UnmatchedPolicy
    private let next: FrameSink?
    private let unlabeled: FrameSink?

    /// Frames labeled by each rule, by rule index.
    private var perRule: [UInt64]
    public private(set) var unmatchedFrames: UInt64 = 0
    public private(set) var errors: UInt64 = 0

    public init(labeler: Labeler, unmatched: UnmatchedPolicy = .skip, next: FrameSink?, unlabeled: FrameSink? = nil) {
        precondition(next != nil || unlabeled != nil, "LabelingSink: no sink to write to")
        self.labeler = labeler
        self.unmatched = unmatched
        self.next = next
        self.unlabeled = unlabeled
        perRule = Array(repeating: 0, count: labeler.rules.rules.count)
    }

    public func write(_ frame: FlowFrame) {
        unlabeled?.write(frame)
        guard let next else { return }
        var frame = frame
        if let rule = labeler.decide(frame) {
            perRule[rule] += 1
            frame.label = labeler.rules.rules[rule].label
        } else {
            unmatchedFrames += 1
            switch unmatched {
            case .skip: return
            case .label(let name): frame.label = name
            }
        }
        next.write(frame)
    }

    public func flush() {
        next?.flush()
        unlabeled?.flush()
    }

    /// Finishes both; `timeout` applies to each (the file writer takes none).
    public func finish(timeout: Double) {
        next?.finish(timeout: timeout)
        unlabeled?.finish(timeout: timeout)
    }

    public var statistics: [(key: String, value: UInt64)] {
        [("label_unmatched", unmatchedFrames), ("label_errors", errors)] + (next?.statistics ?? [])
            + (unlabeled?.statistics ?? [])
    }

    /// Frames the labeled output took; without one, frames the unlabeled one took.
    public var framesWritten: UInt64 { (next ?? unlabeled!).framesWritten }

    public var isClosed: Bool { (next ?? unlabeled!).isClosed }

    /// Counts one input error (a bad NDJSON line, a damaged capture).
    public func countError() { errors += 1 }

    /// Frames labeled per label, in rule order (rules sharing a label are summed), then the
    /// `--unmatched NAME` label if frames got it.
    public var framesPerLabel: [(label: String, frames: UInt64)] {
        var result: [(label: String, frames: UInt64)] = []
        for (rule, count) in zip(labeler.rules.rules, perRule) {
            if let i = result.firstIndex(where: { $0.label == rule.label }) {
                result[i].frames += count
            } else {
                result.append((rule.label, count))
            }
        }
        if case .label(let name) = unmatched {
            if let i = result.firstIndex(where: { $0.label == name }) {
                result[i].frames += unmatchedFrames
            } else {
                result.append((name, unmatchedFrames))
            }
        }
        return result
    }

    /// `labels: benign=743 bittorrent=113 ... unmatched=0 (skipped) errors=0 written=1000`.
    public var summary: String {
        guard next != nil else { return "labels: none (no --out) errors=\(errors) written=\(framesWritten)" }
        let labels = framesPerLabel.map { "\($0.label)=\($0.frames)" }.joined(separator: " ")
        let policy: String
        switch unmatched {
        case .skip: policy = "skipped"
        case .label(let name): policy = "labeled \(name)"
        }
        return "labels: \(labels) unmatched=\(unmatchedFrames) (\(policy)) errors=\(errors) written=\(framesWritten)"
    }
}

/// What reading one capture file gave (the counters of `PcapSource` and of the flow table).
public struct CaptureLabelingStats: Sendable, Equatable {
    public var packetsRead: UInt64 = 0
    public var packetsSkipped: UInt64 = 0
    /// Packets an exclude rule matched.
    public var packetsExcluded: UInt64 = 0
    /// Packets no include rule matched.
    public var packetsNotIncluded: UInt64 = 0
    /// Records the libpcap filter expression rejected.
    public var packetsRejectedByExpression: UInt64 = 0
    /// Tunnel packets whose inner packet could not be read: counted as their outer packet.
    public var packetsTunnelOuter: UInt64 = 0
    public var frames: UInt64 = 0
    public var trailingPackets: UInt64 = 0

    /// Packets the filters left out, for every reason.
    public var packetsFiltered: UInt64 { packetsExcluded + packetsNotIncluded + packetsRejectedByExpression }
}

/// How far a capture (a file, or live) has got, for a progress line.
public struct CaptureProgress: Sendable, Equatable {
    public var packets: UInt64
    public var flowsOpen: Int
    public var frames: UInt64
    /// The share of the file read (0...1), when known.
    public var fractionRead: Double?

    public init(packets: UInt64, flowsOpen: Int, frames: UInt64, fractionRead: Double? = nil) {
        self.packets = packets
        self.flowsOpen = flowsOpen
        self.frames = frames
        self.fractionRead = fractionRead
    }
}

/// A capture whose reading stopped at damage: every flow before it was still labeled and written.
public struct CaptureLabelingError: Error, CustomStringConvertible {
    public var underlying: any Error
    public var stats: CaptureLabelingStats
    public var description: String { "\(underlying)" }
}

extension LabelingSink {
    /// Packets between two progress reports while reading a capture file.
    public static let progressPackets = 65_536

    /// Reads a pcap/pcapng file through a flow table of its own, the capture's timestamps driving
    /// the table's clock (the same file always gives the same frames), and labels every frame into
    /// this sink; the table is drained at the end of the file. At damage, the flows read up to it
    /// are drained and written first, then a `CaptureLabelingError` naming the file and packet is
    /// thrown. Only packets that pass both `filter` (include/exclude rules) and `expression` (a
    /// libpcap filter expression; one libpcap cannot compile is thrown before any packet is read)
    /// reach the table; the stats count the others per reason, and their timestamps still move the
    /// table's clock, so the frames of the flows kept are those an unfiltered read gives.
    /// `progress`, when given, is called every `progressPackets` packets with how far it is.
    @discardableResult
    public func labelCapture(
        path: String, configuration: FlowTableConfiguration, filter: PacketFilter = .none, expression: String? = nil,
        progress: ((CaptureProgress) -> Void)? = nil
    ) throws(CaptureLabelingError) -> CaptureLabelingStats {
        let table = FlowTable(configuration: configuration, emit: { [unowned self] in self.write($0) })
        var stats = CaptureLabelingStats()
        var damage: (any Error)?
        // Packets left out by a filter still move the clock: the flows kept end as they would unfiltered.
        let clock: ((Int64) -> Void)? =
            filter.isEmpty && expression == nil ? nil : { [unowned table] timestamp in table.advance(to: timestamp) }
        do {
            let source = try PcapSource(path: path, filter: filter, expression: expression)
            do {
                if let progress {
                    var untilReport = Self.progressPackets
                    try source.forEachPacket(filtered: clock) { event, snapshot in
                        table.ingest(event, snapshot: snapshot)
                        untilReport -= 1
                        if untilReport == 0 {
                            untilReport = Self.progressPackets
                            progress(
                                CaptureProgress(
                                    packets: table.stats.packets, flowsOpen: table.count, frames: table.stats.frames,
                                    fractionRead: source.position.flatMap { position in
                                        source.fileSize.map { $0 > 0 ? min(1, Double(position) / Double($0)) : 1 }
                                    }))
                        }
                    }
                } else {
                    try source.forEachPacket(filtered: clock) { event, snapshot in
                        table.ingest(event, snapshot: snapshot)
                    }
                }
            } catch {
                damage = error
            }
            stats.packetsRead = source.packetsRead
            stats.packetsSkipped = source.skipped
            stats.packetsExcluded = source.excluded
            stats.packetsNotIncluded = source.notIncluded
            stats.packetsRejectedByExpression = source.rejectedByExpression
            stats.packetsTunnelOuter = source.tunnelOuter
        } catch {
            damage = error
        }
        table.drain()
        flush()
        labeler.reset()  // flow IDs start over with the next file's table
        stats.frames = table.stats.frames
        stats.trailingPackets = table.stats.trailingPackets
        if let damage { throw CaptureLabelingError(underlying: damage, stats: stats) }
        return stats
    }
}
