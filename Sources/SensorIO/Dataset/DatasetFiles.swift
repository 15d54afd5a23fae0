import Foundation
import Logging
import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// The counters of the dataset files.
public struct DatasetCounters: Sendable, Equatable {
    /// Frames whose line reached a file.
    public var framesWritten: UInt64 = 0
    /// Frames that could not be written (disk full, folder read-only or gone): lost, logged once
    /// per outage.
    public var framesFailed: UInt64 = 0
    /// Files finished (renamed to their final name).
    public var filesFinished: UInt64 = 0
    /// Partial files of an earlier run (a crash, SIGKILL) or of an outage finished afterwards.
    public var filesRecovered: UInt64 = 0
    /// Finished files deleted by the retention bounds.
    public var filesDeleted: UInt64 = 0
    /// Outages: times writing failed after working.
    public var writeErrors: UInt64 = 0

    public init() {}
}

/// The dataset files of one folder, written one at a time; one thread owns it (the dataset sink's
/// writer).
///
/// A file is written under a hidden temporary name, `.dps-<start>-<host>.ndjson.gz.part`, and
/// renamed to `dps-<start>-<host>.ndjson.gz` once complete (trailer written, data synced), so a
/// trainer globbing `*.ndjson.gz` never opens a half file. `<start>` is the UTC start,
/// `20261130T150000Z`. A file is finished at the rotation boundary, at the size bound, when the
/// rules change, and at shutdown. A `.part` left by a crash is finished at the next start: every
/// whole line that can be decoded is compressed again into a complete file of the final name.
///
/// When a write fails (disk full, read-only), the file is cut back to its last good byte and set
/// aside as a `.part`, lines are counted as failed until a retry (every `retrySeconds`) can open a
/// new file, and then the set-aside part is finished like a crash's. The retention bounds
/// (`maxBytes`, `maxAgeSeconds`) delete the oldest finished files, after every finished file and
/// at start.
public final class DatasetFiles {
    public let configuration: DatasetConfiguration
    public private(set) var counters = DatasetCounters()
    private let logger: Logger
    /// Wall-clock nanoseconds since the epoch (a test's clock in tests).
    private let now: () -> Int64

    /// The header of the files from now on (the rules in effect).
    private var header: DatasetHeader
    private var current: OpenFile?
    /// Lines waiting to be compressed, and how many.
    private var pending: [UInt8] = []
    private var pendingLines: UInt64 = 0
    private var compressed: [UInt8] = []
    /// Set after a failure: when to try again.
    private var retryAt: Int64?
    /// From a failure to the next write that works: logged once each way.
    private var outage = false
    public static let retrySeconds: Double = 2
    private static let compressChunk = 1 << 17

    private struct OpenFile {
        var fd: Int32
        var partPath: String
        var finalPath: String
        var compressor: StreamCompressor
        /// Bytes in the file, and up to the last flush (what decodes to exactly the lines counted
        /// as written).
        var size: Int64 = 0
        var flushedSize: Int64 = 0
        /// When it must be finished (the next rotation boundary), and when it was last flushed.
        var rotateAt: Int64
        var flushedAt: Int64
        /// Lines compressed into it since the last flush: not yet sure to decode from the file.
        var unwrittenLines: UInt64 = 0
    }

    public init(
        configuration: DatasetConfiguration, header: DatasetHeader, logger: Logger,
        now: @escaping () -> Int64 = DatasetFiles.wallClock
    ) {
        self.configuration = configuration
        self.header = header
        self.logger = logger
        self.now = now
        pending.reserveCapacity(Self.compressChunk + 8192)
    }

    /// Makes the folder when missing (a failure is thrown: a bad path is a configuration error),
    /// finishes the partial files an earlier run left, and applies the retention bounds.
    public func start() throws(IOError) {
        try Self.makeDirectory(configuration.directory)
        recoverPartials()
        applyRetention()
    }

    /// The wall clock, nanoseconds since the epoch.
    public static func wallClock() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    // MARK: Writing

    /// Takes one line (newline included).
    public func append(_ line: UnsafeRawBufferPointer) {
        append { $0.append(contentsOf: line) }
    }

    /// Takes the one line (newline included) that `write` appends to the buffer it is given:
    /// encoded in place, with no copy. The clock is read only to open or finish a file.
    public func append(_ write: (inout [UInt8]) -> Void) {
        if current == nil && !open(at: now()) {
            counters.framesFailed += 1
            return
        }
        write(&pending)
        pendingLines += 1
        if pending.count >= Self.compressChunk { compressPending(flush: false) }
        if let file = current, file.size >= configuration.rotateBytes { finishCurrent(at: now()) }
    }

    /// The clock's work: flushes what waits (at most every `flushSeconds`, or at once with
    /// `force`), finishes the file at its rotation boundary, retries after a failure.
    public func tick(force: Bool = false) {
        let time = now()
        guard let file = current else {
            if retryAt != nil { _ = open(at: time) }
            return
        }
        if time >= file.rotateAt {
            finishCurrent(at: time)
        } else if force || pendingLines > 0 && time - file.flushedAt >= Seconds.nanoseconds(configuration.flushSeconds) {
            compressPending(flush: true, at: time)
        }
    }

    /// When the next `tick` has work: a flush, a rotation or a retry.
    public func nextTick() -> Int64 {
        if let file = current {
            let flush = pendingLines > 0 ? file.flushedAt + Seconds.nanoseconds(configuration.flushSeconds) : .max
            return min(file.rotateAt, flush)
        }
        return retryAt ?? .max
    }

    /// New rules: the current file is finished, and the next one records `header`.
    public func replaceHeader(_ header: DatasetHeader) {
        if current != nil { finishCurrent(at: now()) }
        self.header = header
    }

    /// At shutdown: finishes the current file.
    public func close() {
        if current != nil { finishCurrent(at: now()) }
    }

    /// Opens a new file; false (counted, logged once per outage) when it cannot be.
    private func open(at time: Int64) -> Bool {
        if let retryAt, time < retryAt { return false }
        if outage {
            // Space may be back: finish what the outage set aside first.
            recoverPartials()
            if let retryAt, time < retryAt { return false }
        }
        let (partPath, finalPath) = names(at: time)
        let fd = Glibc.open(partPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            failed("cannot create \(partPath)", errno: errno, at: time)
            return false
        }
        var headerWithStart = header
        headerWithStart.started = Self.rfc3339(time)
        let compressor: StreamCompressor
        do {
            compressor = try StreamCompressor(
                kind: configuration.compression, level: configuration.level, header: headerWithStart.json())
        } catch {
            Glibc.close(fd)
            unlink(partPath)
            failed("cannot start compressing \(partPath) (\(error))", errno: ENOMEM, at: time)
            return false
        }
        current = OpenFile(
            fd: fd, partPath: partPath, finalPath: finalPath, compressor: compressor,
            rotateAt: nextBoundary(after: time), flushedAt: time)
        retryAt = nil
        return true
    }

    /// Compresses the pending lines into the file (with `flush`, decodable up to the last of them).
    private func compressPending(flush: Bool, at time: Int64? = nil) {
        guard var file = current else { return }
        compressed.removeAll(keepingCapacity: true)
        let compressor = file.compressor
        let failure = pending.withUnsafeBytes { raw -> CompressionError? in
            do {
                try compressor.compress(raw, flush: flush, into: &compressed)
                return nil
            } catch {
                return error as? CompressionError ?? CompressionError(description: "\(error)")
            }
        }
        if let failure {
            // Not expected (igzip and zstd fail only without memory): like a failed write.
            abandon(file, "cannot compress into \(file.partPath) (\(failure))", errno: ENOMEM)
            return
        }
        file.unwrittenLines += pendingLines
        pending.removeAll(keepingCapacity: true)
        pendingLines = 0
        if flush { file.flushedAt = time ?? now() }
        current = file
        writeCompressed(flushed: flush)
    }

    /// Writes `compressed` to the file; after a flush (or the stream's end) the lines compressed
    /// since the last one count as written once it all lands. On failure the file is cut back to
    /// its last flush, where it decodes to exactly the lines counted, and set aside.
    private func writeCompressed(flushed: Bool) {
        guard var file = current else { return }
        let written = compressed.withUnsafeBytes { writeAll(file.fd, $0) }
        if written == 0 {
            file.size += Int64(compressed.count)
            if flushed {
                file.flushedSize = file.size
                counters.framesWritten += file.unwrittenLines
                file.unwrittenLines = 0
            }
            current = file
            if outage && flushed {
                outage = false
                logger.notice(
                    "dataset files writable again",
                    metadata: ["folder": "\(configuration.directory)", "frames_failed": "\(counters.framesFailed)"])
            }
            return
        }
        abandon(file, "cannot write \(file.partPath)", errno: written)
    }

    /// Sets the file aside after a failure: cut back to its last flush (what is there decodes to
    /// exactly the lines counted as written, and is finished later), the lines since counted as
    /// failed.
    private func abandon(_ file: OpenFile, _ what: String, errno code: Int32) {
        _ = ftruncate(file.fd, off_t(file.flushedSize))
        Glibc.close(file.fd)
        counters.framesFailed += file.unwrittenLines + pendingLines
        pending.removeAll(keepingCapacity: true)
        pendingLines = 0
        current = nil
        if file.flushedSize == 0 { unlink(file.partPath) }
        failed(what, errno: code, at: now())
    }

    /// Finishes the current file: the rest compressed, the stream ended, synced, renamed.
    private func finishCurrent(at time: Int64) {
        compressPending(flush: false)
        guard let file = current else { return }
        compressed.removeAll(keepingCapacity: true)
        do {
            try file.compressor.finish(into: &compressed)
        } catch {
            abandon(file, "cannot compress into \(file.partPath) (\(error))", errno: ENOMEM)
            return
        }
        writeCompressed(flushed: true)
        guard let file = current else { return }
        current = nil
        fdatasync(file.fd)
        Glibc.close(file.fd)
        guard rename(file.partPath, file.finalPath) == 0 else {
            failed("cannot rename \(file.partPath)", errno: errno, at: time)
            return
        }
        Self.syncDirectory(configuration.directory)
        counters.filesFinished += 1
        logger.debug("dataset file finished", metadata: ["file": "\(file.finalPath)", "bytes": "\(file.size)"])
        applyRetention()
    }

    /// An outage: counted and logged once; retried in `retrySeconds`.
    private func failed(_ what: String, errno code: Int32, at time: Int64) {
        if !outage {
            outage = true
            counters.writeErrors += 1
            logger.error(
                "dataset files cannot be written: counting the frames lost until they can",
                metadata: ["error": "\(IOError(what, errno: code))"])
        }
        retryAt = time + Seconds.nanoseconds(Self.retrySeconds)
    }

    // MARK: Names

    /// The temporary and final paths of a file started at `time`: the start second, and a
    /// sequence number when a file of that second exists.
    private func names(at time: Int64) -> (part: String, final: String) {
        let stamp = Self.stamp(time)
        let directory = configuration.directory
        let ending = configuration.compression.fileExtension
        var sequence = 0
        while true {
            let base = sequence == 0 ? "dps-\(stamp)-\(configuration.host)" : "dps-\(stamp).\(sequence)-\(configuration.host)"
            let final = "\(directory)/\(base)\(ending)"
            let part = "\(directory)/.\(base)\(ending).part"
            if access(final, F_OK) != 0 && access(part, F_OK) != 0 { return (part, final) }
            sequence += 1
        }
    }

    /// The next multiple of `rotateSeconds` (since the epoch) after `time`.
    private func nextBoundary(after time: Int64) -> Int64 {
        let period = max(1, Seconds.nanoseconds(configuration.rotateSeconds))
        let (quotient, overflow) = (time / period + 1).multipliedReportingOverflow(by: period)
        return overflow ? .max : quotient
    }

    /// `20261130T150000Z`.
    static func stamp(_ time: Int64) -> String {
        format(time, "%Y%m%dT%H%M%SZ")
    }

    /// `2026-11-30T15:00:00Z`.
    static func rfc3339(_ time: Int64) -> String {
        format(time, "%Y-%m-%dT%H:%M:%SZ")
    }

    private static func format(_ time: Int64, _ pattern: String) -> String {
        var seconds = time_t(time / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The host name, kept to letters, digits, `.`, `_` and `-` (others become `_`).
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let kept = String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" })
        return kept.isEmpty ? "localhost" : kept
    }

    // MARK: The folder

    /// A finished dataset file of the folder.
    package struct Finished {
        package var path: String
        package var size: Int64
        /// Last modified: when it was finished (nanoseconds since the epoch).
        package var modified: Int64
    }

    /// The folder's finished dataset files (`dps-*.ndjson.gz`, `dps-*.ndjson.zst`), oldest name first.
    package func finishedFiles() -> [Finished] {
        let directory = configuration.directory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { name in
            name.hasPrefix("dps-")
                && DatasetCompression.allCases.contains { name.hasSuffix($0.fileExtension) }
        }.sorted().compactMap { name in
            var info = stat()
            let path = "\(directory)/\(name)"
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
            return Finished(
                path: path, size: Int64(info.st_size),
                modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
        }
    }

    /// Deletes the oldest finished files while the folder holds more than `maxBytes` (the file
    /// being written included) and those older than `maxAgeSeconds`.
    private func applyRetention() {
        guard configuration.maxBytes != nil || configuration.maxAgeSeconds != nil else { return }
        let files = finishedFiles()
        var total = files.reduce(current?.size ?? 0) { $0 + $1.size }
        let oldest = configuration.maxAgeSeconds.map { now() - Seconds.nanoseconds($0) } ?? .min
        for file in files {
            let overSize = configuration.maxBytes.map { total > $0 } ?? false
            let tooOld = file.modified < oldest
            guard overSize || tooOld else { continue }
            guard unlink(file.path) == 0 else {
                logger.warning("cannot delete an old dataset file", metadata: ["error": "\(IOError(file.path, errno: errno))"])
                continue
            }
            total -= file.size
            counters.filesDeleted += 1
            logger.info(
                "dataset file deleted by retention",
                metadata: ["file": "\(file.path)", "bytes": "\(file.size)", "reason": "\(overSize ? "max_bytes" : "max_age")"])
        }
    }

    /// Finishes every `.part` of the folder that is not being written: each whole line that
    /// decodes goes into a complete file of the final name; a part with no whole line is removed.
    private func recoverPartials() {
        let directory = configuration.directory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names.sorted() where name.hasPrefix(".dps-") && name.hasSuffix(".part") {
            let path = "\(directory)/\(name)"
            guard path != current?.partPath else { continue }
            let final = "\(directory)/\(name.dropFirst().dropLast(".part".count))"
            do {
                let lines = try DatasetRecovery.finish(part: path, into: final, level: configuration.level)
                if lines > 0 {
                    counters.filesRecovered += 1
                    logger.notice("finished a partial dataset file", metadata: ["file": "\(final)", "lines": "\(lines)"])
                } else {
                    logger.warning("a partial dataset file held no whole line", metadata: ["file": "\(path)"])
                }
            } catch {
                failed("cannot finish \(path)", errno: error.errno ?? EIO, at: now())
                return
            }
        }
    }

    private static func makeDirectory(_ path: String) throws(IOError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw IOError("dataset folder \(path): cannot make it (\(error.localizedDescription))")
        }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw IOError("dataset folder \(path): not a folder")
        }
    }

    private static func syncDirectory(_ path: String) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        Glibc.close(fd)
    }
}
