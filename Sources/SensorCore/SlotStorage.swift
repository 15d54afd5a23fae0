#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The flow table's arrays: elements in one malloc'd block that grows by doubling (`realloc`,
/// which moves large blocks by remapping pages, not copying them). Access has no copy-on-write,
/// uniqueness or bounds check: the per-packet path touches these a dozen times and the table
/// owns its indices. The owner frees the block (`deallocate`).
struct SlotStorage<Element: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var capacity: Int

    /// `capacity` elements, uninitialised unless `fill` is given.
    init(capacity: Int, fill: Element? = nil) {
        self.capacity = max(capacity, 1)
        base = Self.resize(nil, to: self.capacity)
        if let fill { base.initialize(repeating: fill, count: self.capacity) }
    }

    /// Makes room for at least `count` elements; the new ones are `fill` when given.
    mutating func reserve(_ count: Int, fill: Element? = nil) {
        guard count > capacity else { return }
        let grown = max(count, capacity * 2)
        base = Self.resize(base, to: grown)
        if let fill { (base + capacity).initialize(repeating: fill, count: grown - capacity) }
        capacity = grown
    }

    subscript(_ i: Int) -> Element {
        unsafeAddress { UnsafePointer(base + i) }
        nonmutating unsafeMutableAddress { base + i }
    }

    subscript(_ i: Int32) -> Element {
        unsafeAddress { UnsafePointer(base + Int(i)) }
        nonmutating unsafeMutableAddress { base + Int(i) }
    }

    func deallocate() { free(base) }

    private static func resize(_ old: UnsafeMutablePointer<Element>?, to count: Int)
        -> UnsafeMutablePointer<Element>
    {
        let bytes = count * MemoryLayout<Element>.stride
        guard let raw = realloc(old, bytes) else {
            fatalError("out of memory: the flow table could not grow to \(bytes) bytes")
        }
        return raw.bindMemory(to: Element.self, capacity: count)
    }
}
