extension FlowKey {
    /// A seeded hash: folded 64×64→128-bit multiplies (as wyhash does). The seed is random per
    /// table, so tuples an attacker chooses cannot be aimed at one chain of buckets.
    @inline(__always)
    func hash(seed: FlowHashSeed) -> UInt64 {
        @inline(__always) func fold(_ x: UInt64, _ y: UInt64) -> UInt64 {
            let product = x.multipliedFullWidth(by: y)
            return product.high ^ product.low
        }
        let a = fold(words.0 ^ seed.words.0, words.1 ^ seed.words.1)
        let b = fold(words.2 ^ seed.words.2, words.3 ^ seed.words.3)
        let rest = fold(words.4 ^ seed.words.4, words.5 ^ seed.words.5)
        return fold(a ^ rest, b ^ seed.words.6)
    }
}

/// Seven random words for `FlowKey.hash(seed:)`.
struct FlowHashSeed {
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    static func random() -> FlowHashSeed {
        var g = SystemRandomNumberGenerator()
        return FlowHashSeed(words: (g.next(), g.next(), g.next(), g.next(), g.next(), g.next(), g.next()))
    }
}
