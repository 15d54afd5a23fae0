import CDatagrams

#if canImport(Glibc)
import Glibc
#endif

/// The IPFIX writer's state, apart from the syscalls (like `KronosConnectionState`): which step
/// comes next, which message goes out, and what each outcome changes. `IPFIXSink`'s writer
/// thread performs the steps with a real socket; tests drive this type alone with a clock of
/// numbers.
///
/// The rules:
/// 1. With no records in hand, take the oldest queue buffer whole (`takeBatch`).
/// 2. Once the shutdown drain's deadline has passed, stop; a TCP message already partly written
///    gets `midMessageGrace` more, so that the collector is not left with half a message.
/// 3. Without a socket: connect (UDP: resolve and connect a datagram socket; TCP: connect), at
///    once after a connection that worked, else with backoff from `initialBackoff` doubling to
///    `maximumBackoff`.
/// 4. A message is packed from the records in hand just before it is sent: as many as fit
///    `maximumMessageBytes`, after the template set when the templates are due. They are due on
///    a new socket, and on UDP again after `templateRefresh` or `templateRefreshMessages`
///    messages without them. On UDP up to `messagesPerSend` messages are packed at once, each
///    numbered as if the ones before it went out, for one `sendmmsg`; what did not go out is
///    packed again (after a dropped message its followers' numbers would be wrong).
/// 5. The sequence number counts the data records sent before the message in this transport
///    session: it starts at 0, grows when a message has gone out whole, and on TCP starts again
///    at 0 on each new connection (a new TCP connection is a new transport session).
/// 6. TCP: a message half-written when the connection broke is packed and sent again whole on
///    the next connection, after the templates.
/// 7. UDP: a failed send is counted and the message dropped; except that ECONNREFUSED (the
///    ICMP port unreachable an earlier datagram drew, reported on this send, which did not go
///    out) is retried once.
struct IPFIXExportState {
    enum Step: Equatable {
        /// Nothing in hand: take the oldest queue buffer (or wait for one, or finish).
        case takeBatch
        /// The drain deadline has passed: give up what is left.
        case stop(midMessage: Bool)
        /// Backing off: nothing to do before this time.
        case wait(until: Int64)
        case connect
        /// Send the messages (`prepareMessage` first) from this offset.
        case send(from: Int)
    }

    /// What a failed `send` means.
    enum SendFailure: Equatable {
        /// The socket is full: wait for room.
        case wouldBlock
        /// A signal: try again.
        case interrupted
        /// UDP: the error was an earlier datagram's; send this one again.
        case retry
        /// UDP: the message is lost (counted); go on with the next.
        case dropMessage(records: Int)
        /// TCP: the connection is gone; the message goes again whole on the next one.
        case connectionLost(midMessage: Bool)
    }

    static let midMessageGrace: Int64 = 200_000_000

    let transport: IPFIXDestination.Transport
    let observationDomain: UInt32
    let maximumMessageBytes: Int
    let messagesPerSend: Int
    let templateRefresh: Int64
    let templateRefreshMessages: Int
    let initialBackoff: Int64
    let maximumBackoff: Int64

    /// The records in hand (queue entries); `batch.first` counts up as messages go out.
    var batch = KronosLines()
    /// The messages being sent, back to back; empty until `prepareMessage` packs them.
    private(set) var messages: [UInt8] = []
    /// Where each packed message ends in `messages`, its records, whether it carries the
    /// template set; `current` indexes the first not yet sent whole.
    private(set) var messageEnds: [Int] = []
    private var messageRecordCounts: [Int] = []
    private var messageTemplates: [Bool] = []
    private var current = 0
    /// Bytes of `messages` written (TCP can write part of one).
    private(set) var written = 0
    /// UDP: the current message has been retried after ECONNREFUSED.
    private(set) var retried = false

    /// What `sent` completed.
    struct Completion: Equatable {
        var records = 0
        var messages = 0
        /// Messages among them that carried the template set.
        var templates = 0
    }
    private(set) var sequenceNumber: UInt32 = 0
    private(set) var isConnected = false
    /// Successful connects so far.
    private(set) var connections: UInt64 = 0
    private(set) var nextAttempt: Int64 = 0
    private var backoff: Int64
    /// When the templates last went out on this socket; nil: not yet.
    private var templatesSentAt: Int64?
    private var messagesSinceTemplates = 0

    /// `maximumMessageBytes` overrides the configuration's (tests: small TCP messages);
    /// `messagesPerSend` is 1 on TCP, else at most `DPS_DATAGRAMS_MAX`.
    init(configuration: IPFIXSinkConfiguration, maximumMessageBytes: Int? = nil, messagesPerSend: Int? = nil) {
        transport = configuration.destination.transport
        observationDomain = configuration.observationDomain
        self.maximumMessageBytes = maximumMessageBytes ?? configuration.maximumMessageBytes
        self.messagesPerSend =
            transport == .tcp ? 1 : max(1, min(messagesPerSend ?? Int(DPS_DATAGRAMS_MAX), Int(DPS_DATAGRAMS_MAX)))
        templateRefresh = Int64(max(0, min(configuration.templateRefreshSeconds, 1e9)) * 1e9)
        templateRefreshMessages = configuration.effectiveTemplateRefreshMessages
        initialBackoff = Int64(configuration.initialBackoff * 1e9)
        maximumBackoff = Int64(max(configuration.initialBackoff, configuration.maximumBackoff) * 1e9)
        backoff = initialBackoff
    }

    /// Records in hand not yet sent (those of the message included).
    var remaining: Int { batch.count }
    /// Part of a message written (TCP).
    var isMidMessage: Bool {
        current < messageEnds.count && written > (current == 0 ? 0 : messageEnds[current - 1])
    }
    /// The records of the first message not yet sent, and whether it carries the templates.
    var messageRecords: Int { current < messageEnds.count ? messageRecordCounts[current] : 0 }
    var messageHasTemplates: Bool { current < messageEnds.count && messageTemplates[current] }
    /// The ends of the messages not yet sent whole.
    var unsentEnds: ArraySlice<Int> { messageEnds[current...] }

    /// The next step at `now`; `drainDeadline` is set once shutdown has started.
    func next(now: Int64, drainDeadline: Int64?) -> Step {
        if remaining == 0 { return .takeBatch }
        if let drainDeadline, now >= drainDeadline &+ (isMidMessage ? Self.midMessageGrace : 0) {
            return .stop(midMessage: isMidMessage)
        }
        if isConnected { return .send(from: written) }
        if now < nextAttempt { return .wait(until: min(nextAttempt, drainDeadline ?? .max)) }
        return .connect
    }

    /// Whether a message packed at `now` carries the template set, after `messagesSince` messages
    /// without them since `sentAt` (nil: not yet on this socket).
    private func templatesDue(now: Int64, sentAt: Int64?, messagesSince: Int) -> Bool {
        guard let sentAt else { return true }
        guard transport == .udp else { return false }
        return now - sentAt >= templateRefresh || messagesSince >= templateRefreshMessages
    }

    /// Packs the next messages (up to `messagesPerSend`) from the records in hand, unless some
    /// are still packed. Returns how many it packed whose single record made them larger than
    /// `maximumMessageBytes`.
    mutating func prepareMessage(now: Int64, exportTime: UInt32) -> Int {
        guard messageEnds.isEmpty, remaining > 0 else { return 0 }
        var first = batch.first
        var sequence = sequenceNumber
        var sentAt = templatesSentAt
        var since = messagesSinceTemplates
        var oversize = 0
        while first < batch.ends.count && messageEnds.count < messagesPerSend {
            let templates = templatesDue(now: now, sentAt: sentAt, messagesSince: since)
            let start = messages.count
            let taken = IPFIXMessage.pack(
                batch, from: first, into: &messages, sequenceNumber: sequence, exportTime: exportTime,
                observationDomain: observationDomain, templates: templates, maximumBytes: maximumMessageBytes)
            if messages.count - start > maximumMessageBytes { oversize += 1 }
            messageEnds.append(messages.count)
            messageRecordCounts.append(taken)
            messageTemplates.append(templates)
            first += taken
            sequence &+= UInt32(truncatingIfNeeded: taken)
            if templates {
                sentAt = now
                since = 0
            }
            since += 1
        }
        written = 0
        retried = false
        return oversize
    }

    /// A new batch in hand (the previous one has been given back to the queue).
    mutating func took(_ records: KronosLines) {
        batch = records
        discardMessage()
    }

    /// Connected at `now`. Returns true when this is not the first connection.
    mutating func connected(now: Int64) -> Bool {
        connections += 1
        isConnected = true
        backoff = initialBackoff
        templatesSentAt = nil
        messagesSinceTemplates = 0
        if transport == .tcp {
            sequenceNumber = 0
            discardMessage()  // packed again: after the templates, with this session's numbers
        }
        return connections > 1
    }

    /// Schedules the next attempt with backoff.
    mutating func connectFailed(now: Int64) {
        nextAttempt = now + backoff
        backoff = min(backoff * 2, maximumBackoff)
    }

    /// What a failed send with `errno` `code` means; the state follows it (a dropped message's
    /// records are gone from the batch, a lost connection is closed and retried at once).
    mutating func sendFailed(errno code: Int32, now: Int64) -> SendFailure {
        switch code {
        case EAGAIN, EWOULDBLOCK: return .wouldBlock
        case EINTR: return .interrupted
        default: break
        }
        switch transport {
        case .udp:
            if code == ECONNREFUSED && !retried {
                retried = true
                return .retry
            }
            let records = messageRecords
            batch.first += records
            discardMessage()  // the rest are numbered as if this one went out: packed again
            return .dropMessage(records: records)
        case .tcp:
            let midMessage = isMidMessage
            isConnected = false
            nextAttempt = now
            discardMessage()
            return .connectionLost(midMessage: midMessage)
        }
    }

    /// The socket is gone without a send failing (an error polling it): as a lost connection.
    mutating func disconnected(now: Int64) {
        isConnected = false
        nextAttempt = now
        discardMessage()
    }

    /// `count` bytes went out: what that completed.
    mutating func sent(_ count: Int, now: Int64) -> Completion {
        written += count
        var done = Completion()
        while current < messageEnds.count && written >= messageEnds[current] {
            let records = messageRecordCounts[current]
            sequenceNumber &+= UInt32(truncatingIfNeeded: records)
            if messageTemplates[current] {
                templatesSentAt = now
                messagesSinceTemplates = 0
                done.templates += 1
            }
            messagesSinceTemplates += 1
            batch.first += records
            done.records += records
            done.messages += 1
            current += 1
            retried = false
        }
        if current == messageEnds.count { discardMessage() }
        return done
    }

    /// How long to wait for room in a full socket: at most 100 ms, less near the drain deadline.
    func pollMilliseconds(now: Int64, drainDeadline: Int64?) -> Int32 {
        Int32(drainDeadline.map { max(1, min(100, ($0 - now) / 1_000_000)) } ?? 100)
    }

    private mutating func discardMessage() {
        messages.removeAll(keepingCapacity: true)
        messageEnds.removeAll(keepingCapacity: true)
        messageRecordCounts.removeAll(keepingCapacity: true)
        messageTemplates.removeAll(keepingCapacity: true)
        current = 0
        written = 0
        retried = false
    }
}
