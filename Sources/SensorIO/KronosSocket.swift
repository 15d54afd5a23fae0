#if canImport(Glibc)
import Glibc
#endif

/// Small wrappers for the AF_UNIX stream sockets between `dps` and Kronos.
public enum KronosSocket {
    /// Why a socket call failed: the call, the path, `errno`.
    public struct Failure: Error, CustomStringConvertible {
        public let operation: String
        public let path: String
        public let code: Int32

        public var description: String {
            "\(operation) \(path): \(String(cString: strerror(code)))"
        }
    }

    /// Calls `body` with a `sockaddr_un` for `path`; nil when the path does not fit (108 bytes).
    static func withAddress<R>(
        _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R
    ) -> R? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// A non-blocking stream socket connected to `path`.
    public static func connect(path: String) throws(Failure) -> Int32 {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = socket(AF_UNIX, type, 0)
        guard fd >= 0 else { throw Failure(operation: "socket", path: path, code: errno) }
        let result = withAddress(path) { Glibc.connect(fd, $0, $1) }
        guard let result else {
            close(fd)
            throw Failure(operation: "connect", path: path, code: ENAMETOOLONG)
        }
        if result != 0 {
            let code = errno
            close(fd)
            throw Failure(operation: "connect", path: path, code: code)
        }
        return fd
    }

    /// A listening socket bound to `path`. A socket file already there is removed first when
    /// nobody accepts on it (a listener that died); a live listener or any other file is an error.
    public static func listen(path: String, backlog: Int32 = 4) throws(Failure) -> Int32 {
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw Failure(operation: "bind (exists and is not a socket)", path: path, code: EEXIST)
            }
            if let probe = try? connect(path: path) {
                close(probe)
                throw Failure(operation: "bind (another listener is live on)", path: path, code: EADDRINUSE)
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(operation: "socket", path: path, code: errno) }
        let result = withAddress(path) { bind(fd, $0, $1) }
        guard let result else {
            close(fd)
            throw Failure(operation: "bind", path: path, code: ENAMETOOLONG)
        }
        if result != 0 || Glibc.listen(fd, backlog) != 0 {
            let code = errno
            close(fd)
            throw Failure(operation: "bind", path: path, code: code)
        }
        return fd
    }

    /// Monotonic nanoseconds.
    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
