#if canImport(Glibc)
import Glibc
#endif

/// An I/O failure, with the path or operation and the system's reason.
public struct IOError: Error, CustomStringConvertible {
    public var description: String

    public init(_ message: String) { description = message }

    public init(_ message: String, errno code: Int32) {
        description = "\(message): \(String(cString: strerror(code)))"
    }
}
