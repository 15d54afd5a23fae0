import CLibbpf
import CSensorABI
import SensorCore

#if canImport(Glibc)
import Glibc
#endif

/// The BPF program's filter maps (`filter_state`, `filter_config`, `filter_v4`, `filter_v6`,
/// `filter_ports`, `filter_protocols`), filled from `PacketFilter.Tables`. Every table has two
/// generations: `apply` clears and fills the one not in use, then points `filter_state` at it,
/// so a packet meets the old rules or the new ones, never a mix, and the programs stay attached.
final class FilterMaps {
    private let state: Int32
    private let config: Int32
    private let v4: Int32
    private let v6: Int32
    private let ports: Int32
    private let protocols: Int32
    /// The generation `filter_state` points at; nil while no rules are set.
    private var inUse: UInt32?
    /// The keys each generation holds, cleared before it is filled again.
    private var written: [Written] = [Written(), Written()]

    private struct Written {
        var v4: [dps_filter_v4_key] = []
        var v6: [dps_filter_v6_key] = []
        var ports: [UInt32] = []
        var protocols: [UInt32] = []
    }

    /// The maps of a loaded object.
    init(object: OpaquePointer) throws(KernelError) {
        func fd(_ name: String) throws(KernelError) -> Int32 {
            guard let map = bpf_object__find_map_by_name(object, name) else {
                throw KernelError(.bpfObject, "the embedded BPF object lacks its map \(name)")
            }
            return bpf_map__fd(map)
        }
        state = try fd("filter_state")
        config = try fd("filter_config")
        v4 = try fd("filter_v4")
        v6 = try fd("filter_v6")
        ports = try fd("filter_ports")
        protocols = try fd("filter_protocols")
    }

    func apply(_ filter: PacketFilter) throws(KernelError) {
        guard !filter.isEmpty else {
            try update(state, 0 as UInt32, 0 as UInt32)
            inUse = nil
            return
        }
        let generation: UInt32 = inUse == 0 ? 1 : 0
        try clear(generation)
        let tables = PacketFilter.Tables(filter)
        let g = Int(generation)  // each key is noted as written, so a failure halfway is cleared next time
        for (network, masks) in tables.networks {
            // The generation in the first data byte, then the address; the prefix covers both.
            let data = [UInt8(generation)] + network.address.networkBytes
            let prefix = 8 + UInt32(network.prefixLength)
            if network.address.isIPv6 {
                var key = dps_filter_v6_key()
                key.prefixlen = prefix
                withUnsafeMutableBytes(of: &key.data) { $0.copyBytes(from: data) }
                try update(v6, key, Self.masks(masks))
                written[g].v6.append(key)
            } else {
                var key = dps_filter_v4_key()
                key.prefixlen = prefix
                withUnsafeMutableBytes(of: &key.data) { $0.copyBytes(from: data) }
                try update(v4, key, Self.masks(masks))
                written[g].v4.append(key)
            }
        }
        for (port, masks) in tables.ports.enumerated() where !masks.isEmpty {
            let key = generation * 65536 + UInt32(port)
            try update(ports, key, Self.masks(masks))
            written[g].ports.append(key)
        }
        for (number, masks) in tables.protocols.enumerated() where !masks.isEmpty {
            let key = generation * 256 + UInt32(number)
            try update(protocols, key, Self.masks(masks))
            written[g].protocols.append(key)
        }
        try update(
            config, generation,
            dps_filter_config(
                rules: Self.masks(tables.rules), any_network: Self.masks(tables.anyNetwork),
                any_port: Self.masks(tables.anyPort), any_protocol: Self.masks(tables.anyProtocol)))
        try update(state, 0 as UInt32, generation + 1)
        inUse = generation
    }

    /// Empties `generation`'s entries (array entries are zeroed: arrays have no delete).
    private func clear(_ generation: UInt32) throws(KernelError) {
        let old = written[Int(generation)]
        for var key in old.v4 { _ = bpf_map_delete_elem(v4, &key) }
        for var key in old.v6 { _ = bpf_map_delete_elem(v6, &key) }
        for key in old.ports { try update(ports, key, dps_filter_masks()) }
        for key in old.protocols { try update(protocols, key, dps_filter_masks()) }
        written[Int(generation)] = Written()
    }

    private static func masks(_ masks: PacketFilter.Tables.Masks) -> dps_filter_masks {
        dps_filter_masks(include: masks.include, exclude: masks.exclude)
    }

    private func update<Key, Value>(_ fd: Int32, _ key: Key, _ value: Value) throws(KernelError) {
        var key = key
        var value = value
        let result = bpf_map_update_elem(fd, &key, &value, UInt64(BPF_ANY))
        if result < 0 { throw KernelError(.system, "updating the filter maps", errno: result) }
    }
}
