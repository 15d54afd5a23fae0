import Foundation
import Logging
import SensorIO
import ServiceLifecycle
import Synchronization
import UnixSignals

/// SIGHUP: re-reads the config file (the command line still overrides it) and applies the
/// settings declared reloadable (`RunSetting`: `log_level`, `stats_interval`...) through `apply`,
/// which is called on every reload, a change or not (it reads the rules file again).
/// Other changed keys are logged as needing a restart and keep their running values. A config
/// that fails to load or check is rejected as a whole, logged, and the running configuration
/// stays. The file is read on a thread of its own, for at most `readTimeout`: a read that hangs (a
/// file on a dead network mount) is left behind and the reload rejected, so no reload holds up
/// the service, or shutdown.
public struct ReloadService: Service {
    public static let readTimeout: Duration = .seconds(5)

    /// `--config` as given (nil: the default path, when it exists).
    let configPath: String?
    let commandLine: RunSettings
    let running: RunOptions
    /// Puts the reloadable settings of the options into effect.
    let apply: @Sendable (RunOptions) -> Void
    let notifier: SystemdNotifier
    let logger: Logger
    /// Created before the capture starts, so a SIGHUP never finds the default action (exit).
    let signals: UnixSignalsSequence

    public init(
        configPath: String?, commandLine: RunSettings, running: RunOptions,
        apply: @escaping @Sendable (RunOptions) -> Void, notifier: SystemdNotifier, logger: Logger,
        signals: UnixSignalsSequence
    ) {
        self.configPath = configPath
        self.commandLine = commandLine
        self.running = running
        self.apply = apply
        self.notifier = notifier
        self.logger = logger
        self.signals = signals
    }

    public func run() async throws {
        var current = running
        for await _ in signals.cancelOnGracefulShutdown() {
            notifier.reloading()
            let (configPath, commandLine) = (configPath, commandLine)
            let read = await Self.onOwnThread(timeout: Self.readTimeout) {
                Result { () throws(RunConfigurationError) in
                    try RunConfiguration.resolve(configPath: configPath, commandLine: commandLine)
                }
            }
            current = reload(current, read: read)
            notifier.send("READY=1")
        }
    }

    /// Returns the configuration now in effect, given what reading the file gave (nil: timed out).
    func reload(
        _ current: RunOptions, read: Result<(options: RunOptions, file: String?), RunConfigurationError>?
    ) -> RunOptions {
        let new: RunOptions
        let file: String?
        switch read {
        case .success(let resolved):
            (new, file) = resolved
        case .failure(let error):
            logger.error(
                "reload rejected, keeping the running configuration", metadata: ["error": "\(error)"])
            return current
        case nil:
            logger.error(
                "reload rejected, keeping the running configuration",
                metadata: ["error": "reading the config file took more than \(Self.readTimeout)"])
            return current
        }
        let changes = current.changes(to: new)
        guard !changes.isEmpty else {
            logger.info("reloaded: no setting changed", metadata: ["config": "\(file ?? "(none)")"])
            apply(current)  // files the settings name (the rules) are read again
            return current
        }
        var applied = current
        for change in changes {
            let metadata: Logger.Metadata = [
                "key": "\(change.setting.key)", "old": "\(change.old)", "new": "\(change.new)",
            ]
            guard change.setting.isReloadable else {
                logger.warning("reload: this change needs a restart, not applied", metadata: metadata)
                continue
            }
            change.setting.copy(from: new, to: &applied)
            logger.notice("reload: changed", metadata: metadata)
        }
        apply(applied)
        return applied
    }
}

extension ReloadService {
    /// Runs `body` on a new thread and waits for it at most `timeout`; nil when it is still
    /// running then (it is left to finish, or to hang, on its own).
    public static func onOwnThread<T: Sendable>(timeout: Duration, _ body: @escaping @Sendable () -> T) async -> T? {
        await withCheckedContinuation { continuation in
            let pending = Pending(continuation)
            let thread = Thread { pending.finish(body()) }
            thread.name = "dps-reload"
            thread.start()
            // The clock on a thread too: it must not wait for a busy cooperative pool.
            let (seconds, attoseconds) = timeout.components
            let clock = Thread {
                Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
                pending.finish(nil)
            }
            clock.start()
        }
    }
}

/// A continuation resumed once: by whichever of the work and the timeout comes first.
private final class Pending<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T?, Never>?>

    init(_ continuation: CheckedContinuation<T?, Never>) { self.continuation = Mutex(continuation) }

    func finish(_ value: T?) { continuation.withLock { $0.take() }?.resume(returning: value) }
}
