#if canImport(Glibc)
import Glibc
#endif

/// An I/O failure, with the path or operation, the system's reason, and its errno to match.
public struct IOError: Error, CustomStringConvertible {
    public var description: String
    /// The errno of the failed call, when there was one.
    public var errno: Int32?

    public init(_ message: String) { description = message }

    public init(_ message: String, errno code: Int32) {
        description = "\(message): \(String(cString: strerror(code)))"
        errno = code
    }
}
