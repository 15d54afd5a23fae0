/// Decides the label of each frame with a `RuleSet`.
///
/// A flow's label is decided on its first frame (`frameIndex` 0) and kept for its active-timeout
/// continuations: the decision is remembered by `flowID` while the flow's frames end with
/// `.active` (more may come) and forgotten with its first frame of any other end reason. A
/// continuation whose first frame was not seen is decided on its own. `flowID` 0 means "no flow
/// identity" (frames read from NDJSON): such frames are always decided on their own.
///
/// A flow whose `.active` frame is its last (no packet came after it before it went idle) never
/// sends the frame that would end its entry: entries live in two generations, and one not
/// touched for a whole generation (`maxPendingFlows / 2` new entries) is dropped, so memory stays
/// bounded on a long live capture.
///
/// Not thread-safe: one thread owns a labeler.
public final class Labeler {
    public let rules: RuleSet
    public let maxPendingFlows: Int
    /// Flows whose continuations may still come, with their first frame's decision (a rule index,
    /// or nil for unmatched): the current generation and the one before.
    private var pending: [UInt64: Int?] = [:]
    private var previous: [UInt64: Int?] = [:]

    /// `maxPendingFlows`: about the most flows remembered at once; `dps label` gives twice the
    /// flow table's bound (`max_flows`).
    public init(rules: RuleSet = .defaults, maxPendingFlows: Int) {
        self.rules = rules
        self.maxPendingFlows = max(2, maxPendingFlows)
    }

    /// Flows remembered for their continuations.
    public var pendingFlows: Int { pending.count + previous.count }

    /// The index in `rules.rules` of the rule that labels the frame, or nil when none matches.
    public func decide(_ frame: FlowFrame) -> Int? {
        let id = frame.flowID
        let active = frame.endReason == .active
        if id != 0, frame.frameIndex > 0, let remembered = pending[id] ?? previous.removeValue(forKey: id) {
            if active { remember(id, remembered) } else { pending.removeValue(forKey: id) }
            return remembered
        }
        // Not remembered: a first frame (flow IDs are unique per table) or a continuation whose
        // decision was forgotten, so there is nothing to remove.
        let decision = rules.firstMatch(frame)
        if id != 0, active { remember(id, decision) }
        return decision
    }

    private func remember(_ id: UInt64, _ decision: Int?) {
        pending[id] = .some(decision)
        if pending.count >= maxPendingFlows / 2 {
            previous = pending
            pending = [:]
        }
    }

    /// The label the rules give the frame, or nil when none matches.
    public func label(_ frame: FlowFrame) -> String? {
        decide(frame).map { rules.rules[$0].label }
    }

    /// Forgets every remembered flow (between input files, whose flow IDs start over).
    public func reset() {
        pending.removeAll()
        previous.removeAll()
    }
}
