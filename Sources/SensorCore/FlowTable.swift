/// Aggregates packet events into bidirectional flows and emits a `FlowFrame` when a flow ends.
///
/// The table never reads a clock: time comes with each event (`ingest`) or from the caller
/// (`advance(to:)`), so file input gives the same frames every time and tests need no sleeping.
/// Time never runs backwards here: an event older than the newest one seen counts at that time.
///
/// When a flow starts and ends, why, and which side initiated it: `FlowLifecycle`. The table
/// keeps the flows' index, the time-ordered lists their deadlines come from, and the clock.
///
/// Not thread-safe: one thread owns a table.
public final class FlowTable {
    public let configuration: FlowTableConfiguration
    // Unchecked exclusivity, as for the storage below.
    @exclusivity(unchecked) public private(set) var stats = FlowTableStats()
    /// The newest time seen, in nanoseconds since the epoch.
    @exclusivity(unchecked) public private(set) var clock: Int64 = 0
    /// Flows held, closed connections kept as tombstones included.
    public var count: Int { index.count }

    private let emit: (FlowFrame) -> Void
    private let interfaceName: (UInt32) -> String
    private var interfaceNames: [UInt32: String] = [:]

    // The hot path touches these a dozen times per packet; dynamic exclusivity checks on them
    // were a fifth of its time. One thread owns the table and `emit` is never called inside an
    // access to them, so the checks can go.
    @exclusivity(unchecked) private var index = FlowIndex()
    private let seed = FlowHashSeed.random()
    @exclusivity(unchecked) private var entries = SlotStorage<FlowEntry>(capacity: 1024)
    /// Slots ever used: `entries[0..<slotsUsed]` are initialised.
    @exclusivity(unchecked) private var slotsUsed = 0
    @exclusivity(unchecked) private var freeSlots: [Int32] = []
    @exclusivity(unchecked) private var payloads = PayloadPool()
    /// The tunnel of each held flow whose first packet came out of one (most flows have none:
    /// kept beside the entries, not in them).
    @exclusivity(unchecked) private var tunnels: [Int32: Tunnel] = [:]
    @exclusivity(unchecked) private var byActivity = IndexList()  // every held flow, oldest activity first
    @exclusivity(unchecked) private var byPeriod = IndexList()  // open flows, oldest period start first
    @exclusivity(unchecked) private var byClose = IndexList()  // closing flows, earliest close first
    @exclusivity(unchecked) private var nextFlowID: UInt64 = 1
    /// A lower bound of the earliest pending expiry (`nextDeadline()`): `ingest` moves the clock
    /// without looking for expiries while it stays below. Exact after each `advance`; lowered
    /// when a flow joins a list (removals and moves to the back only push deadlines later).
    @exclusivity(unchecked) private var expiryFloor: Int64 = .min

    public init(
        configuration: FlowTableConfiguration,
        interfaceName: @escaping (UInt32) -> String = { _ in "" },
        emit: @escaping (FlowFrame) -> Void
    ) {
        self.configuration = configuration
        self.interfaceName = interfaceName
        self.emit = emit
    }

    deinit {
        index.deallocate()
        entries.deallocate()
        payloads.deallocate()
        byActivity.deallocate()
        byPeriod.deallocate()
        byClose.deallocate()
    }

    /// Counts one packet. `snapshot` holds the first bytes of its L4 payload (borrowed: copied
    /// only if the flow keeps it).
    public func ingest(_ event: PacketEvent, snapshot: UnsafeRawBufferPointer) {
        let now = max(clock, event.timestamp)
        if now > clock {
            if now >= expiryFloor { advance(to: now) } else { clock = now }
        }
        stats.packets &+= 1

        let (key, side) = FlowKey.canonical(event)
        let hash = key.hash(seed: seed)

        let slot: Int32
        if let existing = index.find(hash, matches: { entries[$0].key == key }) {
            switch entries[existing].lifecycle.arrival(of: event) {
            case .count:
                break
            case .finishThenRestart:
                finish(existing)
                restart(existing, event: event, side: side, at: now)
            case .restart:
                restart(existing, event: event, side: side, at: now)
            case .reopen:
                reopen(existing, event: event, at: now)
            case .absorb:
                stats.trailingPackets &+= 1
                entries[existing].lastActivity = now
                byActivity.moveToBack(existing)
                return
            }
            slot = existing
        } else {
            slot = insert(key, hash: hash, event: event, side: side, at: now)
        }
        update(slot, event: event, side: side, snapshot: snapshot, at: now)
    }

    /// Moves the clock to `now` and emits what has expired by then: closed connections past their
    /// linger, flows idle for `idleTimeout`, flows whose period reached `activeTimeout`.
    public func advance(to now: Int64) {
        clock = max(clock, now)
        // Expire in time order, so that a long jump of the clock (a quiet stretch in a capture)
        // ends each flow for the reason that came first.
        while let (slot, deadline, list) = nextDeadline(), deadline <= clock {
            switch list {
            case .close:
                finish(slot)
            case .period:
                if let reason = entries[slot].endReason(.activeTimeout) {
                    emitFrame(slot, reason: reason)
                    entries[slot].startPeriod(at: deadline)
                    byPeriod.moveToBack(slot)
                } else {
                    // An empty period emits nothing: the flow leaves the period list until its
                    // next packet starts the period that packet falls in (`resumePeriod`).
                    // Stepping period by period took idle/active steps for every idle flow
                    // (10^10 for a 1 ns active timeout against a 10 s idle timeout).
                    entries[slot].periodStart = deadline
                    byPeriod.remove(slot)
                }
            case .activity:
                if let reason = entries[slot].endReason(.idleTimeout) {
                    emitFrame(slot, reason: reason)
                }
                release(slot)
            }
        }
        expiryFloor = nextDeadline()?.1 ?? .max
    }

    private enum Deadline { case close, period, activity }

    /// The earliest pending expiry: the head of each list is its earliest.
    private func nextDeadline() -> (Int32, Int64, Deadline)? {
        var best: (Int32, Int64, Deadline)?
        if !byClose.isEmpty {
            best = (byClose.head, entries[Int(byClose.head)].closeAt, .close)
        }
        if !byActivity.isEmpty {
            let deadline = entries[Int(byActivity.head)].lastActivity &+ configuration.idleTimeout
            if best == nil || deadline < best!.1 { best = (byActivity.head, deadline, .activity) }
        }
        if !byPeriod.isEmpty {
            let deadline = entries[Int(byPeriod.head)].periodStart &+ configuration.activeTimeout
            if best == nil || deadline < best!.1 { best = (byPeriod.head, deadline, .period) }
        }
        return best
    }

    /// Emits every flow still held (closing connections with their own reason, the rest as
    /// `shutdown`) and empties the table.
    public func drain() {
        while !byClose.isEmpty {
            finish(byClose.head)
        }
        while !byActivity.isEmpty {
            let slot = byActivity.head
            if let reason = entries[slot].endReason(.shutdown) {
                emitFrame(slot, reason: reason)
            }
            release(slot)
        }
    }

    // MARK: - Slots

    private func insert(_ key: FlowKey, hash: UInt64, event: PacketEvent, side: FlowSide, at now: Int64)
        -> Int32
    {
        if index.count >= configuration.maxFlows, !byActivity.isEmpty {
            let victim = byActivity.head
            if let reason = entries[victim].endReason(.evicted) {
                emitFrame(victim, reason: reason)
            }
            release(victim)
        }
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = Int32(slotsUsed)
            slotsUsed += 1
            entries.reserve(slotsUsed)
            byActivity.reserve(slots: entries.capacity)
            byPeriod.reserve(slots: entries.capacity)
            byClose.reserve(slots: entries.capacity)
        }
        entries[slot] = FlowEntry(key: key)
        index.insert(hash, slot: slot)
        restart(slot, event: event, side: side, at: now)
        return slot
    }

    /// (Re)starts the slot as a new flow whose first packet is `event`.
    private func restart(_ slot: Int32, event: PacketEvent, side: FlowSide, at now: Int64) {
        dropPayloads(slot)
        let key = entries[slot].key
        var entry = FlowEntry(key: key)
        entry.flowID = nextFlowID
        nextFlowID &+= 1
        entry.lifecycle = FlowLifecycle(firstPacket: event, from: side)
        entry.periodStart = now
        entry.lastActivity = now
        entries[slot] = entry
        if let tunnel = event.tunnel {
            tunnels[slot] = tunnel
        } else if !tunnels.isEmpty {
            tunnels[slot] = nil
        }
        expiryFloor = min(
            expiryFloor, now &+ min(configuration.idleTimeout, configuration.activeTimeout))
        stats.flowsCreated &+= 1
        byClose.remove(slot)
        byPeriod.remove(slot)
        byPeriod.append(slot)
        byActivity.remove(slot)
        byActivity.append(slot)
    }

    /// Opens a late period of a tombstone's flow (a packet with payload or an RST after its
    /// frame went out): same flow ID and orientation, the next frame index, closing from `now`
    /// and lingering like any close.
    private func reopen(_ slot: Int32, event: PacketEvent, at now: Int64) {
        entries[slot].lifecycle.reopen(by: event)
        entries[slot].startPeriod(at: now)
        startLinger(slot, at: now)
    }

    /// Puts an open flow whose last period passed empty back in the period list: its period is
    /// the one `now` falls in (periods stay aligned to the flow's first packet), placed in time
    /// order among the others, which all started within one active timeout before `now`.
    private func resumePeriod(_ slot: Int32, at now: Int64) {
        let step = configuration.activeTimeout
        let start = entries[slot].periodStart
        let periodStart = start &+ ((now &- start) / step) &* step
        entries[slot].periodStart = periodStart
        var after = byPeriod.tail
        while after >= 0, entries[Int(after)].periodStart > periodStart { after = byPeriod.previous(after) }
        byPeriod.insert(slot, after: after)
        expiryFloor = min(expiryFloor, periodStart &+ step)
    }

    private func update(
        _ slot: Int32, event: PacketEvent, side: FlowSide, snapshot: UnsafeRawBufferPointer, at now: Int64
    ) {
        if entries[slot].lifecycle.isOpen, !byPeriod.contains(slot) { resumePeriod(slot, at: now) }
        entries[slot].count(side: side, bytes: UInt64(event.payloadLength), at: now)
        entries[slot].flags.formUnion(event.tcpFlags)
        if !snapshot.isEmpty, entries[slot].frameIndex == 0, !entries[slot].hasPayload(side: side) {
            entries[slot].keepPayload(side: side, payloads.store(snapshot))
        }
        byActivity.moveToBack(slot)
        if entries[slot].lifecycle.record(event, from: side, firstFrameOut: entries[slot].frameIndex != 0) {
            startLinger(slot, at: now)
        }
    }

    /// Moves a connection that has just closed from the period list (if there) to the close list.
    private func startLinger(_ slot: Int32, at now: Int64) {
        entries[slot].closeAt = now &+ configuration.closeLinger
        expiryFloor = min(expiryFloor, now &+ configuration.closeLinger)
        byPeriod.remove(slot)
        byClose.append(slot)
    }

    /// Emits a closing connection's frame; the slot stays as a tombstone until it has been idle
    /// for `idleTimeout`: it absorbs trailing packets without payload or RST, and a packet with
    /// either opens a late period (`reopen`).
    private func finish(_ slot: Int32) {
        if entries[slot].hasPackets, let reason = entries[slot].lifecycle.closeReason {
            emitFrame(slot, reason: reason)
        }
        dropPayloads(slot)
        entries[slot].becomeTombstone()
        byClose.remove(slot)
        byPeriod.remove(slot)
    }

    private func release(_ slot: Int32) {
        index.remove(entries[slot].key.hash(seed: seed), slot: slot)
        dropPayloads(slot)
        byActivity.remove(slot)
        byPeriod.remove(slot)
        byClose.remove(slot)
        entries[slot].becomeTombstone()
        if !tunnels.isEmpty { tunnels[slot] = nil }
        freeSlots.append(slot)
    }

    private func dropPayloads(_ slot: Int32) {
        payloads.release(entries[slot].payloads.a)
        payloads.release(entries[slot].payloads.b)
        entries[slot].payloads = PerSide(0, 0)
    }

    private func emitFrame(_ slot: Int32, reason: EndReason) {
        let entry = entries[slot]
        let handle = entry.framePayload
        let frame = entry.frame(
            reason: reason, interface: name(of: entry.key.interface),
            payload: handle == 0 ? nil : Array(payloads.bytes(handle)),
            tunnel: tunnels.isEmpty ? nil : tunnels[slot])
        stats.frames &+= 1
        stats.framesByReason[reason.index] &+= 1
        if entry.frameIndex == 0 { dropPayloads(slot) }  // only the first frame carries one
        entries[slot].frameIndex &+= 1
        emit(frame)
    }

    private func name(of interface: UInt32) -> String {
        if let known = interfaceNames[interface] { return known }
        let name = interfaceName(interface)
        interfaceNames[interface] = name
        return name
    }
}
