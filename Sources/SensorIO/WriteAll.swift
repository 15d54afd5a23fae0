#if canImport(Glibc)
import Glibc
#endif

/// Writes all of `bytes` to `fd`, however many write(2) calls that takes (EINTR retried).
/// Returns 0, or the errno of the call that failed.
package func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            return errno
        }
        offset += n
    }
    return 0
}
