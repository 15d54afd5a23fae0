import SensorCore

extension DatasetReport {
    /// The report for a terminal: sections of aligned columns. Text from the files (labels, paths,
    /// rule sources, bad-line messages) goes through `Echo`.
    public func text() -> String {
        var out: [String] = []
        let labelCount = labels.count
        out.append(
            "dps report: \(files.count) file\(files.count == 1 ? "" : "s"), \(ReportFormat.count(frames)) frames, "
                + "\(labelCount) label\(labelCount == 1 ? "" : "s"), \(ReportFormat.count(duplicates)) duplicate frames, "
                + "\(ReportFormat.count(badLines)) bad lines")

        out += ["", "FILES"]
        out += ReportFormat.table(
            [["file", "format", "lines", "frames", "bad lines", "note"]]
                + files.map { file in
                    [
                        Echo.escaped(file.path), file.format?.rawValue ?? "-", ReportFormat.count(file.lines),
                        ReportFormat.count(file.frames), ReportFormat.count(file.badLines), note(file),
                    ]
                }, rightAligned: [2, 3, 4])

        guard !labels.isEmpty else {
            out += ["", "No frames."]
            out += badLinesSection()
            return out.joined(separator: "\n") + "\n"
        }

        out += ["", "LABELS"]
        out += ReportFormat.table(
            [["label", "frames", "share", "bytes", "bytes share", "no payload", "duplicates"]]
                + labels.map { label in
                    [
                        Echo.escaped(label.displayName, limit: 40), ReportFormat.count(label.frames),
                        ReportFormat.percent(label.share), ReportFormat.bytes(label.bytes),
                        ReportFormat.percent(label.bytesShare), ReportFormat.count(label.noPayload),
                        ReportFormat.count(label.duplicates),
                    ]
                }
                + [
                    [
                        "total", ReportFormat.count(frames), "100.0%", "", "",
                        ReportFormat.count(labels.reduce(0) { $0 + $1.noPayload }), ReportFormat.count(duplicates),
                    ]
                ],
            rightAligned: [1, 2, 3, 4, 5, 6])

        out += ["", "DURATION (nearest-rank quantiles, within 2.3%)"]
        out += ReportFormat.table(
            [["label", "min", "median", "p90", "p99", "max", "mean"]]
                + labels.compactMap { label in
                    guard let d = label.durations else { return nil }
                    return [Echo.escaped(label.displayName, limit: 40)]
                        + [d.min, d.median, d.p90, d.p99, d.max, d.mean].map(ReportFormat.seconds)
                }, rightAligned: [1, 2, 3, 4, 5, 6])

        out += ["", "PAYLOAD BYTES (frames with a payload; exact)"]
        out += ReportFormat.table(
            [["label", "frames", "min", "median", "p90", "p99", "max"]]
                + labels.map { label in
                    guard let p = label.payload else {
                        return [Echo.escaped(label.displayName, limit: 40), "0", "-", "-", "-", "-", "-"]
                    }
                    return [Echo.escaped(label.displayName, limit: 40), ReportFormat.count(p.count)]
                        + [p.min, p.median, p.p90, p.p99, p.max].map(ReportFormat.length)
                }, rightAligned: [1, 2, 3, 4, 5, 6])

        out += ["", "TOP DESTINATION PORTS (share of the label's frames)"]
        out += ReportFormat.table(
            labels.map { label in
                [Echo.escaped(label.displayName, limit: 40)]
                    + label.topPorts.map {
                        "\($0.port) (\(ReportFormat.percent(Double($0.frames) / Double(label.frames))))"
                    }
            }, rightAligned: [])

        out += ["", "RULES (from the files' dataset headers)"]
        if rules.isEmpty {
            out.append("  none recorded: no file carries a dataset header")
        }
        for set in rules {
            out.append(
                "  \(Echo.escaped(set.source)) (sha256 \(Echo.escaped(set.sha256.prefix(12)))…), unmatched: "
                    + Echo.escaped(set.unmatched, limit: 40))
            out.append("    labels: \(set.labels.map { Echo.escaped($0, limit: 40) }.joined(separator: ", "))")
            out.append("    hosts: \(set.hosts.map { Echo.escaped($0, limit: 64) }.joined(separator: ", "))")
            out.append("    files: \(set.files.map { Echo.escaped($0) }.joined(separator: ", "))")
        }

        out += ["", "TIME (first_seen / last_seen, UTC)"]
        if let time {
            out += ReportFormat.table(
                [
                    ["first seen", ReportFormat.utc(time.first)],
                    ["last seen", ReportFormat.utc(time.last)],
                    ["span", ReportFormat.seconds(time.spanSeconds)],
                ], rightAligned: [])
            if framesWithoutTime > 0 {
                out.append("  \(ReportFormat.count(framesWithoutTime)) frames carry no first_seen (not counted here)")
            }
            let threshold = ReportFormat.seconds(Double(time.gapThreshold) / 1e6)
            if time.gaps.isEmpty {
                out.append("  gaps longer than \(threshold): none")
            } else {
                out.append("  gaps longer than \(threshold): \(time.gaps.count)")
                out += ReportFormat.table(
                    time.gaps.map {
                        [
                            "\(ReportFormat.utc($0.start)) → \(ReportFormat.utc($0.end))",
                            ReportFormat.seconds($0.seconds),
                        ]
                    },
                    rightAligned: [1], indent: "    ")
            }
        } else {
            out.append(
                "  unknown: frames carry no first_seen (dps label --extended, and the sensor's dataset files, write it)"
            )
        }
        out += badLinesSection()
        return out.joined(separator: "\n") + "\n"
    }

    private func badLinesSection() -> [String] {
        guard badLines > 0 else { return [] }
        var out = ["", "BAD LINES: \(ReportFormat.count(badLines))"]
        out += badLineExamples.map { "  " + Echo.escaped($0, limit: 200) }
        if badLines > UInt64(badLineExamples.count) {
            out.append("  … and \(ReportFormat.count(badLines - UInt64(badLineExamples.count))) more")
        }
        return out
    }

    /// What went wrong with a file, if anything.
    func note(_ file: File) -> String {
        var notes: [String] = []
        if file.endedEarly { notes.append("cut short: the compressed data ends early") }
        if let error = file.error { notes.append("error: \(Echo.escaped(error, limit: 200))") }
        if file.header != nil { notes.append("dataset header") }
        return notes.joined(separator: "; ")
    }
}
