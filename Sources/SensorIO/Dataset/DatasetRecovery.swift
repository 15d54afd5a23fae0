#if canImport(Glibc)
import Glibc
#endif

/// Finishes a partial dataset file (`.part`): left by a crash or SIGKILL, or set aside when
/// writing failed. Every whole line that decodes is compressed again, with the part's header,
/// into a complete file of the final name (through a hidden temporary, renamed when complete); the
/// part is removed. Damage or a cut-short stream ends the reading there: the lines before it are
/// kept, a broken last line is not. A part damaged from its header on is renamed `.part.damaged`.
enum DatasetRecovery {
    /// Returns the lines kept. Throws (leaving the part as it is) when the new file cannot be
    /// written: the disk is still full, the folder read-only.
    static func finish(part: String, into final: String, level: Int32) throws(IOError) -> UInt64 {
        let kind: DatasetCompression = final.hasSuffix(DatasetCompression.zstd.fileExtension) ? .zstd : .gzip
        let reader: DecompressingReader
        do {
            reader = try DecompressingReader(path: part)
        } catch {
            // Damaged from its first bytes: nothing to keep; set aside for a person to look at.
            rename(part, part + ".damaged")
            return 0
        }
        let slash = final.lastIndex(of: "/").map { final.index(after: $0) } ?? final.startIndex
        let temporary = String(final[..<slash]) + "." + String(final[slash...]) + ".recovering"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw IOError("cannot create \(temporary)", errno: errno) }
        var closed = false
        defer { if !closed { close(fd); unlink(temporary) } }

        var compressor: StreamCompressor?
        var decoded = [UInt8](repeating: 0, count: 1 << 16)
        var pending: [UInt8] = []
        var out: [UInt8] = []
        var lines: UInt64 = 0

        func write(_ bytes: [UInt8]) throws(IOError) {
            let code = bytes.withUnsafeBytes { writeAll(fd, $0) }
            if code != 0 { throw IOError("cannot write \(temporary)", errno: code) }
        }

        func compress(_ bytes: ArraySlice<UInt8>, finish: Bool) throws(IOError) {
            do {
                if compressor == nil {
                    compressor = try StreamCompressor(kind: kind, level: level, header: reader.header?.json() ?? [])
                }
                out.removeAll(keepingCapacity: true)
                try bytes.withUnsafeBytes { try compressor!.compress($0, flush: false, into: &out) }
                if finish { try compressor!.finish(into: &out) }
            } catch {
                throw IOError("cannot compress \(temporary): \(error)")
            }
            try write(out)
        }

        while true {
            let count: Int
            do {
                count = try decoded.withUnsafeMutableBytes { try reader.read(into: $0) }
            } catch {
                break  // damage: keep the whole lines before it
            }
            if count == 0 { break }
            pending.append(contentsOf: decoded[0..<count])
            guard let lastNewline = pending.lastIndex(of: 0x0A) else {
                // No line is this long: what decodes here is not lines; keep those before it.
                if pending.count > NDJSONReader.maximumLineBytes { break }
                continue
            }
            lines += UInt64(pending[...lastNewline].count { $0 == 0x0A })
            try compress(pending[...lastNewline], finish: false)
            pending.removeSubrange(...lastNewline)
        }
        if lines == 0 {
            unlink(part)
            return 0
        }
        try compress([], finish: true)
        guard fdatasync(fd) == 0 else { throw IOError("cannot write \(temporary)", errno: errno) }
        close(fd)
        closed = true
        guard rename(temporary, final) == 0 else {
            let code = errno
            unlink(temporary)
            throw IOError("cannot rename \(temporary)", errno: code)
        }
        unlink(part)
        return lines
    }
}
