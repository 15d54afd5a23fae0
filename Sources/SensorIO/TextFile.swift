#if canImport(Glibc)
import Glibc
#endif

/// Reads a small file (rules, config, a key) whole, with a size bound so that pointing a flag at
/// the wrong file fails fast. Only a regular file is read: the file is opened without blocking
/// and checked before any read, so a FIFO, a terminal or a device named by mistake (or by an
/// attacker who can replace the config) is refused at once instead of blocking `open()` or
/// `read()` forever, which on reload would also hold up shutdown.
package enum TextFile {
    package enum Failure: Error {
        case open(errno: Int32)
        case read(errno: Int32)
        case notRegular
        case tooLarge
        case notUTF8

        /// "cannot open: No such file or directory", ...
        package var reason: String {
            switch self {
            case .open(let code): "cannot open: \(String(cString: strerror(code)))"
            case .read(let code): "cannot read: \(String(cString: strerror(code)))"
            case .notRegular: "not a regular file"
            case .tooLarge: "too large"
            case .notUTF8: "not UTF-8 text"
            }
        }
    }

    /// The file's bytes and its permission bits.
    package static func readBytes(_ path: String, limit: Int) throws(Failure) -> (bytes: [UInt8], mode: mode_t) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { throw .open(errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .read(errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .notRegular }
        guard Int(info.st_size) <= limit else { throw .tooLarge }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 14)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .read(errno: errno)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > limit { throw .tooLarge }
        }
        return (bytes, info.st_mode & 0o7777)
    }

    package static func read(_ path: String, limit: Int) throws(Failure) -> String {
        let bytes = try readBytes(path, limit: limit).bytes
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .notUTF8 }
        return text
    }
}
