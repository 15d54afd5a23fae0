/// A doubly linked list of slot indices, stored in arrays: the flow table keeps its flows in a few
/// of these (by last activity, by period start, by close time) to find what expires in O(1).
struct IndexList {
    private(set) var head: Int32 = -1
    private(set) var tail: Int32 = -1
    /// `absent` in `previous` marks a slot that is not in the list.
    private var previous: [Int32] = []
    private var next: [Int32] = []
    private static let absent: Int32 = -2

    var isEmpty: Bool { head < 0 }

    mutating func reserve(slots: Int) {
        guard slots > next.count else { return }
        let extra = slots - next.count
        previous.append(contentsOf: repeatElement(Self.absent, count: extra))
        next.append(contentsOf: repeatElement(-1, count: extra))
    }

    func contains(_ slot: Int32) -> Bool { previous[Int(slot)] != Self.absent }

    func after(_ slot: Int32) -> Int32 { next[Int(slot)] }

    mutating func append(_ slot: Int32) {
        let i = Int(slot)
        previous[i] = tail
        next[i] = -1
        if tail >= 0 { next[Int(tail)] = slot } else { head = slot }
        tail = slot
    }

    mutating func remove(_ slot: Int32) {
        let i = Int(slot)
        guard previous[i] != Self.absent else { return }
        let (p, n) = (previous[i], next[i])
        if p >= 0 { next[Int(p)] = n } else { head = n }
        if n >= 0 { previous[Int(n)] = p } else { tail = p }
        previous[i] = Self.absent
    }

    mutating func moveToBack(_ slot: Int32) {
        guard tail != slot else { return }
        remove(slot)
        append(slot)
    }
}
