"""The one Prometheus registry of the process, and the log-shipping series (DESIGN.md)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

SELF_SERVICE_NAME = "sidecar"


class _SelfLabelled(Collector):
    """Process metrics labelled service_name="sidecar": the sidecar's scrape job honours
    labels, so without this its own series would carry no service_name at all."""

    def __init__(self) -> None:
        self._inner = ProcessCollector(registry=None)

    def collect(self) -> Iterable[Metric]:
        for metric in self._inner.collect():
            for sample in metric.samples:
                sample.labels["service_name"] = SELF_SERVICE_NAME
            yield metric


def new_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_SelfLabelled())
    return registry


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
            registry=registry,
        )
        self.spool_bytes = Gauge(
            "sidecar_log_spool_bytes",
            "Bytes held in the disk spool (no spool is built: always 0).",
            _BASE,
            registry=registry,
        )
        self.last_shipped_timestamp = Gauge(
            "sidecar_log_last_shipped_timestamp_seconds",
            "Timestamp of the newest entry Loki acknowledged.",
            _BASE,
            registry=registry,
        )
        self.messages = Counter(
            "sidecar_log_messages_total",
            "Lines read, by log level.",
            (*_BASE, "level"),
            registry=registry,
        )
