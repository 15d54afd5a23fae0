import Foundation
import SensorCore
import SensorIO
import Testing
import TestSupport

/// Include/exclude rules and libpcap filter expressions on pcap input: each checked against an
/// unfiltered run of the same shared capture (the frames left are the unfiltered ones minus those
/// of the flows the filter names, and the packets counted as filtered are those flows' packets).
@Suite("pcap filters")
struct PcapFilterTests {
    /// One run of `labelCapture`: every frame (unmatched ones labeled too), and the stats.
    struct Run {
        var frames: [FlowFrame]
        var stats: CaptureLabelingStats

        /// The frames as extended NDJSON lines, sorted, flow IDs cleared: flow IDs are numbered
        /// per table, so removing a flow renumbers those after it.
        var lines: [String] {
            frames.map { frame in
                var frame = frame
                frame.flowID = 0
                return FrameEncoder(extended: true).string(frame)
            }.sorted()
        }

        /// The extended lines in output order, flow IDs kept.
        var exactLines: [String] { frames.map(FrameEncoder(extended: true).string) }
    }

    func label(_ capture: String, filter: PacketFilter = .none, expression: String? = nil) throws -> Run {
        let sink = LabelCollectingSink()
        let labeling = LabelingSink(
            labeler: Labeler(maxPendingFlows: 1 << 19), unmatched: .label("unmatched"), next: sink)
        let stats = try labeling.labelCapture(
            path: SharedCaptures.path(capture), configuration: .testing(), filter: filter, expression: expression)
        #expect(stats.frames == UInt64(sink.frames.count))
        return Run(frames: sink.frames, stats: stats)
    }

    /// The filter's verdict on a flow: that of any of its packets (a rule looks at addresses,
    /// ports and protocol only, which every packet of a flow shares with its frame).
    func verdict(_ filter: PacketFilter, _ frame: FlowFrame) -> PacketFilter.Verdict {
        filter.verdict(
            PacketEvent(
                timestamp: frame.firstSeen, source: frame.source, destination: frame.destination,
                sourcePort: frame.sourcePort, destinationPort: frame.destinationPort, transport: frame.protocolNumber,
                payloadLength: 0))
    }

    func packets(_ frames: [FlowFrame]) -> UInt64 { frames.reduce(0) { $0 + $1.packetsIn + $1.packetsOut } }

    /// Checks `filtered` against `all`: the frames left are those the filter observes, and the
    /// packets counted excluded and not included are those of the frames it leaves out for that
    /// reason. Returns how many frames it left out.
    @discardableResult
    func expectFiltered(
        _ filtered: Run, _ all: Run, by filter: PacketFilter, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Int {
        let kept = all.frames.filter { verdict(filter, $0) == .observe }
        let excluded = all.frames.filter { verdict(filter, $0) == .excluded }
        let notIncluded = all.frames.filter { verdict(filter, $0) == .notIncluded }
        #expect(filtered.lines == Run(frames: kept, stats: all.stats).lines, sourceLocation: sourceLocation)
        #expect(filtered.stats.packetsExcluded == packets(excluded), sourceLocation: sourceLocation)
        #expect(filtered.stats.packetsNotIncluded == packets(notIncluded), sourceLocation: sourceLocation)
        #expect(filtered.stats.packetsRejectedByExpression == 0, sourceLocation: sourceLocation)
        #expect(filtered.stats.packetsRead == all.stats.packetsRead, sourceLocation: sourceLocation)
        #expect(filtered.stats.packetsSkipped == all.stats.packetsSkipped, sourceLocation: sourceLocation)
        #expect(filtered.stats.trailingPackets == all.stats.trailingPackets, sourceLocation: sourceLocation)
        return excluded.count + notIncluded.count
    }

    @Test(
        "exclude rules remove exactly the flows they name, and count those flows' packets",
        arguments: [
            ("netflix.pcap", ["port 53"]), ("iphone.pcap", ["port 53"]), ("iphone.pcap", ["192.168.2.1"]),
            ("iphone.pcap", ["proto udp", "fe80::/10"]), ("gnutella.pcap", ["proto tcp port 6346"]),
            ("googledns_android10.pcap", ["proto tcp port 853"]), ("quic.pcap", ["port 6121"]),
        ])
    func excludeRules(capture: String, rules: [String]) throws {
        let all = try label(capture)
        let filter = try PacketFilter(include: [], exclude: rules)
        let filtered = try label(capture, filter: filter)
        #expect(expectFiltered(filtered, all, by: filter) > 0, "the rules name no flow of \(capture)")
        #expect(filtered.stats.packetsExcluded > 0 && filtered.stats.packetsFiltered == filtered.stats.packetsExcluded)
        #expect(filtered.frames.count < all.frames.count)
    }

    @Test(
        "include rules keep exactly the flows they name",
        arguments: [
            ("iphone.pcap", ["proto udp"]), ("iphone.pcap", ["port 443", "port 80"]),
            ("netflix.pcap", ["192.168.1.7 port 443"]), ("http_ipv6.pcap", ["2000::/3 proto tcp"]),
        ])
    func includeRules(capture: String, rules: [String]) throws {
        let all = try label(capture)
        let filter = try PacketFilter(include: rules, exclude: [])
        let filtered = try label(capture, filter: filter)
        #expect(expectFiltered(filtered, all, by: filter) > 0, "the rules keep every flow of \(capture)")
        #expect(!filtered.frames.isEmpty && filtered.stats.packetsNotIncluded > 0)
        #expect(filtered.stats.packetsExcluded == 0)
    }

    @Test("exclude wins over include: UDP flows but DNS's, DNS counted excluded, the rest not included")
    func excludeWins() throws {
        let all = try label("iphone.pcap")
        let filter = try PacketFilter(include: ["proto udp"], exclude: ["port 53"])
        let filtered = try label("iphone.pcap", filter: filter)
        expectFiltered(filtered, all, by: filter)
        let dns = all.frames.filter { $0.sourcePort == 53 || $0.destinationPort == 53 }
        #expect(!dns.isEmpty && filtered.stats.packetsExcluded == packets(dns))
        #expect(filtered.frames.allSatisfy { $0.transport == .udp && $0.sourcePort != 53 && $0.destinationPort != 53 })
        #expect(!filtered.frames.isEmpty)
    }

    @Test("every shared capture: the frames left are the unfiltered frames minus those the rules leave out")
    func everyCapture() throws {
        let filters = [
            try PacketFilter(include: [], exclude: ["proto udp"]),
            try PacketFilter(include: ["proto tcp port 80-443", "proto icmp"], exclude: ["10.0.0.0/8"]),
        ]
        for name in SharedCaptures.all {
            let all = try label(name)
            for filter in filters { expectFiltered(try label(name, filter: filter), all, by: filter) }
        }
    }

    /// libpcap's `port 53` and the rule `port 53` agree on these captures: IPv4 and IPv6 DNS over
    /// UDP, no VLAN tag or IPv6 extension header in front of a DNS packet (libpcap's `port` does
    /// not look past them unless told to). The same packets reach the same table in the same
    /// order: the same frames, flow IDs and all.
    @Test("--filter 'not port 53' gives the frames of --exclude 'port 53'", arguments: ["netflix.pcap", "iphone.pcap"])
    func expressionAgreesWithRule(capture: String) throws {
        let byRule = try label(capture, filter: PacketFilter(include: [], exclude: ["port 53"]))
        let byExpression = try label(capture, expression: "not port 53")
        #expect(byExpression.exactLines == byRule.exactLines)
        #expect(byRule.stats.packetsExcluded > 0)
        #expect(byExpression.stats.packetsRejectedByExpression == byRule.stats.packetsExcluded)
        #expect(byExpression.stats.packetsExcluded == 0 && byExpression.stats.packetsNotIncluded == 0)
        #expect(byExpression.stats.packetsSkipped == byRule.stats.packetsSkipped)
    }

    @Test("an expression and rules together: a packet must pass both, each counting its own")
    func expressionAndRules() throws {
        let all = try label("iphone.pcap")
        let both = try label(
            "iphone.pcap", filter: PacketFilter(include: [], exclude: ["port 53"]), expression: "udp")
        let udp = all.frames.filter { $0.transport == .udp }
        let dns = udp.filter { $0.sourcePort == 53 || $0.destinationPort == 53 }
        let kept = udp.filter { $0.sourcePort != 53 && $0.destinationPort != 53 }
        #expect(!dns.isEmpty && !kept.isEmpty)
        #expect(both.lines == Run(frames: kept, stats: all.stats).lines)
        #expect(both.stats.packetsExcluded == packets(dns))
        // The expression runs first, on every record: it rejects the non-UDP ones, IP or not.
        #expect(both.stats.packetsRejectedByExpression == all.stats.packetsRead - packets(udp))
        #expect(both.stats.packetsSkipped == 0)
    }

    @Test("PcapSource: every record read is delivered, skipped or filtered, once")
    func sourceCountersAddUp() throws {
        let source = try PcapSource(
            path: SharedCaptures.path("iphone.pcap"),
            filter: PacketFilter(include: ["proto udp", "proto tcp"], exclude: ["port 443"]), expression: "ip or ip6")
        var delivered: UInt64 = 0
        try source.forEachPacket { event, _ in
            delivered += 1
            #expect(event.transport == 6 || event.transport == 17)
            #expect(event.sourcePort != 443 && event.destinationPort != 443)
        }
        #expect(delivered + source.skipped + source.filtered == source.packetsRead)
        #expect(source.filtered == source.rejectedByExpression + source.excluded + source.notIncluded)
        // ARP rejected by the expression, HTTPS excluded, ICMP not included.
        #expect(delivered > 0 && source.rejectedByExpression > 0 && source.excluded > 0 && source.notIncluded > 0)
        #expect(source.filter.include.count == 2)
    }

    @Test("an expression libpcap cannot compile: an error naming file, expression and libpcap's reason")
    func badExpression() throws {
        let path = SharedCaptures.path("http.pcapng")
        let error = #expect(throws: PcapError.self) { try PcapSource(path: path, expression: "tcp andd") }
        #expect(error?.code == .badExpression)
        let reason = "filter expression \"tcp andd\": can't parse filter expression: syntax error"
        #expect(error?.description == "\(path): \(reason)")
        let port = #expect(throws: PcapError.self) { try PcapSource(path: path, expression: "port 99999") }
        #expect(port?.description.hasSuffix("\"port 99999\": illegal port number 99999 > 65535") == true)
        // Compiled for the file's link type: 802.11 addresses are no Ethernet's.
        let wlan = #expect(throws: PcapError.self) { try PcapSource(path: path, expression: "wlan addr1 2:0:0:0:0:1") }
        #expect(wlan?.description.contains("only supported on 802.11") == true)

        let sink = LabelCollectingSink()
        let labeling = LabelingSink(labeler: Labeler(maxPendingFlows: 1 << 19), next: sink)
        let labelingError = #expect(throws: CaptureLabelingError.self) {
            try labeling.labelCapture(path: path, configuration: .testing(), expression: "tcp andd")
        }
        #expect((labelingError?.underlying as? PcapError)?.code == .badExpression)
        #expect(labelingError?.stats.packetsRead == 0 && sink.frames.isEmpty)
    }

    // MARK: - dps label

    func dps(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        try sh([TestPaths.dps, "label"] + arguments, timeout: 120)
    }

    @Test("dps label --pcap --exclude 'port 53': no DNS frame, the filtered packets in the log line; --filter agrees")
    func commandLine() throws {
        let capture = SharedCaptures.path("netflix.pcap")
        let all = try dps(["--pcap", capture, "--out", "-", "--unmatched", "other"])
        let excluded = try dps(["--pcap", capture, "--out", "-", "--unmatched", "other", "--exclude", "port 53"])
        let expression = try dps(["--pcap", capture, "--out", "-", "--unmatched", "other", "--filter", "not port 53"])
        #expect(all.status == 0 && excluded.status == 0 && expression.status == 0, "\(excluded.err)\(expression.err)")
        // Lines compared without the page padding (trailing spaces), which depends on the neighbours.
        func lines(_ text: String) -> [Substring] { text.split(separator: "\n").map { $0.prefix { $0 != " " } } }
        let dns = lines(all.out).filter { $0.contains("_port\":53,") }
        #expect(dns.count == 12)
        #expect(lines(excluded.out) == lines(all.out).filter { !dns.contains($0) })
        #expect(expression.out == excluded.out)
        // DNS is 28 of the 1793 packets.
        #expect(!all.err.contains("filtered="), "\(all.err)")
        #expect(excluded.err.contains("excluded=28 "), "\(excluded.err)")
        #expect(excluded.err.contains("filter_rejected=0 filtered=28 "), "\(excluded.err)")
        #expect(excluded.err.contains("not_included=0 packets=1793 "), "\(excluded.err)")
        #expect(expression.err.contains("filter_rejected=28 filtered=28 "), "\(expression.err)")
    }

    @Test("a bad --filter: libpcap's reason on one line, exit 1, before any work")
    func commandLineBadExpression() throws {
        let directory = try PcapTempDirectory()
        let out = directory.path("frames.ndjson")
        let capture = SharedCaptures.path("netflix.pcap")
        // Checked before any file is read: the error names the first file, the output is not created.
        let first = SharedCaptures.path("http.pcapng")
        let run = try dps(["--pcap", first, capture, "--out", out, "--filter", "udp port"])
        #expect(run.status == 1)
        let lines = run.err.split(separator: "\n")
        #expect(lines.count == 1, "\(run.err)")
        #expect(lines.first?.hasPrefix("dps: error: \(first): filter expression \"udp port\": ") == true, "\(run.err)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test("--filter is for --pcap: refused with --interface and --ndjson, saying why")
    func commandLineFilterNeedsPcap() throws {
        let live = try dps(["--interface", "lo", "--out", "-", "--filter", "tcp"])
        #expect(live.status == 64 && live.out.isEmpty)
        #expect(
            live.err.contains(
                "--filter is for --pcap input: live capture filters with --include/--exclude, which the BPF program "
                    + "evaluates in the kernel"), "\(live.err)")
        let directory = try PcapTempDirectory()
        let frames = directory.path("frames.ndjson")
        try Data().write(to: URL(fileURLWithPath: frames))
        let ndjson = try dps(["--ndjson", frames, "--out", "-", "--filter", "tcp"])
        #expect(ndjson.status == 64 && ndjson.err.contains("--filter is for --pcap input"), "\(ndjson.err)")
    }
}
