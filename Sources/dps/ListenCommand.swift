import ArgumentParser
import Foundation
import Logging
import SensorCore
import SensorIO
import SensorService
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// `dps listen`: a Kronos-compatible listener for operators and demos.
struct ListenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Listen like Kronos: accept frames on the Unix socket, check signatures, print them.",
        discussion: """
            Binds the socket (removing a stale socket file), accepts one sender at a time, and \
            closes a connection after 5 s without data, as Kronos does. With --hmac-key-file, only \
            lines signed with that key are accepted; the others are discarded and counted. Prints \
            one short line per frame, or with --raw the verified JSON unchanged. SIGINT/SIGTERM \
            stop it with a summary on stderr.
            """
    )

    @Option(help: "The Unix stream socket to bind.")
    var socket: String = RunSetting.kronosSocket.defaultValue

    @Option(help: "Accept only lines signed with HMAC-SHA256 keyed with this file's text.")
    var hmacKeyFile: String?

    @Flag(help: "Print the JSON of each good line unchanged instead of a short human form.")
    var raw = false

    @Option(help: "Seconds without data after which a connection is closed.")
    var quietTimeout: Double = 5

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .notice

    func validate() throws {
        try Seconds.validate(quietTimeout, "--quiet-timeout")
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        let logger = Logs.bootstrap(level: logLevel)
        let key: KronosKey?
        do {
            key = try hmacKeyFile.map { path throws(KronosKeyError) in try KronosKey.load(path: path) }
        } catch {
            Stderr.line("dps: error: \(error)")
            throw ExitCode.failure
        }
        let listener: KronosListener
        do {
            listener = try KronosListener(
                configuration: .init(socketPath: socket, key: key, quietTimeout: quietTimeout, raw: raw),
                logger: logger,
                output: { line in
                    var text = line + "\n"
                    text.withUTF8 { bytes in
                        var offset = 0
                        while offset < bytes.count {
                            let n = Glibc.write(STDOUT_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                            if n < 0 && errno == EINTR { continue }
                            if n <= 0 { return }
                            offset += n
                        }
                    }
                })
        } catch {
            Stderr.line("dps: error: \(error)")
            throw ExitCode.failure
        }
        Stderr.line("dps listen: on \(socket)\(key == nil ? " (not checking signatures)" : " (HMAC-SHA256 required)")")
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    ThreadService(name: "dps-listen", body: { listener.run() }, stop: { listener.stop() })
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        Stderr.line("dps listen: \(listener.counters)")
    }
}
