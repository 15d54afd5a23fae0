/// From a flow key's hash to its slot in the flow table: open addressing with linear probing, at
/// most half full. A bucket holds the hash's low 32 bits and slot + 1 (0 is empty), so most
/// probes that miss never read the table's entries; removal shifts the rest of the run back, so
/// there are no tombstones. The keys themselves live in the entries (`matches` compares them).
struct FlowIndex {
    private var buckets: SlotStorage<UInt64>
    private var mask: Int
    private(set) var count = 0

    init() {
        buckets = SlotStorage(capacity: 1024, fill: 0)
        mask = 1023
    }

    /// The slot whose key hashes to `hash` and `matches`, if any.
    @inline(__always)
    func find(_ hash: UInt64, matches: (Int32) -> Bool) -> Int32? {
        let tag = hash & 0xFFFF_FFFF
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let bucket = buckets[i]
            if bucket == 0 { return nil }
            if bucket >> 32 == tag, matches(Int32(truncatingIfNeeded: bucket) - 1) {
                return Int32(truncatingIfNeeded: bucket) - 1
            }
            i = (i + 1) & mask
        }
    }

    /// Adds `slot` under `hash` (the caller knows it is not there yet).
    mutating func insert(_ hash: UInt64, slot: Int32) {
        if (count + 1) * 2 > mask + 1 { grow() }
        place(hash & 0xFFFF_FFFF, slot: slot)
        count += 1
    }

    /// Removes `slot`, held under `hash`.
    mutating func remove(_ hash: UInt64, slot: Int32) {
        let wanted = (hash & 0xFFFF_FFFF) << 32 | UInt64(UInt32(slot) + 1)
        var hole = Int(truncatingIfNeeded: hash) & mask
        while buckets[hole] != wanted {
            precondition(buckets[hole] != 0, "flow index: removing a slot it does not hold")
            hole = (hole + 1) & mask
        }
        // Backward shift: a later bucket of the run moves into the hole unless its home lies
        // cyclically in (hole, j], where it would no longer be found.
        var j = hole
        while true {
            j = (j + 1) & mask
            let bucket = buckets[j]
            if bucket == 0 { break }
            let home = Int(truncatingIfNeeded: bucket >> 32) & mask
            if (j - home) & mask >= (j - hole) & mask {
                buckets[hole] = bucket
                hole = j
            }
        }
        buckets[hole] = 0
        count -= 1
    }

    private func place(_ tag: UInt64, slot: Int32) {
        var i = Int(truncatingIfNeeded: tag) & mask
        while buckets[i] != 0 { i = (i + 1) & mask }
        buckets[i] = tag << 32 | UInt64(UInt32(slot) + 1)
    }

    private mutating func grow() {
        let old = buckets
        let oldCapacity = mask + 1
        buckets = SlotStorage(capacity: oldCapacity * 2, fill: 0)
        mask = oldCapacity * 2 - 1
        for i in 0..<oldCapacity where old[i] != 0 {
            place(old[i] >> 32, slot: Int32(truncatingIfNeeded: old[i]) - 1)
        }
        old.deallocate()
    }

    /// Frees the storage; the index must not be used afterwards.
    func deallocate() { buckets.deallocate() }
}
