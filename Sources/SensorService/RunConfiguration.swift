#if canImport(Glibc)
import Glibc
#endif

/// The settings `dps run` runs with: the config file (`--config`, else /etc/dps/dps.yaml when it
/// exists; `/dev/null` for none) with the command line over it, key by key, and the declared
/// defaults for the rest. Startup and every reload resolve them the same way.
public enum RunConfiguration {
    /// Throws a message naming the file and key, or the flag, at fault.
    public static func resolve(
        configPath explicit: String?, commandLine: RunSettings
    ) throws(RunConfigurationError) -> (options: RunOptions, file: String?) {
        var fileSettings = RunSettings()
        var file: String?
        if let explicit {
            file = explicit == "/dev/null" ? nil : explicit  // "no config file", as documented
        } else if access(ServiceConfig.defaultPath, F_OK) == 0 {
            file = ServiceConfig.defaultPath
        }
        if let file {
            do {
                fileSettings = try ServiceConfig.load(path: file)
            } catch {
                throw RunConfigurationError(description: "\(error)")
            }
        }
        let options = RunOptions(fileSettings.overridden(by: commandLine))
        if let problem = options.check() {
            let fromFile = !commandLine.has(problem.setting) && fileSettings.has(problem.setting)
            let name = fromFile ? "config file \(file!): key \"\(problem.setting.key)\"" : problem.setting.flag
            throw RunConfigurationError(description: "\(name): \(problem.message)")
        }
        return (options, file)
    }
}

public struct RunConfigurationError: Error, CustomStringConvertible {
    public var description: String
}
