import SensorIO

#if canImport(Glibc)
import Glibc
#endif

/// One line on stderr, rewritten in place, telling how a long run is going: packets, their rate,
/// open flows, frames, and the share of the file read when known. Only when stderr is a terminal
/// (a journal or a file gets nothing); at most twice a second.
public final class ProgressLine {
    private var shown = false
    private var lastTime: Double
    private var lastPackets: UInt64 = 0
    private var rate: Double = 0
    /// What the line says before the figures ("capture.pcap", "dps0").
    public var subject: String

    /// nil when stderr is not a terminal.
    public init?(subject: String) {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        self.subject = subject
        lastTime = Self.now()
    }

    public func update(_ progress: CaptureProgress) {
        let now = Self.now()
        guard now - lastTime >= 0.5 else { return }
        rate = Double(progress.packets &- lastPackets) / (now - lastTime)
        lastTime = now
        lastPackets = progress.packets
        var text = "\r\(subject): \(progress.packets) packets (\(Self.short(rate))/s), "
        text += "\(progress.flowsOpen) flows open, \(progress.frames) frames"
        if let fraction = progress.fractionRead { text += ", \(Int(fraction * 100))% read" }
        Stderr.write(text + "\u{1B}[K")
        shown = true
    }

    /// Ends the line, so that what follows starts on a line of its own.
    public func finish() {
        if shown { Stderr.write("\n") }
        shown = false
    }

    /// 1234567 → "1.2M".
    static func short(_ value: Double) -> String {
        switch value {
        case 1e6...: "\((value / 1e5).rounded() / 10)M"
        case 1e3...: "\((value / 1e2).rounded() / 10)k"
        default: "\(Int(value))"
        }
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
