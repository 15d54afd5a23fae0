import Logging
import SensorIO
import ServiceLifecycle
import UnixSignals

/// SIGHUP: re-reads the config file (the command line still overrides it) and applies what can
/// change without reattaching: `log_level` and `stats_interval`. Other changed keys are logged as
/// needing a restart and keep their running values. A config that fails to load or check is
/// rejected as a whole, logged, and the running configuration stays.
struct ReloadService: Service {
    /// `--config` as given (nil: the default path, when it exists).
    let configPath: String?
    let commandLine: RunSettings
    let running: RunOptions
    let loop: CaptureLoop
    let notifier: SystemdNotifier
    let logger: Logger
    /// Created before the capture starts, so a SIGHUP never finds the default action (exit).
    let signals: UnixSignalsSequence

    func run() async throws {
        var current = running
        for await _ in signals.cancelOnGracefulShutdown() {
            notifier.reloading()
            current = reload(current)
            notifier.send("READY=1")
        }
    }

    /// Returns the configuration now in effect.
    func reload(_ current: RunOptions) -> RunOptions {
        let new: RunOptions
        let file: String?
        do {
            (new, file) = try RunCommand.resolve(configPath: configPath, commandLine: commandLine)
        } catch {
            logger.error(
                "reload rejected, keeping the running configuration", metadata: ["error": "\(error)"])
            return current
        }
        let changes = current.changes(to: new)
        guard !changes.isEmpty else {
            logger.info("reloaded: nothing changed", metadata: ["config": "\(file ?? "(none)")"])
            return current
        }
        var applied = current
        for change in changes {
            let metadata: Logger.Metadata = [
                "key": "\(change.setting.key)", "old": "\(change.old)", "new": "\(change.new)",
            ]
            switch change.setting {
            case .logLevel:
                applied.logLevel = new.logLevel
                Logs.level = new.logLevel
            case .statsInterval:
                applied.statsInterval = new.statsInterval
                loop.setStatsInterval(new.statsInterval)
            default:
                logger.warning("reload: this change needs a restart, not applied", metadata: metadata)
                continue
            }
            logger.notice("reload: changed", metadata: metadata)
        }
        return applied
    }
}
