import Testing

@testable import SensorIO

#if canImport(Glibc)
import Glibc
#endif

/// The Kronos writer's state machine alone: no socket, no thread, a clock made of numbers.
@Suite("Kronos connection state")
struct KronosConnectionStateTests {
    static let ms: Int64 = 1_000_000

    /// A state holding `lines` (each `length` bytes, newline included) in one batch.
    func state(lines: Int = 3, length: Int = 10, quiet: Double? = 4) -> KronosConnectionState {
        var state = KronosConnectionState(
            configuration: KronosSinkConfiguration(socketPath: "/k", queueFrames: 16, maximumQuietConnection: quiet))
        var batch = KronosLines()
        for index in 1...lines {
            batch.bytes += [UInt8](repeating: 0x61, count: length - 1) + [0x0A]
            batch.ends.append(index * length)
        }
        state.took(batch)
        return state
    }

    @Test("empty hands take a batch; connected sends from the first unwritten byte")
    func basics() {
        let empty = KronosConnectionState(configuration: KronosSinkConfiguration(socketPath: "/k", queueFrames: 1))
        #expect(empty.next(now: 0, drainDeadline: nil) == .takeBatch)
        var state = state()
        #expect(state.next(now: 0, drainDeadline: nil) == .connect)
        #expect(state.connected(now: 0) == .first)
        #expect(state.next(now: 0, drainDeadline: nil) == .send(from: 0))
        #expect(state.sent(15, now: 1) == 1)  // one line and a half
        #expect(state.next(now: 1, drainDeadline: nil) == .send(from: 15))
        #expect(state.isMidLine)
        #expect(state.sent(15, now: 2) == 2)
        #expect(state.remaining == 0)
        #expect(state.next(now: 2, drainDeadline: nil) == .takeBatch)
    }

    @Test("connect failures back off 100 ms, 200, 400 … up to 5 s; the outage is reported once, then its end")
    func backoff() {
        var state = state()
        var now: Int64 = 0
        var waits: [Int64] = []
        var starts = 0
        for _ in 0..<8 {
            #expect(state.next(now: now, drainDeadline: nil) == .connect)
            if state.connectFailed(now: now) { starts += 1 }
            guard case .wait(let until) = state.next(now: now, drainDeadline: nil) else {
                Issue.record("expected a wait")
                return
            }
            waits.append(until - now)
            now = until
        }
        #expect(starts == 1)
        #expect(waits == [100, 200, 400, 800, 1600, 3200, 5000, 5000].map { $0 * Self.ms })
        #expect(state.connected(now: now) == .recovered(outageNanoseconds: now, failedAttempts: 8))
        #expect(state.isReconnect)
        // After a connection that worked: at once, and the backoff starts over.
        #expect(state.disconnected(reconnectAt: now) == false)
        #expect(state.next(now: now, drainDeadline: nil) == .connect)
        _ = state.connectFailed(now: now)
        #expect(state.next(now: now, drainDeadline: nil) == .wait(until: now + 100 * Self.ms))
    }

    @Test("a connection lost mid-line sends that line again whole, from its start")
    func resendWhole() {
        var state = state()
        _ = state.connected(now: 0)
        #expect(state.sent(14, now: 0) == 1)  // line 1 whole, 4 bytes of line 2
        #expect(state.disconnected(reconnectAt: 0) == true)  // a line will be resent
        #expect(state.next(now: 0, drainDeadline: nil) == .connect)
        #expect(state.connected(now: 0) == .reconnected)
        #expect(state.next(now: 0, drainDeadline: nil) == .send(from: 10))
        // Lost between lines: nothing to resend.
        #expect(state.sent(10, now: 0) == 1)
        #expect(state.disconnected(reconnectAt: 0) == false)
    }

    @Test("a quiet connection is replaced before writing, never mid-line")
    func quiet() {
        var state = state(quiet: 4)
        _ = state.connected(now: 0)
        let later = 4_000 * Self.ms
        #expect(state.next(now: later - 1, drainDeadline: nil) == .send(from: 0))
        #expect(state.next(now: later, drainDeadline: nil) == .replaceQuietConnection)
        #expect(state.sent(5, now: 0) == 0)  // mid-line now
        #expect(state.next(now: later, drainDeadline: nil) == .send(from: 5))
        var never = self.state(quiet: nil)
        _ = never.connected(now: 0)
        #expect(never.next(now: .max / 2, drainDeadline: nil) == .send(from: 0))
    }

    @Test("the drain deadline stops the writer; a half-written line gets 200 ms more")
    func drain() {
        var state = state()
        _ = state.connected(now: 0)
        #expect(state.next(now: 999, drainDeadline: 1_000) == .send(from: 0))
        #expect(state.next(now: 1_000, drainDeadline: 1_000) == .stop(midLine: false))
        _ = state.sent(3, now: 0)
        #expect(state.next(now: 1_000, drainDeadline: 1_000) == .send(from: 3))
        #expect(state.next(now: 1_000 + 200 * Self.ms, drainDeadline: 1_000) == .stop(midLine: true))
        // Backing off during the drain: wake at the deadline, not later.
        var away = self.state()
        _ = away.connectFailed(now: 0)
        #expect(away.next(now: 0, drainDeadline: 50) == .wait(until: 50))
        #expect(away.pollMilliseconds(now: 0, drainDeadline: 30 * Self.ms) == 30)
        #expect(away.pollMilliseconds(now: 0, drainDeadline: nil) == 100)
    }

    @Test("send errors: full socket, signal, gone")
    func sendFailures() {
        #expect(KronosConnectionState.SendFailure(errno: EAGAIN) == .wouldBlock)
        #expect(KronosConnectionState.SendFailure(errno: EINTR) == .interrupted)
        #expect(KronosConnectionState.SendFailure(errno: EPIPE) == .lost)
        #expect(KronosConnectionState.SendFailure(errno: ECONNRESET) == .lost)
    }
}
