#if canImport(Glibc)
import Glibc
#endif

/// A kernel-side failure: a code a caller (and a test) can match, the errno when a call gave
/// one, and a message with what to do about it.
public struct KernelError: Error, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// An interface named that does not exist, or none named.
        case noSuchInterface
        /// Another dps holds the interface's lock.
        case interfaceBusy
        /// The kernel cannot do it: no BPF ring buffer, no tcx.
        case unsupported
        /// Not allowed: missing capabilities, or a seccomp filter refusing bpf(2).
        case permission
        /// The embedded BPF object cannot be opened or lacks a part.
        case bpfObject
        /// Loading the programs (the verifier) failed.
        case load
        /// Attaching to, or cleaning up, a hook failed.
        case attach
        /// Another call failed (a lock file, the ring buffer's reader).
        case system
        /// A program test run (BPF_PROG_TEST_RUN) gave an unexpected result.
        case testRun
    }

    public let code: Code
    /// The errno of the failed call, when there was one.
    public let errno: Int32?
    public let description: String

    /// `message` as it is; `reported` is the errno it already tells of, if any.
    init(_ code: Code, _ message: String, reported: Int32? = nil) {
        self.code = code
        errno = reported
        description = message
    }

    /// From a libbpf return (`-errno`) or `errno`; EPERM becomes `.permission` whatever `code`.
    init(_ code: Code, _ operation: String, errno value: Int32) {
        let err = abs(value)
        errno = err
        let reason = String(cString: strerror(err))
        if err == EPERM {
            self.code = .permission
            description =
                "\(operation): \(reason): dps needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON "
                + "(run it as root or grant those capabilities)"
        } else {
            self.code = code
            description = "\(operation): \(reason) (errno \(err))"
        }
    }
}
