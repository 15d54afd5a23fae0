import Logging
import SensorCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One line per message on stderr: `level: message key=value ...`. Under systemd (JOURNAL_STREAM
/// set) each line starts with a `<N>` syslog priority, which journald reads as the entry's level.
/// The level is process-wide (`Logs.level`), so a SIGHUP reload can change it for every logger.
struct StderrLogHandler: LogHandler {
    var logLevel: Logger.Level {
        get { Logs.level }
        set { Logs.level = newValue }
    }
    var metadata: Logger.Metadata = [:]
    private let journal = getenv("JOURNAL_STREAM") != nil

    init(level: Logger.Level) { Logs.level = level }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = journal ? "<\(Self.priority(event.level))>" : ""
        line += "\(event.level): \(event.message)"
        if let error = event.error { line += " error=\"\(error)\"" }
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(value)"
        }
        Stderr.line(line)
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}

public enum Logs {
    private static let levelIndex = Atomic<Int>(Logger.Level.allCases.firstIndex(of: .info)!)

    /// The level below which messages are dropped, for every logger of the process.
    public static var level: Logger.Level {
        get { Logger.Level.allCases[levelIndex.load(ordering: .relaxed)] }
        set { levelIndex.store(Logger.Level.allCases.firstIndex(of: newValue)!, ordering: .relaxed) }
    }

    /// Sets up logging once per process.
    public static func bootstrap(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { _ in StderrLogHandler(level: level) }
        return Logger(label: "dps")
    }
}

public enum Stderr {
    /// One line, whatever `text` holds: control characters (a newline, ESC, NUL in a value read
    /// from a file or a packet) are escaped, so no input can forge a log line or drive the
    /// terminal, and a line is cut at 2000 characters (`Echo`).
    public static func line(_ text: String) {
        write(Echo.escaped(text, limit: 2000) + "\n")
    }

    /// One write(2) per call, so concurrent lines never interleave.
    public static func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in _ = Glibc.write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }
}
