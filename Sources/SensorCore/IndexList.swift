/// A doubly linked list of slot indices, stored in arrays: the flow table keeps its flows in a few
/// of these (by last activity, by period start, by close time) to find what expires in O(1).
struct IndexList {
    private(set) var head: Int32 = -1
    private(set) var tail: Int32 = -1
    private var previous: [Int32] = []
    private var next: [Int32] = []
    private var member: [Bool] = []

    var isEmpty: Bool { head < 0 }

    mutating func reserve(slots: Int) {
        guard slots > next.count else { return }
        let extra = slots - next.count
        previous.append(contentsOf: repeatElement(-1, count: extra))
        next.append(contentsOf: repeatElement(-1, count: extra))
        member.append(contentsOf: repeatElement(false, count: extra))
    }

    func contains(_ slot: Int32) -> Bool { member[Int(slot)] }

    func after(_ slot: Int32) -> Int32 { next[Int(slot)] }

    mutating func append(_ slot: Int32) {
        let i = Int(slot)
        previous[i] = tail
        next[i] = -1
        member[i] = true
        if tail >= 0 { next[Int(tail)] = slot } else { head = slot }
        tail = slot
    }

    mutating func remove(_ slot: Int32) {
        let i = Int(slot)
        guard member[i] else { return }
        let (p, n) = (previous[i], next[i])
        if p >= 0 { next[Int(p)] = n } else { head = n }
        if n >= 0 { previous[Int(n)] = p } else { tail = p }
        member[i] = false
    }

    mutating func moveToBack(_ slot: Int32) {
        guard tail != slot else { return }
        remove(slot)
        append(slot)
    }
}
