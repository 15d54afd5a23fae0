#if canImport(Glibc)
import Glibc
#endif

/// The capabilities live capture needs, checked from /proc/self/status before anything is loaded,
/// so that a missing one is named instead of surfacing as a verifier or netlink error.
public enum Capabilities {
    static let needed: [(bit: Int, name: String)] = [
        (39, "CAP_BPF"), (12, "CAP_NET_ADMIN"), (38, "CAP_PERFMON"),
    ]

    /// The names of the needed capabilities the process lacks in its effective set.
    public static func missing() -> [String] {
        guard let effective = effectiveSet() else { return [] }  // cannot tell: let the kernel say
        let sysAdmin = effective & (1 << 21) != 0  // CAP_SYS_ADMIN implies BPF and PERFMON
        return needed.filter { cap in
            effective & (1 << UInt64(cap.bit)) == 0 && !(sysAdmin && cap.name != "CAP_NET_ADMIN")
        }.map(\.name)
    }

    static func effectiveSet() -> UInt64? {
        guard let file = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            if text.hasPrefix("CapEff:") {
                return UInt64(String(text.dropFirst(7).filter { !$0.isWhitespace }), radix: 16)
            }
        }
        return nil
    }
}
