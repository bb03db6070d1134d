"""The sidecar_log_* series (DESIGN.md names, plus the sidecar's own additions).

Every series carries the watched service's name and the source. They are written by
the shipping process (or thread) and served at the main process's /metrics
(supervisor.py). In the shipping process they live in prometheus_client's multiprocess
files: a gauge's `multiprocess_mode` says what a restarted process's figures mean
there (live ones vanish with the process that set them; the newest shipped timestamp
keeps its maximum); the modes do nothing in a single process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BASE = ("service_name", "source")


class ShippingMetrics:
    """sidecar_log_* series; every one carries the watched service's name and the source."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lines_read = Counter(
            "sidecar_log_lines_read_total", "Lines read from log sources.", _BASE, registry=registry
        )
        self.lines_shipped = Counter(
            "sidecar_log_lines_shipped_total",
            "Lines Loki acknowledged.",
            _BASE,
            registry=registry,
        )
        self.lines_joined = Counter(
            "sidecar_log_lines_joined_total",
            "Lines shipped inside a multiline record after its first line "
            "(read = entries shipped or dropped + joined).",
            _BASE,
            registry=registry,
        )
        self.lines_dropped = Counter(
            "sidecar_log_lines_dropped_total",
            "Lines that will never reach Loki, by reason.",
            (*_BASE, "reason"),
            registry=registry,
        )
        self.lines_malformed = Counter(
            "sidecar_log_lines_malformed_total",
            "Lines shipped despite bad input (not JSON, invalid UTF-8, truncated...), by reason.",
            (*_BASE, "reason"),
            registry=registry,
        )
        self.ship_requests = Counter(
            "sidecar_log_ship_requests_total",
            "Push requests to Loki, by outcome.",
            (*_BASE, "outcome"),
            registry=registry,
        )
        self.ship_duration = Histogram(
            "sidecar_log_ship_duration_seconds",
            "Duration of one push request to Loki.",
            _BASE,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.backlog_bytes = Gauge(
            "sidecar_log_backlog_bytes",
            "Bytes written to the source but not yet acknowledged by Loki.",
            _BASE,
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.spool_bytes = Gauge(
            "sidecar_log_spool_bytes",
            "Bytes held in a disk spool: none is built, always 0 (DESIGN.md name kept).",
            _BASE,
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.held_open_bytes = Gauge(
            "sidecar_log_held_open_bytes",
            "Size of files rotated away (state=rotated) or deleted (state=deleted) that the "
            "sidecar keeps open until drained; deleted ones hold disk space until then.",
            (*_BASE, "state"),
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.source_stalled = Gauge(
            "sidecar_log_source_stalled",
            "1 while the source has a backlog and nothing was acknowledged for "
            "stall_after_seconds although Loki answers.",
            _BASE,
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.files_refused = Counter(
            "sidecar_log_files_refused_total",
            "Matched paths not tailed: symlink outside the allowed roots, not a regular "
            "file, or on /proc, /sys or /dev; by reason.",
            (*_BASE, "reason"),
            registry=registry,
        )
        self.last_shipped_timestamp = Gauge(
            "sidecar_log_last_shipped_timestamp_seconds",
            "Timestamp of the newest entry Loki acknowledged.",
            _BASE,
            multiprocess_mode="max",
            registry=registry,
        )
        self.messages = Counter(
            "sidecar_log_messages_total",
            "Lines read, by log level.",
            (*_BASE, "level"),
            registry=registry,
        )
