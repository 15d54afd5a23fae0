/// Where and how the sensor writes its labeled dataset files (`dps run --dataset-dir`).
public struct DatasetConfiguration: Sendable, Equatable {
    /// The folder of the files; made (with its parents) at start when missing.
    public var directory: String
    /// The sensor's name in file names and headers (the host name).
    public var host: String
    public var compression: DatasetCompression = .gzip
    /// The compression level (igzip 0–3, zstd 1–19).
    public var level: Int32
    /// A file is finished at each multiple of this many seconds since the epoch (UTC), so files
    /// of an hour start on the hour.
    public var rotateSeconds: Double = 3600
    /// ...or once it holds this many (compressed) bytes, whichever comes first.
    public var rotateBytes: Int64 = 256 << 20
    /// The oldest finished files are deleted while the folder's dataset files hold more bytes than
    /// this (nil: no bound).
    public var maxBytes: Int64?
    /// Finished files older than this many seconds are deleted (nil: kept).
    public var maxAgeSeconds: Double?
    /// Frames waiting for the writer; beyond it the oldest are dropped (counted).
    public var queueFrames: Int = 65_536
    /// Compressed bytes reach the file (decodable up to the last whole line) at least this often.
    public var flushSeconds: Double = 1

    public init(directory: String, host: String, compression: DatasetCompression = .gzip, level: Int32? = nil) {
        self.directory = directory
        self.host = host
        self.compression = compression
        self.level = level ?? compression.defaultLevel
    }
}
