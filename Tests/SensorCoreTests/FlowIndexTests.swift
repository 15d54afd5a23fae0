import Testing

@testable import SensorCore

@Suite("Flow index and payload pool")
struct FlowIndexTests {
    /// A deterministic generator, so a failure replays.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Random inserts and removes against a dictionary model. `hashBits` squeezes the hashes
    /// into a few values, so runs are long, wrap around the end of the table and collide on the
    /// tag: the backward shift of `remove` and the growth's rehash are exercised hard.
    @Test("agrees with a dictionary through random inserts and removes", arguments: [(40_000, 64), (5_000, 8)])
    func model(steps: Int, hashBits: Int) {
        var rng = SplitMix(state: UInt64(hashBits))
        var index = FlowIndex()
        defer { index.deallocate() }
        var model: [Int32: UInt64] = [:]  // slot → hash
        var removed: [(slot: Int32, hash: UInt64)] = []
        var nextSlot: Int32 = 0
        let mask: UInt64 = hashBits == 64 ? .max : (1 << UInt64(hashBits)) - 1
        for step in 0..<steps {
            if model.isEmpty || rng.next() % 3 != 0 {
                let hash = rng.next() & mask
                index.insert(hash, slot: nextSlot)
                model[nextSlot] = hash
                nextSlot += 1
            } else {
                let victim = model.keys.randomElement(using: &rng)!
                index.remove(model[victim]!, slot: victim)
                removed.append((victim, model[victim]!))
                model[victim] = nil
            }
            if step % 997 == 0 || step == steps - 1 {
                #expect(index.count == model.count)
                for (slot, hash) in model {
                    #expect(index.find(hash, matches: { $0 == slot }) == slot)
                }
                for (slot, hash) in removed.suffix(50) {
                    #expect(index.find(hash, matches: { $0 == slot }) == nil)
                }
            }
        }
    }

    @Test("a key hashes the same way twice, and differently under another seed")
    func seededHash() {
        let a = FlowKey(
            a: IPAddress(ipv4: 198, 51, 100, 1), b: IPAddress(ipv4: 203, 0, 113, 9), aPort: 40000,
            bPort: 53, transport: 17, interface: 2)
        var b = a
        b.bPort = 54
        let seed = FlowHashSeed.random()
        #expect(a.hash(seed: seed) == a.hash(seed: seed))
        #expect(a.hash(seed: seed) != b.hash(seed: seed))
        #expect(a.hash(seed: seed) != a.hash(seed: FlowHashSeed.random()))
    }

    @Test("a flow's entry and key stay small (the memory target is 400 bytes per flow)")
    func entrySize() {
        #expect(MemoryLayout<FlowKey>.stride == 48)
        #expect(MemoryLayout<FlowEntry>.stride == 136)
    }

    @Test("the pool keeps up to 128 bytes per cell and reuses released cells")
    func pool() {
        var pool = PayloadPool()
        defer { pool.deallocate() }
        let long = (0..<200).map { UInt8($0) }
        let short: [UInt8] = [1, 2, 3]
        let first = long.withUnsafeBytes { pool.store($0) }
        var handles: [Int32] = []
        for i in 0..<1000 {  // grows the storage several times under `first`
            handles.append([UInt8(i & 0xFF)].withUnsafeBytes { pool.store($0) })
        }
        #expect(Array(pool.bytes(first)) == Array(long.prefix(128)))
        #expect(handles.enumerated().allSatisfy { Array(pool.bytes($1)) == [UInt8($0 & 0xFF)] })
        pool.release(handles[10])
        let again = short.withUnsafeBytes { pool.store($0) }
        #expect(again == handles[10])
        #expect(Array(pool.bytes(again)) == short)
        #expect(!handles.contains(0) && first != 0)
    }
}
