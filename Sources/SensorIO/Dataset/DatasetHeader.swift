import Crypto
import Foundation
import SensorCore

/// What a dataset file says about itself: who wrote it, when, and the rules that labeled its
/// frames. It travels inside the compressed file, where every decompressor skips it: in the gzip
/// header's comment field (FCOMMENT, RFC 1952 §2.3.1; ASCII JSON) or in a zstd skippable frame
/// (magic `0x184D2A50`) before the data frame. `zcat`, `zstd -d`, Python's `gzip` and pandas read
/// the NDJSON lines as if it were not there; `dps report` shows it.
public struct DatasetHeader: Codable, Equatable, Sendable {
    /// `dps-dataset/1`.
    public var format: String
    /// The sensor's host name.
    public var host: String
    /// When the file was started, RFC 3339 UTC (`2026-11-30T15:00:00Z`).
    public var started: String
    /// The rules that labeled every frame of the file (a reload of the rules starts a new file).
    public var rules: Rules
    /// What a frame no rule matched got: `skip` (left out) or the label it was given.
    public var unmatched: String

    public struct Rules: Codable, Equatable, Sendable {
        /// The rules file's path, or `built-in` for the default rules.
        public var source: String
        /// SHA-256 (hex) of `text`.
        public var sha256: String
        /// The rules' labels, in rule order.
        public var labels: [String]
        /// The rules as `dps label --print-rules` writes them (YAML): reading them back gives the
        /// same labels.
        public var text: String

        public init(source: String, sha256: String, labels: [String], text: String) {
            self.source = source
            self.sha256 = sha256
            self.labels = labels
            self.text = text
        }

        /// The record of `rules`, read from `source` (a path, or `built-in`).
        public init(source: String, rules: RuleSet) {
            let text = RulesFile.render(rules, format: .yaml)
            let digest = SHA256.hash(data: Array(text.utf8)).map { String($0, radix: 16) }
            self.init(
                source: source, sha256: digest.map { $0.count == 1 ? "0" + $0 : $0 }.joined(),
                labels: rules.rules.map(\.label), text: text)
        }
    }

    public static let currentFormat = "dps-dataset/1"
    /// The magic of the zstd skippable frame that holds the header.
    public static let zstdFrameMagic: UInt32 = 0x184D_2A50

    public init(host: String, started: String, rules: Rules, unmatched: String) {
        format = Self.currentFormat
        self.host = host
        self.started = started
        self.rules = rules
        self.unmatched = unmatched
    }

    /// One line of JSON, ASCII only (what a gzip comment may hold; other characters as `\uXXXX`).
    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain strings and arrays cannot fail.
        let text = String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
        var ascii: [UInt8] = []
        ascii.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if scalar.isASCII {
                ascii.append(UInt8(scalar.value))
            } else {
                for unit in String(scalar).utf16 {
                    let hex = String(unit, radix: 16)
                    ascii.append(contentsOf: Array("\\u\(String(repeating: "0", count: 4 - hex.count))\(hex)".utf8))
                }
            }
        }
        return ascii
    }

    /// Reads `json()`'s output back; nil when the bytes are not a header of a format this build knows.
    public static func parse(_ bytes: [UInt8]) -> DatasetHeader? {
        guard let header = try? JSONDecoder().decode(DatasetHeader.self, from: Data(bytes)),
            header.format == currentFormat
        else { return nil }
        return header
    }
}
