#if canImport(Glibc)
import Glibc
#endif

/// Reads a small text file (rules, config) whole, with a size bound so that pointing a flag at
/// the wrong file fails fast.
enum TextFile {
    enum Failure: Error {
        case open(errno: Int32)
        case read(errno: Int32)
        case tooLarge
        case notUTF8

        /// "cannot open: No such file or directory", ...
        var reason: String {
            switch self {
            case .open(let code): "cannot open: \(String(cString: strerror(code)))"
            case .read(let code): "cannot read: \(String(cString: strerror(code)))"
            case .tooLarge: "too large"
            case .notUTF8: "not UTF-8 text"
            }
        }
    }

    static func read(_ path: String, limit: Int) throws(Failure) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .open(errno: errno) }
        defer { close(fd) }
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
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .notUTF8 }
        return text
    }
}
