import TestSupport
import Testing

@testable import SensorCore

@Suite("Labeler")
struct LabelerTests {
    /// A frame of flow `id`, `frameIndex`, ending with `reason`.
    func frame(
        id: UInt64, frameIndex: UInt32, reason: EndReason, dport: UInt16, duration: Double, payload: [UInt8]? = nil
    ) -> FlowFrame {
        var frame = ruleFrame(sport: 50000, dport: dport, duration: duration, payload: payload)
        frame.flowID = id
        frame.frameIndex = frameIndex
        frame.endReason = reason
        return frame
    }

    @Test("continuations keep the first frame's label, then the flow is forgotten")
    func continuationsKeepLabel() {
        let labeler = Labeler(maxPendingFlows: 1 << 19)
        // An SSH flow whose first frame is short: ssh_bruteforce. Its continuations alone would
        // match nothing (60 s is not under 1 s), yet they keep ssh_bruteforce.
        #expect(labeler.label(frame(id: 7, frameIndex: 0, reason: .active, dport: 22, duration: 0.5)) == "ssh_bruteforce")
        #expect(labeler.pendingFlows == 1)
        #expect(labeler.label(frame(id: 7, frameIndex: 1, reason: .active, dport: 22, duration: 60)) == "ssh_bruteforce")
        #expect(labeler.pendingFlows == 1)
        #expect(labeler.label(frame(id: 7, frameIndex: 2, reason: .fin, dport: 22, duration: 3)) == "ssh_bruteforce")
        #expect(labeler.pendingFlows == 0)
        // Decided alone, the same continuation is unmatched.
        #expect(Labeler(maxPendingFlows: 1 << 19).label(frame(id: 7, frameIndex: 1, reason: .active, dport: 22, duration: 60)) == nil)
    }

    @Test("C2 continuations (no payload) stay malware_c2; unmatched first frames stay unmatched")
    func continuationWithoutPayload() {
        let labeler = Labeler(maxPendingFlows: 1 << 19)
        let c2 = (0..<32).map { UInt8($0 * 7) }
        #expect(labeler.label(frame(id: 1, frameIndex: 0, reason: .active, dport: 4444, duration: 60, payload: c2)) == "malware_c2")
        #expect(labeler.label(frame(id: 2, frameIndex: 0, reason: .active, dport: 5555, duration: 60)) == nil)
        #expect(labeler.label(frame(id: 1, frameIndex: 1, reason: .idle, dport: 4444, duration: 1)) == "malware_c2")
        // Flow 2 matched nothing first: its last frame is unmatched too, and it is forgotten.
        #expect(labeler.decide(frame(id: 2, frameIndex: 1, reason: .shutdown, dport: 5555, duration: 1)) == nil)
        #expect(labeler.pendingFlows == 0)
    }

    @Test("the remembered decision wins over what the continuation alone would give")
    func rememberedDecisionWins() {
        let labeler = Labeler(maxPendingFlows: 1 << 19)
        // First frame to 22, long: rule 2 fails; nothing else matches: unmatched.
        #expect(labeler.decide(frame(id: 3, frameIndex: 0, reason: .active, dport: 22, duration: 60)) == nil)
        // Its last frame alone (short, to 22) would be ssh_bruteforce, but the flow is unmatched.
        #expect(labeler.decide(frame(id: 3, frameIndex: 1, reason: .idle, dport: 22, duration: 0.2)) == nil)
        #expect(Labeler(maxPendingFlows: 1 << 19).label(frame(id: 3, frameIndex: 1, reason: .idle, dport: 22, duration: 0.2)) == "ssh_bruteforce")
    }

    @Test("frames without flow identity (flowID 0) and single-frame flows keep nothing")
    func noIdentity() {
        let labeler = Labeler(maxPendingFlows: 1 << 19)
        #expect(labeler.label(frame(id: 0, frameIndex: 0, reason: .active, dport: 80, duration: 1)) == "benign")
        #expect(labeler.label(frame(id: 9, frameIndex: 0, reason: .fin, dport: 80, duration: 1)) == "benign")
        #expect(labeler.pendingFlows == 0)
        _ = labeler.label(frame(id: 10, frameIndex: 0, reason: .active, dport: 80, duration: 1))
        #expect(labeler.pendingFlows == 1)
        labeler.reset()
        #expect(labeler.pendingFlows == 0)
    }

    @Test("flow table continuations: every frame of a long SSH flow is ssh_bruteforce")
    func throughFlowTable() {
        let labeler = Labeler(maxPendingFlows: 1 << 19)
        var labels: [String?] = []
        var frames: [FlowFrame] = []
        let table = FlowTable(
            configuration: FlowTableConfiguration.testing(idleTimeout: 10_000_000_000, activeTimeout: 2_000_000_000)
        ) {
            frames.append($0)
            labels.append(labeler.label($0))
        }
        let client = IPAddress(ipv4: 198, 51, 100, 1)
        let server = IPAddress(ipv4: 198, 51, 100, 2)
        let banner = Array("SSH-2.0-OpenSSH_7.9".utf8)
        // Packets at 0 and 0.5 s (the first period: 0.5 s long), then every 0.5 s from 2.5 s to
        // 10 s: continuation periods of 1.5 s, which alone are not "under 1 s".
        let start: Int64 = 1_000_000_000_000
        let times = [0, 500] + Array(stride(from: 2500, through: 10_000, by: 500))
        for (i, ms) in times.enumerated() {
            let event = PacketEvent(
                timestamp: start + Int64(ms) * 1_000_000, source: client, destination: server, sourcePort: 50000,
                destinationPort: 22, transport: IPProtocolNumber.tcp, tcpFlags: i == 0 ? [.syn] : [.ack],
                payloadLength: i == 1 ? UInt32(banner.count) : 0)
            if i == 1 {
                banner.withUnsafeBytes { table.ingest(event, snapshot: $0) }
            } else {
                table.ingest(event, snapshot: UnsafeRawBufferPointer(start: nil, count: 0))
            }
        }
        table.drain()
        #expect(frames.count >= 4)
        #expect(frames.map(\.frameIndex) == Array(0..<UInt32(frames.count)))
        #expect(frames.first?.duration == 0.5)
        #expect(frames.first?.payload == banner)
        #expect(labels.allSatisfy { $0 == "ssh_bruteforce" })
        // Alone, the continuations of 1.5 s would match no rule.
        let alone = frames.dropFirst().filter { $0.duration >= 1 }
        #expect(!alone.isEmpty)
        #expect(alone.allSatisfy { Labeler(maxPendingFlows: 1 << 19).label($0) == nil })
        #expect(labeler.pendingFlows == 0)
    }
}

@Suite("Labeler memory")
struct LabelerMemoryTests {
    func active(_ id: UInt64, frameIndex: UInt32 = 0, dport: UInt16 = 80) -> FlowFrame {
        var frame = ruleFrame(sport: 50000, dport: dport, duration: 0.1)
        frame.flowID = id
        frame.frameIndex = frameIndex
        frame.endReason = .active
        return frame
    }

    @Test("flows that never send a final frame are dropped after two generations; live ones are kept")
    func boundedPending() {
        let labeler = Labeler(maxPendingFlows: 100)
        _ = labeler.decide(active(1, dport: 22))  // ssh_bruteforce, kept alive below
        for id in UInt64(1000)..<UInt64(1400) {
            _ = labeler.decide(active(id))  // abandoned after their first frame
            if id % 40 == 0 {
                #expect(labeler.label(active(1, frameIndex: 1, dport: 9999)) == "ssh_bruteforce")
            }
        }
        #expect(labeler.pendingFlows <= 100)
        #expect(labeler.label(active(1, frameIndex: 2, dport: 9999)) == "ssh_bruteforce")
        // An abandoned early flow is forgotten: its continuation is decided on its own.
        #expect(labeler.decide(active(1000, frameIndex: 1, dport: 9999)) == nil)
    }
}
