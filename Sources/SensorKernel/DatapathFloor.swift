import CLibbpf
import CSensorABI

/// The datapath benchmark's floors (the floor rounds of `dps-bench --only datapath`): the program attached with its fast path
/// stopped early, writing no record, to measure what any sensor that reads every packet in the
/// kernel pays on a host before it records anything. `dps` itself never sets one.
public enum DatapathFloor: String, Sendable, CaseIterable {
    /// The hook alone: the program returns at once.
    case hook
    /// The fast path's parse and filter check, then return (the packet counted).
    case parse
    /// The parse and one clock read, the least a record needs, then return.
    case clock

    var pathValue: UInt32 {
        switch self {
        case .hook: UInt32(DPS_PATH_FLOOR_HOOK)
        case .parse: UInt32(DPS_PATH_FLOOR_PARSE)
        case .clock: UInt32(DPS_PATH_FLOOR_CLOCK)
        }
    }
}

/// Sets the opened (not yet loaded) object's `dps_path` (`DPS_PATH_*`): its .rodata holds that
/// one global, which the verifier then reads as a constant.
func setProgramPath(_ object: OpaquePointer, _ path: UInt32) throws {
    var value = path
    guard let rodata = bpf_object__find_map_by_name(object, ".rodata"),
        bpf_map__value_size(rodata) == UInt32(MemoryLayout<UInt32>.size),
        bpf_map__set_initial_value(rodata, &value, MemoryLayout<UInt32>.size) == 0
    else { throw KernelError(.bpfObject, "the embedded BPF object's .rodata is not dps_path alone") }
}
