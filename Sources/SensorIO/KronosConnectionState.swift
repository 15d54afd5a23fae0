#if canImport(Glibc)
import Glibc
#endif

/// The Kronos writer's connection state, apart from the syscalls (swift-nio keeps
/// `PendingStreamWritesState` apart from the channel in the same way): which step comes next and
/// what each outcome changes. `KronosSink`'s writer thread performs the steps with real sockets and
/// locks; tests drive this type alone with a made-up clock and made-up outcomes.
///
/// The rules:
/// 1. With no lines in hand, take the oldest queue buffer whole (`takeBatch`).
/// 2. Once the shutdown drain's deadline has passed, stop; a line already partly written gets
///    `midLineGrace` more, so that Kronos is not left with half a line.
/// 3. A connection quiet for `quietLimit` is replaced before the next write (Kronos closes quiet
///    connections; writing into one it is about to close could lose lines), never mid-line.
/// 4. Without a connection: connect, at once after one that worked, then with backoff from
///    `initialBackoff` doubling to `maximumBackoff`. An outage is reported once when it starts and
///    once when it ends.
/// 5. Send from the first byte not yet written. A line is never torn: when a connection breaks
///    mid-line, the line is sent again whole, from its start, on the next connection.
struct KronosConnectionState {
    enum Step: Equatable {
        /// Nothing in hand: take the oldest queue buffer (or wait for one, or finish).
        case takeBatch
        /// The drain deadline has passed: give up what is left.
        case stop(midLine: Bool)
        /// Close the quiet connection; connect afresh.
        case replaceQuietConnection
        /// Backing off: nothing to do before this time.
        case wait(until: Int64)
        case connect
        /// Send the batch's bytes from this offset.
        case send(from: Int)
    }

    /// What a successful connect was.
    enum Connected: Equatable {
        case first
        case reconnected
        /// The end of an outage: how long it lasted and how many attempts failed in it.
        case recovered(outageNanoseconds: Int64, failedAttempts: Int)
    }

    /// What a failed `send` means.
    enum SendFailure: Equatable {
        /// The socket is full: wait for room.
        case wouldBlock
        /// A signal: try again.
        case interrupted
        /// The connection is gone.
        case lost

        init(errno code: Int32) {
            switch code {
            case EAGAIN, EWOULDBLOCK: self = .wouldBlock
            case EINTR: self = .interrupted
            default: self = .lost
            }
        }
    }

    static let midLineGrace: Int64 = 200_000_000

    let initialBackoff: Int64
    let maximumBackoff: Int64
    let quietLimit: Int64?

    /// The lines in hand; `batch.first` counts up as lines are fully written.
    var batch = KronosLines()
    /// Bytes of `batch` written on the current connection (from the start of line `batch.first`).
    private(set) var written = 0
    private(set) var isConnected = false
    /// Connect attempts so far, successful or not.
    private(set) var attempts: UInt64 = 0
    private(set) var lastActivity: Int64 = 0
    private(set) var nextAttempt: Int64 = 0
    private var backoff: Int64
    private var outageStart: Int64?
    private var outageFailures = 0

    init(configuration: KronosSinkConfiguration) {
        initialBackoff = Int64(configuration.initialBackoff * 1e9)
        maximumBackoff = Int64(configuration.maximumBackoff * 1e9)
        quietLimit = configuration.maximumQuietConnection.map { Int64($0 * 1e9) }
        backoff = initialBackoff
    }

    /// Lines in hand not yet fully written.
    var remaining: Int { batch.count }
    var isMidLine: Bool { written != batch.firstStart }
    /// Whether the attempt just made was a reconnect (for the counters).
    var isReconnect: Bool { attempts > 1 }

    /// The next step at `now`; `drainDeadline` is set once shutdown has started.
    func next(now: Int64, drainDeadline: Int64?) -> Step {
        if remaining == 0 { return .takeBatch }
        if let drainDeadline, now >= drainDeadline &+ (isMidLine ? Self.midLineGrace : 0) {
            return .stop(midLine: isMidLine)
        }
        if isConnected {
            if let quietLimit, now - lastActivity >= quietLimit, !isMidLine { return .replaceQuietConnection }
            return .send(from: written)
        }
        if now < nextAttempt { return .wait(until: min(nextAttempt, drainDeadline ?? .max)) }
        return .connect
    }

    /// A new batch in hand (the previous one has been given back to the queue).
    mutating func took(_ lines: KronosLines) {
        batch = lines
        written = batch.firstStart
    }

    mutating func connected(now: Int64) -> Connected {
        attempts += 1
        isConnected = true
        lastActivity = now
        backoff = initialBackoff
        if let start = outageStart {
            outageStart = nil
            return .recovered(outageNanoseconds: now - start, failedAttempts: outageFailures)
        }
        return attempts == 1 ? .first : .reconnected
    }

    /// Schedules the next attempt with backoff. Returns true when this failure starts an outage.
    mutating func connectFailed(now: Int64) -> Bool {
        attempts += 1
        let starts = outageStart == nil
        if starts {
            outageStart = now
            outageFailures = 0
        }
        outageFailures += 1
        nextAttempt = now + backoff
        backoff = min(backoff * 2, maximumBackoff)
        return starts
    }

    /// The connection was closed (lost, or replaced); the next attempt is at `reconnectAt`.
    /// Returns true when a half-written line will be sent again whole.
    mutating func disconnected(reconnectAt: Int64) -> Bool {
        isConnected = false
        nextAttempt = reconnectAt
        let resend = written > batch.firstStart
        written = batch.firstStart
        return resend
    }

    /// `count` bytes went out at `now`. Returns how many lines that completed.
    mutating func sent(_ count: Int, now: Int64) -> Int {
        written += count
        lastActivity = now
        var completed = 0
        while batch.count > 0 && batch.ends[batch.first] <= written {
            batch.first += 1
            completed += 1
        }
        return completed
    }

    /// How long to wait for room in a full socket: at most 100 ms, less near the drain deadline.
    func pollMilliseconds(now: Int64, drainDeadline: Int64?) -> Int32 {
        Int32(drainDeadline.map { max(1, min(100, ($0 - now) / 1_000_000)) } ?? 100)
    }
}
