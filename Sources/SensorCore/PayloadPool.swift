/// The payload snapshots flows keep: fixed 128-byte cells plus a length byte, handed out by
/// handle (0 is none) and recycled through a free list, so keeping a snapshot is a copy, not an
/// allocation, and a flow's entry stays plain data.
struct PayloadPool {
    static let cellBytes = 128
    private static let stride = cellBytes + 1  // length byte first

    private var storage = SlotStorage<UInt8>(capacity: 64 * stride)
    private var cells = 0
    private var free: [Int32] = []

    /// Copies up to 128 bytes of `bytes` into a cell; returns its handle.
    mutating func store(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        let handle: Int32
        if let reused = free.popLast() {
            handle = reused
        } else {
            cells += 1
            storage.reserve(cells * Self.stride)
            handle = Int32(cells)
        }
        let cell = storage.base + Int(handle - 1) * Self.stride
        let count = min(bytes.count, Self.cellBytes)
        cell.pointee = UInt8(count)
        if count > 0 { (cell + 1).update(from: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), count: count) }
        return handle
    }

    /// The bytes under `handle` (not 0), valid until the next `store`.
    func bytes(_ handle: Int32) -> UnsafeRawBufferPointer {
        let cell = storage.base + Int(handle - 1) * Self.stride
        return UnsafeRawBufferPointer(start: cell + 1, count: Int(cell.pointee))
    }

    /// Returns the cell to the pool; 0 is ignored.
    mutating func release(_ handle: Int32) {
        if handle != 0 { free.append(handle) }
    }

    /// Frees the storage; the pool must not be used afterwards.
    func deallocate() { storage.deallocate() }
}
