// libFuzzer entry point for dps's parsers of outside input. Built only by Tests/Fuzz/run.sh
// (DPS_FUZZ=1, -sanitize=fuzzer,address); main() hands over to libFuzzer's driver.
// DPS_FUZZ_TARGET picks what each input is fed to:
//   packet  the packet parser; the first byte picks the link type
//   pcap    a whole pcap/pcapng file through libpcap and the pcap source
//   ndjson  one FlowFrame line
//   rules   a rules file (YAML, or JSON when it starts with { or [)
//   config  a dps.yaml config file
//   compressed  a (gzip, zstd or plain) NDJSON file through the decompressing reader, as
//           `dps label --ndjson`, `dps report` and the dataset recovery read one
// Every input must come back as a value or a clean error: a crash, a sanitizer report, a hang or
// unbounded memory is a finding.
import SensorCore
import SensorIO
import SensorService

#if canImport(Glibc)
import Glibc
#endif

enum FuzzTarget: String {
    case packet, pcap, ndjson, rules, config, compressed

    static let current: FuzzTarget = {
        let name = getenv("DPS_FUZZ_TARGET").map { String(cString: $0) } ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            let message = "dps-fuzz: set DPS_FUZZ_TARGET to packet, pcap, ndjson, rules, config or compressed\n"
            _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
            exit(2)
        }
        return target
    }()
}

@main
enum DPSFuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
    }
}

/// libFuzzer's driver (its own main() is left out when a program has one).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    switch FuzzTarget.current {
    case .packet: fuzzPacket(input)
    case .pcap: fuzzPcap(input)
    case .ndjson: _ = try? FlowFrameJSON.parse(input)
    case .rules:
        let text = String(decoding: input, as: UTF8.self)
        _ = try? RulesFile.parse(text, format: RulesFile.format(path: "fuzz", text: text), source: "fuzz")
    case .config: _ = try? ServiceConfig.parse(String(decoding: input, as: UTF8.self), source: "fuzz")
    case .compressed: fuzzCompressed(input)
    }
    return 0
}

private func fuzzPacket(_ input: UnsafeRawBufferPointer) {
    guard let selector = input.first else { return }
    let types = PacketParser.LinkType.allCases
    let frame = UnsafeRawBufferPointer(rebasing: input.dropFirst())
    let result = PacketParser.parse(
        frame, originalLength: frame.count, linkType: types[Int(selector) % types.count], timestamp: 0)
    if case .packet(let event, let snapshot, _) = result {
        precondition(snapshot.lowerBound >= 0 && snapshot.upperBound <= frame.count, "snapshot outside the frame")
        precondition(snapshot.count <= PacketParser.snapshotMax, "snapshot over 128 bytes")
        precondition(snapshot.count <= Int(event.payloadLength), "snapshot longer than the payload")
    }
}

/// libpcap reads a path: each input is written over one temporary file of this process, in
/// `$TMPDIR` (Tests/Fuzz/run.sh gives a folder it removes afterwards).
private let pcapPath = (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp") + "/dps-fuzz-\(getpid()).pcap"

private func fuzzPcap(_ input: UnsafeRawBufferPointer) {
    let fd = open(pcapPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return }
    let written = input.isEmpty ? 0 : write(fd, input.baseAddress, input.count)
    close(fd)
    guard written == input.count, let source = try? PcapSource(path: pcapPath) else { return }
    try? source.forEachPacket { _, snapshot in
        precondition(snapshot.count <= PacketParser.snapshotMax, "snapshot over 128 bytes")
    }
}

/// Like the pcap target, each input is written over one file; it is read through the
/// decompressing reader and its lines parsed as frames. The decoded size is bounded (a small
/// input that inflates without end is a hang, not a finding, for libFuzzer's timeout to catch).
private let compressedPath = (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp") + "/dps-fuzz-\(getpid()).ndjson"

private func fuzzCompressed(_ input: UnsafeRawBufferPointer) {
    let fd = open(compressedPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return }
    let written = input.isEmpty ? 0 : write(fd, input.baseAddress, input.count)
    close(fd)
    guard written == input.count, let reader = try? NDJSONReader(path: compressedPath) else { return }
    var frames = 0
    try? reader.forEachFrame { _ in
        frames += 1
        if frames > 100_000 { throw FuzzStop() }
    }
}

private struct FuzzStop: Error {}
