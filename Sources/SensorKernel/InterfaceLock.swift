#if canImport(Glibc)
import Glibc
#endif

/// One dps per interface: a bound abstract Unix socket named after the interface index is the
/// lock. The kernel releases it when the process dies, however it dies, so a hook left by a killed
/// run is told apart from one a running dps still uses. Abstract names live in the network
/// namespace, like the interfaces they name.
struct InterfaceLock {
    private let fd: Int32

    init(interface: String, index: UInt32) throws(KernelError) {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw KernelError(.system, "locking \(interface)", errno: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let name = Array("dps-tc-\(index)".utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path[0] = 0  // abstract namespace
            for (i, byte) in name.enumerated() { path[i + 1] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + name.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            let code = errno
            Glibc.close(fd)
            if code == EADDRINUSE {
                throw KernelError(
                    .interfaceBusy, "another dps is already capturing on \(interface): stop it first", reported: code)
            }
            throw KernelError(.system, "locking \(interface)", errno: code)
        }
        self.fd = fd
    }

    func release() { Glibc.close(fd) }
}
