/// How live capture attaches its BPF programs to an interface (`attach` in the config file,
/// `--attach` on the command line).
public enum HookMode: String, Sendable, CaseIterable {
    /// tcx where the kernel has it (Linux 6.6+), TC otherwise.
    case auto
    /// tcx: a BPF link on the interface. No qdisc and no classifier in the packet's path, and the
    /// hook goes when the process does, however it ends.
    case tcx
    /// TC: a direct-action BPF filter on a clsact qdisc. Any kernel dps runs on; a filter left by a
    /// killed run is taken over by the next one.
    case tc
}
