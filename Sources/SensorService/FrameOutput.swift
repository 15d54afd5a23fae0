import Logging
import SensorCore
import SensorIO

#if canImport(Glibc)
import Glibc
#endif

/// Where `dps run` sends its frames: stdout as NDJSON (`stdout`), else the Kronos socket, signed
/// when there is a key.
public enum FrameOutput {
    /// The sink the options describe. A bad key is refused here, before anything is attached.
    public static func sink(
        for options: RunOptions, environment: [String: String], logger: Logger
    ) throws(KronosKeyError) -> FrameSink {
        let encoder = FrameEncoder(extended: options.extended)
        if options.stdout {
            return LineWriter(fd: STDOUT_FILENO, encoder: encoder, logger: logger)
        }
        let key = try KronosKey.forService(
            explicitPath: options.hmacKeyFile, environment: environment, logger: logger)
        if let key {
            logger.info("signing Kronos lines with HMAC-SHA256", metadata: ["key_file": "\(key.path)"])
        }
        return KronosSink(
            configuration: options.kronosSink, signer: KronosSigner(encoder: encoder, key: key), logger: logger)
    }
}
