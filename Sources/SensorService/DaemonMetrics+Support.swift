import Prometheus
import Synchronization

/// The value each mirrored counter had when last published.
final class PublishedValues: Sendable {
    private let values = Mutex<[ObjectIdentifier: UInt64]>([:])

    /// Raises `counter` to `value` (a counter read from its owner); a value below the last one
    /// (an owner restarted) is taken as the new base.
    func advance(_ counter: Counter, to value: UInt64) {
        let last = values.withLock { values in
            defer { values[ObjectIdentifier(counter)] = value }
            return values[ObjectIdentifier(counter)] ?? 0
        }
        if value > last { counter.increment(by: Int64(clamping: value - last)) }
    }
}

/// Prometheus families for the frame output's counters (`FrameSink.statistics`), by key: the
/// Kronos sink's, the labeling stage's, and any a later sink brings (a generic help then).
final class SinkMetrics: Sendable {
    enum Metric {
        case counter(Counter)
        case gauge(Gauge)
    }

    /// key → (Prometheus name, help); `kronos_queued` is a gauge, the rest counters.
    static let known: [String: (name: String, help: String)] = [
        "kronos_produced": ("dps_kronos_frames_produced_total", "Frames handed to the Kronos sink."),
        "kronos_sent": ("dps_kronos_frames_sent_total", "Frames sent to Kronos as whole lines."),
        "kronos_dropped": (
            "dps_kronos_frames_dropped_total",
            "Frames dropped by the Kronos sink: the oldest from a full queue, and lines over 8192 bytes."
        ),
        "kronos_undelivered": (
            "dps_kronos_frames_undelivered_total", "Frames still queued when the shutdown drain ran out of time."
        ),
        "kronos_oversize": ("dps_kronos_frames_oversize_total", "Frames whose line is over Kronos's 8192 bytes."),
        "kronos_resent_lines": (
            "dps_kronos_resent_lines_total", "Half-written lines sent again whole on a new connection."
        ),
        "kronos_connections": ("dps_kronos_connections_total", "Connections made to Kronos."),
        "kronos_reconnect_attempts": (
            "dps_kronos_reconnect_attempts_total", "Connect attempts to Kronos after the first."
        ),
        "kronos_queued": ("dps_kronos_queued_frames", "Frames waiting for Kronos now (queued and in flight)."),
        "ipfix_records_sent": ("dps_ipfix_records_sent_total", "Flow records sent to IPFIX collectors."),
        "ipfix_messages_sent": ("dps_ipfix_messages_sent_total", "IPFIX messages sent."),
        "ipfix_templates_sent": ("dps_ipfix_templates_sent_total", "IPFIX messages that carried the templates."),
        "ipfix_dropped": ("dps_ipfix_records_dropped_total", "Flow records dropped from a full IPFIX queue."),
        "ipfix_send_errors": ("dps_ipfix_send_errors_total", "IPFIX sends that failed (a collector away)."),
        "ipfix_lost": ("dps_ipfix_records_lost_total", "Flow records in IPFIX messages that could not be sent."),
        "ipfix_reconnects": ("dps_ipfix_reconnects_total", "TCP connections to IPFIX collectors made again."),
        "ipfix_undelivered": (
            "dps_ipfix_records_undelivered_total", "Flow records still queued when the shutdown drain ran out of time."
        ),
        "ipfix_queued": ("dps_ipfix_queued_records", "Flow records waiting for IPFIX collectors now."),
        "dataset_produced": ("dps_dataset_frames_produced_total", "Frames handed to the dataset files' writer."),
        "dataset_written": ("dps_dataset_frames_written_total", "Frames whose line reached a dataset file."),
        "dataset_dropped": (
            "dps_dataset_frames_dropped_total", "Frames dropped from the dataset writer's full queue (the oldest)."
        ),
        "dataset_failed": (
            "dps_dataset_frames_failed_total", "Frames that could not be written to a dataset file (disk full, read-only)."
        ),
        "dataset_undelivered": (
            "dps_dataset_frames_undelivered_total", "Frames still queued for the dataset files when shutdown ran out of time."
        ),
        "dataset_unmatched": ("dps_dataset_frames_unmatched_total", "Dataset frames no rule matched (written without a label)."),
        "dataset_queued": ("dps_dataset_queued_frames", "Frames waiting for the dataset writer now."),
        "dataset_files": ("dps_dataset_files_total", "Dataset files finished (renamed to their final name)."),
        "dataset_files_recovered": (
            "dps_dataset_files_recovered_total", "Partial dataset files (a crash, an outage) finished afterwards."
        ),
        "dataset_files_deleted": ("dps_dataset_files_deleted_total", "Finished dataset files deleted by retention."),
        "dataset_write_errors": (
            "dps_dataset_write_errors_total", "Outages of the dataset files: writing failed after working."
        ),
        "label_unmatched": ("dps_label_unmatched_frames_total", "Frames no labeling rule matched."),
        "label_errors": ("dps_label_errors_total", "Bad input met while labeling."),
    ]

    private let metrics = Mutex<[String: Metric]>([:])

    func metric(for key: String, in registry: PrometheusCollectorRegistry) -> Metric {
        metrics.withLock { metrics in
            if let metric = metrics[key] { return metric }
            let (name, help) = Self.known[key] ?? ("dps_\(key)_total", "The frame output's counter \(key).")
            let metric: Metric =
                name.hasSuffix("_total")
                ? .counter(registry.counter(name, help: help))
                : .gauge(registry.gauge(name, help: help))
            metrics[key] = metric
            return metric
        }
    }
}
