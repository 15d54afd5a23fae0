/// Timeouts and bounds of a `FlowTable`. Times are nanoseconds.
public struct FlowTableConfiguration: Sendable, Equatable {
    public private(set) var idleTimeout: Int64 = 10_000_000_000
    public private(set) var activeTimeout: Int64 = 60_000_000_000
    public var maxFlows: Int = 262_144
    /// How long a closed TCP connection waits for its last ACKs before its frame is emitted.
    public var closeLinger: Int64 = 500_000_000

    public init(
        idleTimeout: Int64 = 10_000_000_000, activeTimeout: Int64 = 60_000_000_000,
        maxFlows: Int = 262_144, closeLinger: Int64 = 500_000_000
    ) {
        // A zero step would never move a deadline: at least 1 ns.
        self.idleTimeout = max(1, idleTimeout)
        self.activeTimeout = max(1, activeTimeout)
        self.maxFlows = maxFlows
        self.closeLinger = closeLinger
    }
}

/// Counters of a `FlowTable`.
public struct FlowTableStats: Sendable, Equatable {
    /// Packets ingested.
    public var packets: UInt64 = 0
    /// Packets of a TCP connection that arrived after its frame was emitted (final ACKs,
    /// retransmitted FINs): absorbed, counted here, not in a frame.
    public var trailingPackets: UInt64 = 0
    public var flowsCreated: UInt64 = 0
    public var frames: UInt64 = 0
    /// Frames by `EndReason`, in `EndReason.allCases` order.
    public var framesByReason: [UInt64] = Array(repeating: 0, count: EndReason.allCases.count)

    public init() {}

    public func frames(_ reason: EndReason) -> UInt64 {
        framesByReason[reason.index]
    }
}

/// Aggregates packet events into bidirectional flows and emits a `FlowFrame` when a flow ends.
///
/// The table never reads a clock: time comes with each event (`ingest`) or from the caller
/// (`advance(to:)`), so file input gives the same frames every time and tests need no sleeping.
/// Time never runs backwards here: an event older than the newest one seen counts at that time.
///
/// Orientation: the initiator is the sender of a TCP SYN without ACK (the receiver of a SYN+ACK
/// when that comes first); otherwise the sender of the first packet seen, except a TCP flow first
/// seen mid-connection from a port below 1024 to a port at or above 1024, whose receiver is taken
/// as the initiator. Orientation is fixed once the flow's first frame is out.
///
/// Not thread-safe: one thread owns a table.
public final class FlowTable {
    public let configuration: FlowTableConfiguration
    // Unchecked exclusivity, as for the storage below.
    @exclusivity(unchecked) public private(set) var stats = FlowTableStats()
    /// The newest time seen, in nanoseconds since the epoch.
    @exclusivity(unchecked) public private(set) var clock: Int64 = 0
    /// Flows held, closed connections still absorbing trailing packets included.
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
    @exclusivity(unchecked) private var byActivity = IndexList()  // every held flow, oldest activity first
    @exclusivity(unchecked) private var byPeriod = IndexList()  // open flows, oldest period start first
    @exclusivity(unchecked) private var byClose = IndexList()  // closing flows, earliest close first
    @exclusivity(unchecked) private var nextFlowID: UInt64 = 1
    /// A lower bound of the earliest pending expiry (`nextDeadline()`): `ingest` moves the clock
    /// without looking for expiries while it stays below. Exact after each `advance`; lowered
    /// when a flow joins a list (removals and moves to the back only push deadlines later).
    @exclusivity(unchecked) private var expiryFloor: Int64 = .min

    public init(
        configuration: FlowTableConfiguration = .init(),
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
        let isTCP = event.transport == IPProtocolNumber.tcp
        let opensConnection = isTCP && event.tcpFlags.contains(.syn) && !event.tcpFlags.contains(.ack)

        let slot: Int32
        if let existing = index.find(hash, matches: { entries[$0].key == key }) {
            switch entries[existing].state {
            case .open:
                break
            case .closing where !opensConnection:
                break
            case .closing:
                finish(existing, reason: entries[existing].closeReason)
                restart(existing, event: event, side: side, at: now)
            case .closed where opensConnection:
                restart(existing, event: event, side: side, at: now)
            case .closed:
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
                finish(slot, reason: entries[slot].closeReason)
            case .period:
                if entries[slot].hasPackets {
                    emitFrame(slot, reason: .active)
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
                switch entries[slot].state {
                case .open: if entries[slot].hasPackets { emitFrame(slot, reason: .idle) }
                case .closing: emitFrame(slot, reason: entries[slot].closeReason)
                case .closed: break
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
            let slot = byClose.head
            finish(slot, reason: entries[slot].closeReason)
        }
        while !byActivity.isEmpty {
            let slot = byActivity.head
            if entries[slot].state == .open, entries[slot].hasPackets {
                emitFrame(slot, reason: .shutdown)
            }
            release(slot)
        }
    }

    // MARK: - Slots

    private func insert(_ key: FlowKey, hash: UInt64, event: PacketEvent, side: UInt8, at now: Int64)
        -> Int32
    {
        if index.count >= configuration.maxFlows, !byActivity.isEmpty {
            let victim = byActivity.head
            switch entries[victim].state {
            case .open where entries[victim].hasPackets: emitFrame(victim, reason: .evicted)
            case .closing: emitFrame(victim, reason: entries[victim].closeReason)  // it did close
            default: break
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
    private func restart(_ slot: Int32, event: PacketEvent, side: UInt8, at now: Int64) {
        dropPayloads(slot)
        let key = entries[slot].key
        var entry = FlowEntry(key: key)
        entry.flowID = nextFlowID
        nextFlowID &+= 1
        entry.initiator = FlowEntry.initialInitiator(event, side: side)
        entry.orientationFixed = event.transport == IPProtocolNumber.tcp && event.tcpFlags.contains(.syn)
        entry.periodStart = now
        entry.lastActivity = now
        entries[slot] = entry
        expiryFloor = min(
            expiryFloor, now &+ min(configuration.idleTimeout, configuration.activeTimeout))
        stats.flowsCreated &+= 1
        byClose.remove(slot)
        byPeriod.remove(slot)
        byPeriod.append(slot)
        byActivity.remove(slot)
        byActivity.append(slot)
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
        _ slot: Int32, event: PacketEvent, side: UInt8, snapshot: UnsafeRawBufferPointer, at now: Int64
    ) {
        let flags = event.tcpFlags
        if entries[slot].state == .open, !byPeriod.contains(slot) { resumePeriod(slot, at: now) }
        entries[slot].count(side: side, bytes: UInt64(event.payloadLength), at: now)
        entries[slot].flags.formUnion(flags)
        if !snapshot.isEmpty, entries[slot].sequence == 0, !entries[slot].hasPayload(side: side) {
            entries[slot].keepPayload(side: side, payloads.store(snapshot))
        }
        byActivity.moveToBack(slot)

        guard event.transport == IPProtocolNumber.tcp else { return }
        if !entries[slot].orientationFixed, entries[slot].sequence == 0, flags.contains(.syn),
            !flags.contains(.ack)
        {
            entries[slot].initiator = side
            entries[slot].orientationFixed = true
        }
        guard entries[slot].state == .open else { return }
        if flags.contains(.rst) {
            close(slot, reason: .rst, at: now)
        } else if flags.contains(.fin) {
            entries[slot].finSides |= 1 << side
            if entries[slot].finSides == 0b11 { close(slot, reason: .fin, at: now) }
        }
    }

    private func close(_ slot: Int32, reason: EndReason, at now: Int64) {
        entries[slot].state = .closing
        entries[slot].closeReason = reason
        entries[slot].closeAt = now &+ configuration.closeLinger
        expiryFloor = min(expiryFloor, now &+ configuration.closeLinger)
        byPeriod.remove(slot)
        byClose.append(slot)
    }

    /// Emits a closing connection's frame; the slot stays as a tombstone that absorbs trailing
    /// packets until it has been idle for `idleTimeout`.
    private func finish(_ slot: Int32, reason: EndReason) {
        if entries[slot].hasPackets { emitFrame(slot, reason: reason) }
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
        freeSlots.append(slot)
    }

    private func dropPayloads(_ slot: Int32) {
        payloads.release(entries[slot].payloads.0)
        payloads.release(entries[slot].payloads.1)
        entries[slot].payloads = (0, 0)
    }

    private func emitFrame(_ slot: Int32, reason: EndReason) {
        let entry = entries[slot]
        let handle = entry.framePayload
        let frame = entry.frame(
            reason: reason, interface: name(of: entry.key.interface),
            payload: handle == 0 ? nil : Array(payloads.bytes(handle)))
        stats.frames &+= 1
        stats.framesByReason[reason.index] &+= 1
        if entry.sequence == 0 { dropPayloads(slot) }  // only the first frame carries one
        entries[slot].sequence &+= 1
        emit(frame)
    }

    private func name(of interface: UInt32) -> String {
        if let known = interfaceNames[interface] { return known }
        let name = interfaceName(interface)
        interfaceNames[interface] = name
        return name
    }
}
