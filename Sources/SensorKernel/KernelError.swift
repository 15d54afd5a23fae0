#if canImport(Glibc)
import Glibc
#endif

/// A kernel-side failure, with what to do about it.
public struct KernelError: Error, CustomStringConvertible {
    public var description: String

    init(_ message: String) { description = message }

    /// From a libbpf return (`-errno`) or `errno`.
    init(_ operation: String, code: Int32) {
        let err = abs(code)
        let reason = String(cString: strerror(err))
        switch err {
        case EPERM:
            description =
                "\(operation): \(reason): dps needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON "
                + "(run it as root or grant those capabilities)"
        default:
            description = "\(operation): \(reason) (errno \(err))"
        }
    }
}
