/// A doubly linked list of slot indices: the flow table keeps its flows in a few of these (by last
/// activity, by period start, by close time) to find what expires in O(1). The links of a slot sit
/// side by side, so a move touches one cache line per slot involved.
struct IndexList {
    private struct Link: BitwiseCopyable {
        var previous: Int32
        var next: Int32
    }

    private(set) var head: Int32 = -1
    private(set) var tail: Int32 = -1
    /// `absent` in `previous` marks a slot that is not in the list.
    private var links = SlotStorage<Link>(capacity: 16, fill: Link(previous: absent, next: -1))
    private static let absent: Int32 = -2

    var isEmpty: Bool { head < 0 }

    /// The slot before `slot`, or -1 at the head.
    func previous(_ slot: Int32) -> Int32 { links[slot].previous }

    func contains(_ slot: Int32) -> Bool { links[slot].previous != Self.absent }

    mutating func reserve(slots: Int) {
        links.reserve(slots, fill: Link(previous: Self.absent, next: -1))
    }

    mutating func append(_ slot: Int32) {
        links[slot] = Link(previous: tail, next: -1)
        if tail >= 0 { links[tail].next = slot } else { head = slot }
        tail = slot
    }

    /// Inserts `slot` after `previous` (-1: at the head).
    mutating func insert(_ slot: Int32, after previous: Int32) {
        let next = previous >= 0 ? links[previous].next : head
        links[slot] = Link(previous: previous, next: next)
        if previous >= 0 { links[previous].next = slot } else { head = slot }
        if next >= 0 { links[next].previous = slot } else { tail = slot }
    }

    mutating func remove(_ slot: Int32) {
        let link = links[slot]
        guard link.previous != Self.absent else { return }
        if link.previous >= 0 { links[link.previous].next = link.next } else { head = link.next }
        if link.next >= 0 { links[link.next].previous = link.previous } else { tail = link.previous }
        links[slot].previous = Self.absent
    }

    mutating func moveToBack(_ slot: Int32) {
        guard tail != slot else { return }
        remove(slot)
        append(slot)
    }

    /// Frees the storage; the list must not be used afterwards.
    func deallocate() { links.deallocate() }
}
