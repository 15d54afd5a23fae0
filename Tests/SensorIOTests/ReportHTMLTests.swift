import CZlib
import Crypto
import Foundation
import SensorCore
import TestSupport
import Testing

@testable import SensorIO

/// The HTML report in a real browser: Debian's `chromium`, headless, takes a screenshot of the
/// page and dumps the DOM it built. The page must render its charts: one bar per label in the
/// class balance (with the label's frames), one duration histogram per label (its bins adding up
/// to the label's frames), the frames-over-time bars and the gap; and the screenshot must show
/// every label's color.
@Suite("dps report --html in chromium")
struct ReportHTMLTests {
    typealias Scratch = DecompressingReaderTests.Scratch

    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// The labels and their colors, in the report's order (most frames first).
    static let labels = ["benign", "bittorrent", "ssh_bruteforce", "malware_c2"]
    static let colors: [(UInt8, UInt8, UInt8)] = [
        (0x4E, 0x79, 0xA7), (0xF2, 0x8E, 0x2B), (0xE1, 0x57, 0x59), (0x76, 0xB7, 0xB2),
    ]

    /// `dps generate` frames given first_seen/last_seen over 3 hours with a 25-minute hole, in a
    /// gzip file whose comment holds a DatasetHeader; the shared sample (no times) as zstd.
    static func makeInput(in dir: Scratch) throws -> [String] {
        try dir.shell("'\(TestPaths.dps)' generate --count 6000 --seed 7 --out gen.ndjson 2>/dev/null")
        let rulesText = RulesFile.render(RuleSet.defaults, format: .yaml)
        let header = DatasetHeader(
            host: "sensor-test", started: "2026-11-30T15:00:00Z",
            rules: .init(
                source: "built-in",
                sha256: SHA256.hash(data: Data(rulesText.utf8)).map { String(format: "%02x", $0) }.joined(),
                labels: RuleSet.defaults.rules.map(\.label), text: rulesText),
            unmatched: "skip")
        try dir.write("header.json", header.json())
        try FileManager.default.copyItem(atPath: LabelSharedData.sampleFlows, toPath: dir.path("sample.ndjson"))
        try dir.shell(
            """
            python3 -c '
            import json, random, struct, zlib
            random.seed(7)
            t0 = 1796050800.0
            lines = []
            for line in open("gen.ndjson"):
                f = json.loads(line)
                label = f.pop("label")
                t = t0 + random.random() ** 0.8 * 3 * 3600
                if t0 + 4200 <= t < t0 + 5700: t += 1500
                f.update({"packets_in": 3, "packets_out": 2, "first_seen": round(t, 6), "last_seen": round(t + f["duration"], 6),
                          "tcp_flags": "", "end_reason": "idle", "interface": "eth0", "vlan": 0, "label": label})
                lines.append(json.dumps(f, separators=(",", ":")))
            data = ("\\n".join(lines) + "\\n").encode()
            deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
            body = deflate.compress(data) + deflate.flush()
            head = b"\\x1f\\x8b\\x08\\x10" + struct.pack("<I", 0) + b"\\x00\\x03" + open("header.json", "rb").read() + b"\\x00"
            open("timed.ndjson.gz", "wb").write(head + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xffffffff))
            '
            zstd -q sample.ndjson
            """)
        return [dir.path("timed.ndjson.gz"), dir.path("sample.ndjson.zst")]
    }

    @Test(
        "the page renders its charts in headless chromium: bars, histograms, time bars, the gap, every label's color",
        .enabled(if: chromium != nil, "chromium is not installed (Debian package chromium)"), .timeLimit(.minutes(1)))
    func chromiumRenders() throws {
        let chromium = try #require(Self.chromium)
        let dir = try Scratch()
        let inputs = try Self.makeInput(in: dir)
        let page = dir.path("report.html")
        let result = try sh([TestPaths.dps, "report", "--html", page, "--json"] + inputs, timeout: 60)
        #expect(result.status == 0, "\(result.err)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any])
        let labels = try #require(json["labels"] as? [[String: Any]])
        #expect(labels.map { $0["label"] as? String } == Self.labels)
        let frames = labels.map { $0["frames"] as? Int ?? -1 }
        #expect(frames.reduce(0, +) == 7000)

        // Offline and self-contained: nothing to fetch.
        let html = try String(contentsOfFile: page, encoding: .utf8)
        for needle in ["<script", "<link", "<img", "@import", "url(http", "src="] {
            #expect(!html.contains(needle), "the page holds \(needle)")
        }

        let browser = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--user-data-dir=\(dir.path("profile"))",
        ]
        let shot = dir.path("report.png")
        let screenshot = try sh(
            browser + ["--screenshot=\(shot)", "--window-size=1280,2000", "file://\(page)"], timeout: 30)
        #expect(screenshot.status == 0, "\(screenshot.err)")
        // DPS_REPORT_SCREENSHOT=FILE keeps the screenshot (to look at it).
        if let keep = ProcessInfo.processInfo.environment["DPS_REPORT_SCREENSHOT"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: shot, toPath: keep)
        }
        let dump = try sh(browser + ["--dump-dom", "file://\(page)"], timeout: 30)
        #expect(dump.status == 0, "\(dump.err)")
        let dom = dump.out

        // The DOM chromium built: the class balance has one bar per label, carrying its frames.
        let bars = Self.elements("rect", class: "bar", in: dom)
        #expect(bars.map { $0["data-label"] } == Self.labels)
        #expect(bars.map { Int($0["data-frames"] ?? "") ?? -1 } == frames)
        // One duration histogram per label; its bins hold all the label's frames.
        let histograms = Self.elements("svg", class: "chart histogram", in: dom)
        #expect(histograms.map { $0["data-label"] } == Self.labels)
        let bins = Self.elements("rect", class: "hbar", in: dom)
        #expect(bins.count == Self.labels.count * (bins.count / Self.labels.count) && bins.count >= 4 * 10)
        let binFrames = bins.reduce(0) { $0 + (Int($1["data-frames"] ?? "") ?? 0) }
        #expect(binFrames == 7000)
        // Frames over time: stacked bars of the 6,000 timed frames, one gap, the notice for the rest.
        let timeBars = Self.elements("rect", class: "tbar", in: dom)
        #expect(timeBars.reduce(0) { $0 + (Int($1["data-frames"] ?? "") ?? 0) } == 6000)
        #expect(Set(timeBars.compactMap { $0["data-label"] }) == Set(Self.labels))
        #expect(Self.elements("rect", class: "gap", in: dom).count == 1)
        #expect(dom.contains("1,000 frames carry no <code>first_seen</code>"))
        // The header's rules.
        #expect(dom.contains("sensor-test") && dom.contains("<code>ssh_bruteforce</code>"))

        // The screenshot: the window's size, not blank, and every label's color painted.
        let image = try PNGImage(path: shot)
        #expect(image.width == 1280 && image.height == 2000)
        let counts = image.colorCounts()
        #expect(counts.count > 200, "\(counts.count) distinct colors")
        for (label, color) in zip(Self.labels, Self.colors) {
            let key = UInt32(color.0) << 16 | UInt32(color.1) << 8 | UInt32(color.2)
            #expect((counts[key] ?? 0) > 2000, "\(label): \(counts[key] ?? 0) pixels of its color")
        }
    }

    @Test("no first_seen: the page says so instead of drawing the time chart; hostile labels are escaped")
    func noTimeAndEscaping() throws {
        var builder = DatasetReportBuilder()
        for label in ["<script>alert(1)</script>", "a&b \"q\"", "benign"] {
            builder.add(DatasetReportTests.frame(label: label))
        }
        let html = builder.finish().html()
        #expect(html.contains("id=\"no-time\""))
        #expect(!html.contains("id=\"time-chart\""))
        #expect(!html.contains("<script"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("data-label=\"a&amp;b &quot;q&quot;\""))
    }

    /// The attributes of each `<tag class="…">` element, in document order (chromium writes
    /// attributes with double quotes).
    static func elements(_ tag: String, class name: String, in dom: String) -> [[String: String]] {
        var result: [[String: String]] = []
        var rest = dom[...]
        while let start = rest.range(of: "<\(tag) ") {
            guard let end = rest[start.upperBound...].firstIndex(of: ">") else { break }
            let text = rest[start.upperBound..<end]
            var attributes: [String: String] = [:]
            var scan = text[...]
            while let eq = scan.range(of: "=\"") {
                let key = scan[..<eq.lowerBound].split(separator: " ").last.map(String.init) ?? ""
                guard let close = scan[eq.upperBound...].firstIndex(of: "\"") else { break }
                attributes[key] = String(scan[eq.upperBound..<close])
                scan = scan[scan.index(after: close)...]
            }
            if attributes["class"] == name { result.append(attributes) }
            rest = rest[end...]
        }
        return result
    }
}

/// Just enough PNG to check a screenshot: 8-bit RGB or RGBA, not interlaced (what chromium
/// writes); zlib inflates the pixel data, the five row filters are undone here.
struct PNGImage {
    var width = 0
    var height = 0
    var channels = 0
    var pixels: [UInt8] = []

    struct Unsupported: Error, CustomStringConvertible {
        var description: String
    }

    init(path: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard bytes.count > 33, bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            throw Unsupported(description: "not a PNG")
        }
        func be32(_ at: Int) -> Int {
            Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        }
        var offset = 8
        var compressed: [UInt8] = []
        while offset + 8 <= bytes.count {
            let length = be32(offset)
            let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
            let data = offset + 8
            guard data + length <= bytes.count else { throw Unsupported(description: "chunk past the end") }
            if type == "IHDR" {
                width = be32(data)
                height = be32(data + 4)
                guard bytes[data + 8] == 8, bytes[data + 12] == 0 else {
                    throw Unsupported(description: "not 8-bit, or interlaced")
                }
                switch bytes[data + 9] {
                case 2: channels = 3
                case 6: channels = 4
                default: throw Unsupported(description: "color type \(bytes[data + 9])")
                }
            } else if type == "IDAT" {
                compressed += bytes[data..<data + length]
            } else if type == "IEND" {
                break
            }
            offset = data + length + 4
        }
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: height * (stride + 1))
        var rawLength = uLongf(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { out in
            compressed.withUnsafeBufferPointer {
                uncompress(out.baseAddress, &rawLength, $0.baseAddress, uLong($0.count))
            }
        }
        guard status == Z_OK, Int(rawLength) == raw.count else { throw Unsupported(description: "zlib: \(status)") }
        pixels = [UInt8](repeating: 0, count: height * stride)
        let bpp = channels
        let height = self.height
        try raw.withUnsafeBufferPointer { raw in
            try pixels.withUnsafeMutableBufferPointer { pixels in
                for y in 0..<height {
                    let filter = raw[y * (stride + 1)]
                    let source = y * (stride + 1) + 1
                    let row = y * stride
                    for x in 0..<stride {
                        let value = raw[source + x]
                        let a = x >= bpp ? Int(pixels[row + x - bpp]) : 0
                        let b = y > 0 ? Int(pixels[row - stride + x]) : 0
                        let predictor: Int
                        switch filter {
                        case 0: predictor = 0
                        case 1: predictor = a
                        case 2: predictor = b
                        case 3: predictor = (a + b) / 2
                        case 4:
                            let c = x >= bpp && y > 0 ? Int(pixels[row - stride + x - bpp]) : 0
                            let p = a + b - c
                            let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
                            predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                        default: throw Unsupported(description: "filter \(filter)")
                        }
                        pixels[row + x] = value &+ UInt8(truncatingIfNeeded: predictor)
                    }
                }
            }
        }
    }

    /// Pixels per RGB color (`0xRRGGBB`).
    func colorCounts() -> [UInt32: Int] {
        var counts: [UInt32: Int] = [:]
        pixels.withUnsafeBufferPointer { p in
            var i = 0
            while i < p.count {
                counts[UInt32(p[i]) << 16 | UInt32(p[i + 1]) << 8 | UInt32(p[i + 2]), default: 0] += 1
                i += channels
            }
        }
        return counts
    }
}
