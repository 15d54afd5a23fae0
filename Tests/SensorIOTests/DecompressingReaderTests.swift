import Foundation
import SensorCore
import TestSupport
import Testing

@testable import SensorIO

/// Compressed files made at test time by the real tools (`gzip`, `zstd`, Python's `gzip` and
/// `zlib`), read back through `DecompressingReader` and `NDJSONReader`.
@Suite("Decompressing reader")
struct DecompressingReaderTests {
    /// A temporary directory removed at deinit.
    final class Scratch {
        let url: URL
        init() throws {
            url = FileManager.default.temporaryDirectory.appending(path: "dps-decompress-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: url) }
        func path(_ name: String) -> String { url.appending(path: name).path }
        @discardableResult
        func write(_ name: String, _ bytes: [UInt8]) throws -> String {
            try Data(bytes).write(to: url.appending(path: name))
            return path(name)
        }
        func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: url.appending(path: name))) }
        /// Runs a shell command in the directory; fails the test when it fails.
        func shell(_ command: String) throws {
            let result = try sh(["/bin/sh", "-c", "cd '\(url.path)' && \(command)"], timeout: 60)
            try #require(result.status == 0, "\(command): \(result.err)")
        }
    }

    struct Decoded {
        var bytes: [UInt8]
        var format: DecompressingReader.Format
        var header: DatasetHeader?
        var endedEarly: Bool
    }

    /// Everything the reader returns, in odd-sized pieces (a line may span reads).
    static func decode(_ reader: DecompressingReader, piece: Int = 7_777) throws -> Decoded {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: piece)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        #expect(try buffer.withUnsafeMutableBytes { try reader.read(into: $0) } == 0, "the end stays the end")
        return Decoded(bytes: bytes, format: reader.format, header: reader.header, endedEarly: reader.endedEarly)
    }

    static func decode(_ path: String) throws -> Decoded { try decode(DecompressingReader(path: path)) }

    /// About 700 KB of FlowFrame lines, varied enough that they do not compress to nothing.
    static let text: [UInt8] = {
        var lines = ""
        for i in 0..<5_000 {
            lines +=
                #"{"src_ip":"198.51.100.\#(i % 250)","dst_ip":"203.0.113.\#(i % 7)","src_port":\#(1024 + i * 7919 % 60000),"#
            lines +=
                #""dst_port":443,"protocol":"TCP","bytes_in":\#(i * 31 % 9973),"bytes_out":\#(i * 17 % 7919),"duration":0.\#(i),"#
            lines += #""payload":null,"label":"benign"}"# + "\n"
        }
        return Array(lines.utf8)
    }()

    static let header = DatasetHeader(
        host: "sensor-1", started: "2026-11-30T15:00:00Z",
        rules: .init(
            source: "built-in", sha256: String(repeating: "ab", count: 32), labels: ["benign", "c2"],
            text: "rules:\n  - label: \"benign\"\n    match: {}\n"),
        unmatched: "skip")

    // MARK: - Formats

    @Test("plain text passes through; the format is plain and there is no header")
    func plain() throws {
        let dir = try Scratch()
        let decoded = try Self.decode(try dir.write("a.ndjson", Self.text))
        #expect(decoded.bytes == Self.text)
        #expect(decoded.format == .plain && decoded.header == nil && !decoded.endedEarly)
        // Shorter than any magic, and empty.
        #expect(try Self.decode(try dir.write("b", [0x1F])).bytes == [0x1F])
        #expect(try Self.decode(try dir.write("c", [])).bytes == [])
    }

    @Test("gzip from gzip(1) and Python; several members read through, zero padding skipped")
    func gzip() throws {
        let dir = try Scratch()
        try dir.write("a.ndjson", Self.text)
        try dir.write("b.ndjson", Array("second member\n".utf8))
        try dir.shell("gzip -k a.ndjson && gzip -k -9 b.ndjson && cat a.ndjson.gz b.ndjson.gz > ab.gz")
        try dir.shell(
            "python3 -c 'import gzip,sys; open(\"p.gz\",\"wb\").write(gzip.compress(open(\"a.ndjson\",\"rb\").read()))'"
        )
        let cli = try Self.decode(dir.path("a.ndjson.gz"))
        #expect(cli.bytes == Self.text && cli.format == .gzip && !cli.endedEarly && cli.header == nil)
        #expect(try Self.decode(dir.path("p.gz")).bytes == Self.text)
        let both = try Self.decode(dir.path("ab.gz"))
        #expect(both.bytes == Self.text + Array("second member\n".utf8) && !both.endedEarly)
        try dir.write("padded.gz", try dir.bytes("ab.gz") + [UInt8](repeating: 0, count: 1000))
        #expect(try Self.decode(dir.path("padded.gz")).bytes == both.bytes)
    }

    @Test("zstd from zstd(1): several frames read through, skippable frames skipped")
    func zstd() throws {
        let dir = try Scratch()
        try dir.write("a.ndjson", Self.text)
        try dir.write("b.ndjson", Array("second frame\n".utf8))
        try dir.shell("zstd -q a.ndjson b.ndjson && cat a.ndjson.zst b.ndjson.zst > ab.zst")
        let one = try Self.decode(dir.path("a.ndjson.zst"))
        #expect(one.bytes == Self.text && one.format == .zstd && !one.endedEarly && one.header == nil)
        #expect(try Self.decode(dir.path("ab.zst")).bytes == Self.text + Array("second frame\n".utf8))

        // Skippable frames of every magic between and after the data frames.
        let a = try dir.bytes("a.ndjson.zst")
        let b = try dir.bytes("b.ndjson.zst")
        let mixed = a + Self.skippable(0x184D_2A5F, Array("not data".utf8)) + b + Self.skippable(0x184D_2A53, [])
        try dir.write("mixed.zst", mixed)
        try dir.shell("zstd -dq mixed.zst -o mixed.out")  // zstd(1) agrees these are valid
        let decoded = try Self.decode(dir.path("mixed.zst"))
        #expect(decoded.bytes == (try dir.bytes("mixed.out")))
        #expect(decoded.bytes == Self.text + Array("second frame\n".utf8))
        #expect(decoded.header == nil, "a header comes only before the first data frame")
    }

    /// A zstd skippable frame: magic, size (little-endian), content.
    static func skippable(_ magic: UInt32, _ content: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: magic.littleEndian, Array.init)
            + withUnsafeBytes(of: UInt32(content.count).littleEndian, Array.init)
            + content
    }

    // MARK: - Headers

    @Test("a DatasetHeader in the gzip comment (FCOMMENT) of the first member, built by hand")
    func gzipHeader() throws {
        let dir = try Scratch()
        try dir.write("a.ndjson", Self.text)
        try dir.write("header.json", Self.header.json())
        // RFC 1952 by hand: Python's gzip module writes no comment.
        try dir.shell(
            """
            python3 -c '
            import struct, zlib
            data = open("a.ndjson", "rb").read()
            comment = open("header.json", "rb").read()
            def member(comment, data):
                deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
                body = deflate.compress(data) + deflate.flush()
                flags = 0x10 if comment is not None else 0
                head = b"\\x1f\\x8b\\x08" + bytes([flags]) + struct.pack("<I", 0) + b"\\x00\\x03"
                if comment is not None: head += comment + b"\\x00"
                return head + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xffffffff)
            open("h.gz", "wb").write(member(comment, data))
            open("later.gz", "wb").write(member(None, data) + member(comment, b"more\\n"))
            open("junk.gz", "wb").write(member(b"{\\"format\\":\\"something else\\"}", data))
            '
            """)
        try dir.shell("gzip -dc h.gz | cmp - a.ndjson")  // gzip(1) reads it as plain data
        let decoded = try Self.decode(dir.path("h.gz"))
        #expect(decoded.header == Self.header)
        #expect(decoded.bytes == Self.text && !decoded.endedEarly)
        let later = try Self.decode(dir.path("later.gz"))
        #expect(later.header == nil, "only the first member's comment counts")
        #expect(later.bytes == Self.text + Array("more\n".utf8))
        #expect(try Self.decode(dir.path("junk.gz")).header == nil)
        // Known from init, before any read.
        #expect(try DecompressingReader(path: dir.path("h.gz")).header == Self.header)
    }

    @Test("a DatasetHeader in a zstd skippable frame 0x184D2A50 before the first data frame")
    func zstdHeader() throws {
        let dir = try Scratch()
        try dir.write("a.ndjson", Self.text)
        try dir.shell("zstd -q a.ndjson")
        let data = try dir.bytes("a.ndjson.zst")
        try dir.write("h.zst", Self.skippable(0x184D_2A50, Self.header.json()) + data)
        try dir.shell("zstd -dqc h.zst | cmp - a.ndjson")
        let decoded = try Self.decode(dir.path("h.zst"))
        #expect(decoded.header == Self.header && decoded.format == .zstd)
        #expect(decoded.bytes == Self.text && !decoded.endedEarly)
        #expect(try DecompressingReader(path: dir.path("h.zst")).header == Self.header)

        // Another magic first, then the header: still before the data frame.
        try dir.write(
            "h2.zst", Self.skippable(0x184D_2A51, [1, 2, 3]) + Self.skippable(0x184D_2A50, Self.header.json()) + data)
        #expect(try Self.decode(dir.path("h2.zst")).header == Self.header)
        // The header magic with other content, another magic with a header, or a header after data.
        let others = [
            Self.skippable(0x184D_2A50, Array("hello".utf8)) + data,
            Self.skippable(0x184D_2A5A, Self.header.json()) + data,
            data + Self.skippable(0x184D_2A50, Self.header.json()),
        ]
        for (i, bytes) in others.enumerated() {
            let decoded = try Self.decode(try dir.write("o\(i).zst", bytes))
            #expect(decoded.header == nil && decoded.bytes == Self.text, "case \(i)")
        }
    }

    // MARK: - Cut short

    @Test("a gzip file cut short: every decodable byte, then endedEarly, no throw")
    func gzipTruncated() throws {
        let dir = try Scratch()
        try dir.write("a.ndjson", Self.text)
        try dir.shell("gzip -k a.ndjson")
        let whole = try dir.bytes("a.ndjson.gz")
        for cut in [whole.count / 3, whole.count / 2, whole.count - 9, whole.count - 1] {
            let decoded = try Self.decode(try dir.write("cut.gz", Array(whole[0..<cut])))
            #expect(decoded.endedEarly, "cut at \(cut) of \(whole.count)")
            #expect(Self.text.starts(with: decoded.bytes))
            #expect(
                decoded.bytes.count > Self.text.count * cut / whole.count / 2, "cut at \(cut): \(decoded.bytes.count)")
        }
        // Cut inside the trailer: all the data is there.
        #expect(try Self.decode(try dir.write("t.gz", Array(whole.dropLast(3)))).bytes == Self.text)
        // Cut inside the header, and after the first byte of a second member.
        let header = try Self.decode(try dir.write("h.gz", Array(whole[0..<6])))
        #expect(header.endedEarly && header.bytes.isEmpty && header.format == .gzip)
        let second = try Self.decode(try dir.write("s.gz", whole + [0x1F]))
        #expect(second.endedEarly && second.bytes == Self.text)
        let secondHeader = try Self.decode(try dir.write("s2.gz", whole + whole[0..<7]))
        #expect(secondHeader.endedEarly && secondHeader.bytes == Self.text)
    }

    @Test("a zstd file cut short: every decodable block, then endedEarly, no throw")
    func zstdTruncated() throws {
        let dir = try Scratch()
        let big = Self.text + Self.text + Self.text  // several 128 KiB blocks
        try dir.write("a.ndjson", big)
        try dir.shell("zstd -q a.ndjson")
        let whole = try dir.bytes("a.ndjson.zst")
        for cut in [whole.count / 2, whole.count - 2] {
            let decoded = try Self.decode(try dir.write("cut.zst", Array(whole[0..<cut])))
            #expect(decoded.endedEarly, "cut at \(cut) of \(whole.count)")
            #expect(big.starts(with: decoded.bytes))
            #expect(decoded.bytes.count >= 128 * 1024, "cut at \(cut): \(decoded.bytes.count)")
        }
        // Inside the skippable header frame, and right after its size.
        let framed = Self.skippable(0x184D_2A50, Self.header.json()) + whole
        for cut in [6, 8, 20] {
            let decoded = try Self.decode(try dir.write("h.zst", Array(framed[0..<cut])))
            #expect(decoded.endedEarly && decoded.bytes.isEmpty && decoded.format == .zstd, "cut at \(cut)")
            #expect(decoded.header == nil)
        }
        // A data frame that has only begun.
        let begun = try Self.decode(try dir.write("b.zst", Array(whole[0..<3]) + [0x28]))
        #expect(begun.format == .plain, "three bytes and a stray one are not zstd's magic")
        let start = try Self.decode(try dir.write("s.zst", Array(whole[0..<6])))
        #expect(start.endedEarly && start.bytes.isEmpty)
    }

    // MARK: - Damage

    @Test("damaged gzip data throws an IOError naming the file; bytes before it were returned")
    func gzipDamaged() throws {
        let dir = try Scratch()
        try dir.write("a.ndjson", Self.text)
        try dir.shell("gzip -k a.ndjson")
        let whole = try dir.bytes("a.ndjson.gz")
        var badCRC = whole
        badCRC[whole.count - 6] ^= 0xFF
        var badMethod = whole
        badMethod[2] = 7
        var badData = whole
        for i in whole.count / 2..<whole.count / 2 + 64 { badData[i] = 0xFF }
        let cases: [(String, [UInt8], String)] = [
            ("crc.gz", badCRC, "incorrect data check"),
            ("method.gz", badMethod, "unknown compression method"),
            ("data.gz", badData, ""),  // "invalid ..." or "incorrect data check", as the damage falls
            ("trailing.gz", whole + Array("garbage".utf8), "not another member"),
        ]
        for (name, bytes, reason) in cases {
            let path = try dir.write(name, bytes)
            var returned: [UInt8] = []
            do {
                let reader = try DecompressingReader(path: path)
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
                    if n == 0 { break }
                    returned += buffer[0..<n]
                }
                Issue.record("\(name): no error")
            } catch let error as IOError {
                #expect(error.description.hasPrefix("\(path): not valid gzip data at byte "), "\(error)")
                #expect(reason.isEmpty || error.description.contains(reason), "\(name): \(error)")
            }
            // Damaged data decodes to wrong bytes until zlib sees it; with only the trailer
            // damaged, or junk after it, the data came out whole first.
            if name == "crc.gz" || name == "trailing.gz" {
                let whole = returned == Self.text
                #expect(whole, "\(name): \(returned.count) bytes")
            }
        }
    }

    @Test("damaged zstd data throws an IOError naming the file")
    func zstdDamaged() throws {
        let dir = try Scratch()
        try dir.write("a.ndjson", Self.text)
        try dir.shell("zstd -q a.ndjson")
        let whole = try dir.bytes("a.ndjson.zst")
        var badChecksum = whole
        badChecksum[whole.count - 1] ^= 0xFF
        var badData = whole
        for i in whole.count / 2..<whole.count / 2 + 64 { badData[i] = 0xFF }
        for (name, bytes) in [
            ("sum.zst", badChecksum), ("data.zst", badData), ("trailing.zst", whole + Array("garbage".utf8)),
        ] {
            let path = try dir.write(name, bytes)
            var returned: [UInt8] = []
            let error = #expect(throws: IOError.self, "\(name)") {
                let reader = try DecompressingReader(path: path)
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
                    if n == 0 { break }
                    returned += buffer[0..<n]
                }
            }
            #expect(
                error?.description.hasPrefix("\(path): not valid zstd data at byte ") == true,
                "\(String(describing: error))")
            // Junk after the frame: the data came out whole first. A failed checksum: zstd
            // withholds what it still buffered (up to a block) when it finds it.
            if name == "trailing.zst" {
                let whole = returned == Self.text
                #expect(whole, "\(name): \(returned.count) bytes, then \(String(describing: error))")
            } else if name == "sum.zst" {
                let prefix = Self.text.starts(with: returned) && returned.count > Self.text.count / 2
                #expect(prefix, "\(name): \(returned.count) bytes")
            }
        }
    }

    @Test("hostile bytes never crash: random mutations of gzip and zstd files end in bytes, endedEarly or an IOError")
    func mutations() throws {
        let dir = try Scratch()
        try dir.write("a.ndjson", Array(Self.text[0..<20_000]))
        try dir.shell("gzip -k a.ndjson && zstd -q a.ndjson")
        var generator = SeededGenerator(seed: 7)
        for name in ["a.ndjson.gz", "a.ndjson.zst"] {
            let whole = try dir.bytes(name)
            for _ in 0..<200 {
                var bytes = whole
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(
                        in: 0...255, using: &generator)
                }
                let cut = Int.random(in: 1...bytes.count, using: &generator)
                let path = try dir.write("m", Array(bytes[0..<cut]))
                do { _ = try Self.decode(path) } catch is IOError {}
            }
        }
    }

    // MARK: - Descriptors and standard input

    @Test("a pipe (what - reads) is detected and decoded the same way")
    func pipe() throws {
        let dir = try Scratch()
        try dir.write("a.ndjson", Self.text)
        try dir.shell("gzip -k a.ndjson")
        let compressed = try dir.bytes("a.ndjson.gz")
        var ends: [Int32] = [0, 0]
        try #require(Glibc.pipe(&ends) == 0)
        let fds = ends
        let writer = Thread {
            compressed.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fds[1], raw.baseAddress! + offset, min(4096, raw.count - offset))
                    if n <= 0 { break }
                    offset += n
                }
            }
            close(fds[1])
        }
        writer.start()
        let decoded = try Self.decode(try DecompressingReader(fd: fds[0], path: "-", ownsDescriptor: true))
        #expect(decoded.bytes == Self.text && decoded.format == .gzip)
    }

    @Test("a file that cannot be opened is an IOError naming it; no descriptor is left open on a damaged header")
    func openErrors() throws {
        #expect(throws: IOError.self) { try DecompressingReader(path: "/nonexistent/dps.ndjson.gz") }
        let dir = try Scratch()
        let path = try dir.write("bad.gz", [0x1F, 0x8B, 0x07, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3])
        let before = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
        for _ in 0..<50 {
            #expect(throws: IOError.self) { try DecompressingReader(path: path) }
        }
        let after = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
        #expect(after < before + 10, "descriptors: \(before) before, \(after) after")
    }

    // MARK: - NDJSON

    /// The frames of an NDJSON file and its bad lines.
    static func frames(_ path: String) throws -> (frames: [FlowFrame], errors: [NDJSONLineError], reader: NDJSONReader)
    {
        let reader = try NDJSONReader(path: path)
        var frames: [FlowFrame] = []
        var errors: [NDJSONLineError] = []
        try reader.forEachFrame { result in
            switch result {
            case .success(let frame): frames.append(frame)
            case .failure(let error): errors.append(error)
            }
        }
        return (frames, errors, reader)
    }

    @Test("NDJSONReader: the shared sample frames from .gz and .zst equal those of the plain file")
    func sampleCompressed() throws {
        let dir = try Scratch()
        try FileManager.default.copyItem(atPath: LabelSharedData.sampleFlows, toPath: dir.path("s.ndjson"))
        try dir.shell("gzip -k s.ndjson && zstd -q s.ndjson")
        let plain = try Self.frames(dir.path("s.ndjson")).frames
        #expect(plain.count == 1000)
        for name in ["s.ndjson.gz", "s.ndjson.zst"] {
            let read = try Self.frames(dir.path(name))
            #expect(read.frames == plain, "\(name)")
            #expect(read.errors.isEmpty && !read.reader.endedEarly)
        }
    }

    @Test("NDJSONReader: a cut-short file keeps its lines, its broken last line is a bad line, endedEarly")
    func ndjsonTruncated() throws {
        let dir = try Scratch()
        try dir.write("a.ndjson", Self.text)
        try dir.shell("gzip -k a.ndjson")
        let whole = try dir.bytes("a.ndjson.gz")
        try dir.write("cut.gz", Array(whole[0..<whole.count / 2]))
        let read = try Self.frames(dir.path("cut.gz"))
        #expect(read.reader.endedEarly)
        #expect(read.frames.count > 1000)
        #expect(read.errors.count == 1)
        #expect(read.errors.first?.line == UInt64(read.frames.count + 1))
        #expect(read.errors.first?.description.contains("not JSON") == true)
        let expected = try Self.frames(dir.path("a.ndjson")).frames
        #expect(Array(expected.prefix(read.frames.count)) == read.frames)
    }

    // MARK: - dps label --ndjson

    @Test("dps label --ndjson a.gz b.zst -: the same frames as the plain files; a cut file warns, keeps its lines")
    func labelCommand() throws {
        let dir = try Scratch()
        try FileManager.default.copyItem(atPath: LabelSharedData.sampleFlows, toPath: dir.path("s.ndjson"))
        try dir.shell("gzip -k s.ndjson && zstd -q s.ndjson && cp s.ndjson.gz stdin.gz")
        let dps = TestPaths.dps
        let plain = try sh([
            dps, "label", "--ndjson", dir.path("s.ndjson"), dir.path("s.ndjson"), dir.path("s.ndjson"),
            "--out", dir.path("plain.out"),
        ])
        #expect(plain.status == 0, "\(plain.err)")
        let compressed = try sh([
            "/bin/sh", "-c",
            "'\(dps)' label --ndjson '\(dir.path("s.ndjson.gz"))' '\(dir.path("s.ndjson.zst"))' - --out '\(dir.path("c.out"))' < '\(dir.path("stdin.gz"))'",
        ])
        #expect(compressed.status == 0, "\(compressed.err)")
        #expect(compressed.err.contains("errors=0 written=3000"), "\(compressed.err)")
        #expect(try dir.bytes("c.out") == (try dir.bytes("plain.out")))

        // Cut short: the lines before the cut are written, the broken one and the cut are errors.
        let whole = try dir.bytes("s.ndjson.gz")  // zstd would give nothing: the file is one block
        let cut = try dir.write("cut.ndjson.gz", Array(whole[0..<whole.count * 2 / 3]))
        let result = try sh([dps, "label", "--ndjson", cut, "--out", dir.path("cut.out")])
        #expect(result.status == 0, "\(result.err)")
        #expect(
            result.err.contains("dps: warning: \(cut): the compressed data ends early (file cut short?)"),
            "\(result.err)")
        let kept = try dir.bytes("cut.out")
        let all = try dir.bytes("plain.out")
        // Line by line, without the page padding: the last kept line's padding depends on the next.
        func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
            bytes.split(separator: 0x0A).map { $0.prefix { $0 != 0x20 } }
        }
        #expect(kept.count > 0 && lines(all).starts(with: lines(kept)))
        let written = kept.count { $0 == 0x0A }
        let errors = result.err.contains("\(cut):\(written + 1): not JSON") ? 2 : 1  // cut at a line end: no broken line
        #expect(result.err.contains("errors=\(errors) written=\(written)"), "\(result.err)")
        let strict = try sh([dps, "label", "--strict", "--ndjson", cut, "--out", "/dev/null"])
        #expect(strict.status == 1)
    }

    /// SplitMix64, for repeatable mutations.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
