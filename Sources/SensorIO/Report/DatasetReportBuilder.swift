import SensorCore

/// Builds a `DatasetReport` in one pass over the frames.
///
/// Memory is bounded by what is distinct, not by the number of frames: per label (at most
/// `maxLabels`, the rest folded into one) a fixed duration histogram, 129 payload-length counts
/// and a count per distinct destination port; `TimeCoverage`'s 4096 time buckets; per file a
/// line. The exception is duplicate detection, which keeps one 128-bit hash per distinct frame
/// (16 bytes each in a hash set: about 40 MB for a million distinct frames).
public struct DatasetReportBuilder {
    public static let maxLabels = 100
    public static let topPorts = 5
    public static let maxExamples = 20

    struct LabelState {
        var name: String?
        var folded = false
        var frames: UInt64 = 0
        var bytes: UInt64 = 0
        var noPayload: UInt64 = 0
        var duplicates: UInt64 = 0
        var duration = LogHistogram()
        var payloadLengths = [UInt64](repeating: 0, count: PacketParser.snapshotMax + 1)
        var ports: [UInt16: UInt64] = [:]
    }

    private var files: [DatasetReport.File] = []
    private var labels: [LabelState] = []
    private var labelIndex: [String?: Int] = [:]
    private var foldedIndex: Int?
    private var seen = Set<UInt128>()
    private var frames: UInt64 = 0
    private var duplicates: UInt64 = 0
    private var badLines: UInt64 = 0
    private var badLineExamples: [String] = []
    private var time = TimeCoverage()
    private var framesWithoutTime: UInt64 = 0
    private var encoded: [UInt8] = []
    private let encoder = FrameEncoder(extended: true)

    public init() {}

    // MARK: - Files

    /// Reads one NDJSON file (plain, gzip or zstd; `-` for stdin) into the report. Never throws:
    /// a file that cannot be opened, or is damaged, is recorded with its error (and what was read
    /// before the damage is kept). Returns the file's entry.
    @discardableResult
    public mutating func read(path: String) -> DatasetReport.File {
        var file = DatasetReport.File(
            path: path, format: nil, lines: 0, frames: 0, badLines: 0, endedEarly: false, error: nil, header: nil)
        let reader: NDJSONReader
        do {
            reader = try NDJSONReader(path: path)
        } catch {
            file.error = "\(error)"
            files.append(file)
            return file
        }
        file.format = reader.format
        file.header = reader.header
        do {
            try reader.forEachFrame { result in
                switch result {
                case .success(let frame):
                    add(frame)
                    file.frames += 1
                case .failure(let error):
                    addBadLine(error.description)
                    file.badLines += 1
                }
            }
        } catch {
            file.error = "\(error)"
        }
        file.lines = reader.linesRead
        file.endedEarly = reader.endedEarly
        files.append(file)
        return file
    }

    /// A file's entry made elsewhere (tests).
    public mutating func add(file: DatasetReport.File) { files.append(file) }

    public mutating func addBadLine(_ message: String) {
        badLines += 1
        if badLineExamples.count < Self.maxExamples { badLineExamples.append(message) }
    }

    // MARK: - Frames

    public mutating func add(_ frame: FlowFrame) {
        frames += 1
        let index = self.index(of: frame.label)
        let duplicate = !seen.insert(hash(frame)).inserted
        if duplicate { duplicates += 1 }
        labels[index].frames += 1
        if duplicate { labels[index].duplicates += 1 }
        let bytes = frame.bytesIn.addingReportingOverflow(frame.bytesOut)
        let total = labels[index].bytes.addingReportingOverflow(bytes.overflow ? .max : bytes.partialValue)
        labels[index].bytes = total.overflow ? .max : total.partialValue
        labels[index].duration.add(frame.duration)
        if let payload = frame.payload, !payload.isEmpty, payload.count < labels[index].payloadLengths.count {
            labels[index].payloadLengths[payload.count] += 1
        } else {
            labels[index].noPayload += 1
        }
        labels[index].ports[frame.destinationPort, default: 0] += 1
        if frame.firstSeen != 0 || frame.lastSeen != 0 {
            time.add(first: frame.firstSeen, last: frame.lastSeen, label: index)
        } else {
            framesWithoutTime += 1
        }
    }

    /// The label's slot; past `maxLabels` distinct labels, the folded slot.
    private mutating func index(of label: String?) -> Int {
        if let index = labelIndex[label] { return index }
        if labels.count < Self.maxLabels {
            labels.append(LabelState(name: label))
            labelIndex[label] = labels.count - 1
            return labels.count - 1
        }
        if let foldedIndex { return foldedIndex }
        labels.append(LabelState(name: nil, folded: true))
        foldedIndex = labels.count - 1
        return labels.count - 1
    }

    /// 128 bits of the frame's every field (its extended JSON, label included): two SipHash
    /// passes with different prefixes (random keys per process: the hashes are compared within
    /// one run only).
    private mutating func hash(_ frame: FlowFrame) -> UInt128 {
        encoded.removeAll(keepingCapacity: true)
        encoder.encode(frame, into: &encoded)
        var high = Hasher()
        var low = Hasher()
        high.combine(0x68 as UInt8)
        low.combine(0x6C as UInt8)
        encoded.withUnsafeBytes {
            high.combine(bytes: $0)
            low.combine(bytes: $0)
        }
        let a = UInt64(UInt(bitPattern: high.finalize()))
        let b = UInt64(UInt(bitPattern: low.finalize()))
        return UInt128(a) << 64 | UInt128(b)
    }

    // MARK: - Result

    public func finish() -> DatasetReport {
        // Most frames first; the folded bucket last.
        let order = labels.indices.sorted { a, b in
            let (x, y) = (labels[a], labels[b])
            if x.folded != y.folded { return !x.folded }
            if x.frames != y.frames { return x.frames > y.frames }
            return (x.name ?? "") < (y.name ?? "")
        }
        let totalBytes = labels.reduce(0.0) { $0 + Double($1.bytes) }
        let reportLabels = order.map { i -> DatasetReport.Label in
            let state = labels[i]
            let ports = state.ports.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .prefix(Self.topPorts).map { (port: $0.key, frames: $0.value) }
            return DatasetReport.Label(
                name: state.name, folded: state.folded, frames: state.frames,
                share: frames == 0 ? 0 : Double(state.frames) / Double(frames), bytes: state.bytes,
                bytesShare: totalBytes == 0 ? 0 : Double(state.bytes) / totalBytes, noPayload: state.noPayload,
                duplicates: state.duplicates, duration: state.duration, payloadLengths: state.payloadLengths,
                topPorts: Array(ports))
        }
        var timeSummary = time.summary(labels: labels.count)
        if var summary = timeSummary {
            summary.bins = summary.bins.map { bin in order.map { bin[$0] } }
            timeSummary = summary
        }
        return DatasetReport(
            files: files, frames: frames, duplicates: duplicates, badLines: badLines,
            badLineExamples: badLineExamples, labels: reportLabels, rules: Self.rules(of: files), time: timeSummary,
            framesWithoutTime: framesWithoutTime)
    }

    /// The distinct rule sets of the files' headers, in the order first seen.
    static func rules(of files: [DatasetReport.File]) -> [DatasetReport.Rules] {
        var result: [DatasetReport.Rules] = []
        for file in files {
            guard let header = file.header else { continue }
            if let i = result.firstIndex(where: {
                $0.sha256 == header.rules.sha256 && $0.source == header.rules.source
                    && $0.labels == header.rules.labels && $0.unmatched == header.unmatched
            }) {
                result[i].files.append(file.path)
                if !result[i].hosts.contains(header.host) { result[i].hosts.append(header.host) }
            } else {
                result.append(
                    DatasetReport.Rules(
                        source: header.rules.source, sha256: header.rules.sha256, labels: header.rules.labels,
                        unmatched: header.unmatched, files: [file.path], hosts: [header.host]))
            }
        }
        return result
    }
}
