"""The access-log metric objects, created once per registry and shared by every recorder.

One sidecar records for several services, so service_name is a label value and all
recorders writing to a registry must share its collectors (a second registration of
the same name would raise).
"""

from __future__ import annotations

import threading
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry, Counter, Histogram

from sidecar import telemetry_contract as contract

# SLO latency thresholds are bucket boundaries (contract/README.md), so a services file's
# threshold is checked against these.
DURATION_BUCKETS = contract.HTTP_DURATION.buckets


class AccessLogMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            contract.HTTP_DURATION.name,
            "Duration of HTTP server requests, derived from the service's access log.",
            contract.HTTP_DURATION.labels,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.unparsed = Counter(
            contract.ACCESS_LOG_UNPARSED.name,
            "Access-log lines that could not be read as a request, by reason.",
            contract.ACCESS_LOG_UNPARSED.labels,
            registry=registry,
        )
        self.collapsed = Counter(
            contract.ACCESS_LOG_COLLAPSED.name,
            "Access-log requests recorded under a catch-all label value to bound the series "
            "(route too long, past max_routes, past max_series), by reason.",
            contract.ACCESS_LOG_COLLAPSED.labels,
            registry=registry,
        )
        self.skipped = Counter(
            contract.ACCESS_LOG_SKIPPED.name,
            "JSON records in an access-log source that carry no request fields "
            "(application logs sharing the file).",
            contract.ACCESS_LOG_SKIPPED.labels,
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
