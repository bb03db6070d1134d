"""The access-log metric objects, created once per registry and shared by every recorder.

One sidecar records for several services, so service_name is a label value and all
recorders writing to a registry must share its collectors (a second registration of
the same name would raise).
"""

from __future__ import annotations

import threading
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry, Counter, Histogram

# DESIGN.md: SLO latency thresholds are bucket boundaries, so these are fixed.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


class AccessLogMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests, derived from the service's access log.",
            [
                "http_request_method",
                "http_route",
                "http_response_status_code",
                "service_name",
                "telemetry_source",
            ],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.unparsed = Counter(
            "sidecar_access_log_unparsed_total",
            "Access-log lines that could not be read as a request, by reason.",
            ["service_name", "reason"],
            registry=registry,
        )
        self.collapsed = Counter(
            "sidecar_access_log_collapsed_total",
            "Access-log requests recorded under a catch-all label value to bound the series "
            "(route too long, past max_routes, past max_series), by reason.",
            ["service_name", "reason"],
            registry=registry,
        )
        self.skipped = Counter(
            "sidecar_access_log_skipped_total",
            "JSON records in an access-log source that carry no request fields "
            "(application logs sharing the file).",
            ["service_name"],
            registry=registry,
        )


_by_registry: WeakKeyDictionary[CollectorRegistry, AccessLogMetrics] = WeakKeyDictionary()
_lock = threading.Lock()


def metrics_for(registry: CollectorRegistry) -> AccessLogMetrics:
    """The registry's access-log metrics, registering them on first use."""
    with _lock:
        metrics = _by_registry.get(registry)
        if metrics is None:
            metrics = _by_registry[registry] = AccessLogMetrics(registry)
        return metrics
