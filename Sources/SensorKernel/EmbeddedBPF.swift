import SensorCore

/// The BPF object compiled from `bpf/dps.bpf.c` at build time (see Plugins/BPFObjectPlugin).
public enum EmbeddedBPF {
    /// The ELF object's bytes.
    public static var object: [UInt8] { Base64.decode(dpsBase64)! }
}
