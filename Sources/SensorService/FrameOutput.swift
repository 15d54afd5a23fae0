import Logging
import SensorCore
import SensorIO

#if canImport(Glibc)
import Glibc
#endif

/// Where `dps run` sends its frames: stdout as NDJSON (`stdout`), else the Kronos socket, signed
/// when there is a key; and, beside either, every IPFIX collector of `ipfix` and the dataset files
/// of `dataset_dir`.
public enum FrameOutput {
    /// The sink the options describe. A bad key is refused here, before anything is attached.
    /// `others` go beside the IPFIX exporters (the dataset files).
    public static func sink(
        for options: RunOptions, environment: [String: String], also others: [any FrameSink] = [], logger: Logger
    ) throws(KronosKeyError) -> FrameSink {
        let primary = try primarySink(for: options, environment: environment, logger: logger)
        return alongside(primary, ipfixSinks(for: options, lossless: false, logger: logger) + others)
    }

    /// The dataset files of `dataset_dir`, labeled by `rules` (nil: no `dataset_dir`). The folder
    /// is made and an earlier run's partial files are finished here; a rules file that cannot be
    /// read or a folder that cannot be made is thrown.
    public static func datasetSink(for options: RunOptions, logger: Logger) throws -> DatasetSink? {
        guard let configuration = options.datasetConfiguration(host: DatasetFiles.hostName()) else { return nil }
        let (rules, record) = try options.datasetRules()
        let header = DatasetHeader(
            host: configuration.host, started: "", rules: record, unmatched: "no label")
        logger.info(
            "writing the dataset",
            metadata: [
                "folder": "\(configuration.directory)", "compression": "\(configuration.compression.rawValue)",
                "rules": "\(record.source)",
            ])
        return try DatasetSink(configuration: configuration, rules: rules, header: header, logger: logger)
    }

    /// Reads the rules file again (`rules`): when the rules changed, the dataset files change to them.
    public static func reloadDatasetRules(_ sink: DatasetSink, options: RunOptions, logger: Logger) {
        do {
            let (rules, record) = try options.datasetRules()
            let header = DatasetHeader(host: sink.configuration.host, started: "", rules: record, unmatched: "no label")
            if sink.replaceRules(rules, header: header) {
                logger.notice("dataset rules changed: a new file starts", metadata: ["rules": "\(record.source)"])
            }
        } catch {
            logger.error("reload: the rules file cannot be read, keeping the rules in effect", metadata: ["error": "\(error)"])
        }
    }

    /// One IPFIX exporter per `ipfix` collector. `lossless`: a full queue makes `write` wait (a
    /// file being read) instead of dropping the oldest (live capture).
    public static func ipfixSinks(for options: RunOptions, lossless: Bool, logger: Logger) -> [IPFIXSink] {
        options.ipfix.map { text in
            guard let destination = try? IPFIXDestination.parse(text) else {
                preconditionFailure("the ipfix setting's check lets only valid destinations through")
            }
            var configuration = IPFIXSinkConfiguration(destination: destination)
            configuration.observationDomain = UInt32(options.ipfixObservationDomain)
            configuration.lossless = lossless
            logger.info("exporting IPFIX", metadata: ["collector": "\(destination)"])
            return IPFIXSink(configuration: configuration, logger: logger)
        }
    }

    /// `primary` alone, or with the others beside it.
    public static func alongside(_ primary: FrameSink, _ others: [any FrameSink]) -> FrameSink {
        others.isEmpty ? primary : FanOutSink([primary] + others)
    }

    private static func primarySink(
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
