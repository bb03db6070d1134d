"""The sidecar_log_* series (contract/README.md, "Exported by sidecar").

Every series carries the watched service's name and the source. They are written by
the shipping process (or thread) and served at the main process's /metrics
(supervisor.py). In the shipping process they live in prometheus_client's multiprocess
files: a gauge's `multiprocess_mode` says what a restarted process's figures mean
there (live ones vanish with the process that set them; the newest shipped timestamp
keeps its maximum); the modes do nothing in a single process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sidecar import telemetry_contract as contract


class ShippingMetrics:
    """sidecar_log_* series; every one carries the watched service's name and the source."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lines_read = Counter(
            contract.LOG_LINES_READ.name,
            "Lines read from log sources.",
            contract.LOG_LINES_READ.labels,
            registry=registry,
        )
        self.lines_shipped = Counter(
            contract.LOG_LINES_SHIPPED.name,
            "Lines Loki acknowledged.",
            contract.LOG_LINES_SHIPPED.labels,
            registry=registry,
        )
        self.lines_joined = Counter(
            contract.LOG_LINES_JOINED.name,
            "Lines shipped inside a multiline record after its first line "
            "(read = entries shipped or dropped + joined).",
            contract.LOG_LINES_JOINED.labels,
            registry=registry,
        )
        self.lines_dropped = Counter(
            contract.LOG_LINES_DROPPED.name,
            "Lines that will never reach Loki, by reason.",
            contract.LOG_LINES_DROPPED.labels,
            registry=registry,
        )
        self.lines_malformed = Counter(
            contract.LOG_LINES_MALFORMED.name,
            "Lines shipped despite bad input (not JSON, invalid UTF-8, truncated...), by reason.",
            contract.LOG_LINES_MALFORMED.labels,
            registry=registry,
        )
        self.ship_requests = Counter(
            contract.LOG_SHIP_REQUESTS.name,
            "Push requests to Loki, by outcome.",
            contract.LOG_SHIP_REQUESTS.labels,
            registry=registry,
        )
        self.ship_duration = Histogram(
            contract.LOG_SHIP_DURATION.name,
            "Duration of one push request to Loki.",
            contract.LOG_SHIP_DURATION.labels,
            buckets=contract.LOG_SHIP_DURATION.buckets,
            registry=registry,
        )
        self.backlog_bytes = Gauge(
            contract.LOG_BACKLOG.name,
            "Bytes written to the source but not yet acknowledged by Loki.",
            contract.LOG_BACKLOG.labels,
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.spool_bytes = Gauge(
            contract.LOG_SPOOL.name,
            "Bytes held in a disk spool: none is built, always 0 (the contract's name, kept).",
            contract.LOG_SPOOL.labels,
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.held_open_bytes = Gauge(
            contract.LOG_HELD_OPEN.name,
            "Size of files rotated away (state=rotated) or deleted (state=deleted) that the "
            "sidecar keeps open until drained; deleted ones hold disk space until then.",
            contract.LOG_HELD_OPEN.labels,
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.source_stalled = Gauge(
            contract.LOG_SOURCE_STALLED.name,
            "1 while the source has a backlog and nothing was acknowledged for "
            "stall_after_seconds although Loki answers.",
            contract.LOG_SOURCE_STALLED.labels,
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.files_refused = Counter(
            contract.LOG_FILES_REFUSED.name,
            "Matched paths not tailed: symlink outside the allowed roots, not a regular "
            "file, or on /proc, /sys or /dev; by reason.",
            contract.LOG_FILES_REFUSED.labels,
            registry=registry,
        )
        self.last_shipped_timestamp = Gauge(
            contract.LOG_LAST_SHIPPED.name,
            "Timestamp of the newest entry Loki acknowledged.",
            contract.LOG_LAST_SHIPPED.labels,
            multiprocess_mode="max",
            registry=registry,
        )
        self.messages = Counter(
            contract.LOG_MESSAGES.name,
            "Lines read, by log level.",
            contract.LOG_MESSAGES.labels,
            registry=registry,
        )
