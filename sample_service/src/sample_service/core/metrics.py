"""Prometheus metrics per the telemetry contract, with exemplars in single-process mode.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR switches prometheus-client to multiprocess
mode: every worker writes its samples to mmap files in that directory and /metrics
sums them, so totals are right whichever worker answers the scrape. prometheus-client
does not store exemplars in that mode, so multiprocess output carries none.
"""

from __future__ import annotations

import os

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from sample_service import telemetry_contract as contract

# The http_route of a request no route matched: one value, so a scan of random
# paths cannot blow up the series count.
UNMATCHED_ROUTE = contract.UNMATCHED_ROUTE
# Methods outside this set are reported as _OTHER (OpenTelemetry HTTP semantic conventions).
KNOWN_METHODS = frozenset(contract.KNOWN_METHODS)


def normalize_method(method: str) -> str:
    return method if method in KNOWN_METHODS else contract.OTHER_METHOD


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class ServiceMetrics:
    """The request metrics of one app, in their own registry (one per app keeps tests apart)."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir() is not None
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_duration = Histogram(
            contract.HTTP_DURATION.name,
            "Duration of HTTP server requests.",
            contract.HTTP_DURATION.labels,
            buckets=contract.HTTP_DURATION.buckets,
            registry=self.registry,
        )
        self.active_requests = Gauge(
            contract.HTTP_ACTIVE.name,
            "Number of HTTP server requests in flight.",
            contract.HTTP_ACTIVE.labels,
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.cache_errors = Counter(
            contract.CACHE_ERRORS.name,
            "Failed cache operations; reads then went to the database.",
            contract.CACHE_ERRORS.labels,
            registry=self.registry,
        )
        self.rate_limit_storage_errors = Counter(
            contract.RATE_LIMIT_STORAGE_ERRORS.name,
            "Failed rate-limit storage (Redis) operations; in-process limits applied instead.",
            contract.RATE_LIMIT_STORAGE_ERRORS.labels,
            registry=self.registry,
        )
        self.log_records_dropped = Counter(
            contract.LOG_RECORDS_DROPPED.name,
            "Log records dropped because the log writer fell behind (its queue was full).",
            contract.LOG_RECORDS_DROPPED.labels,
            registry=self.registry,
        )
        if not self.multiprocess:
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                self.registry.register(collector)
        # labels() takes a lock and validates on every call; the children are looked up
        # once per label set (a bounded set: routes are templates, methods are normalised).
        self._durations: dict[tuple[str, str, int], Histogram] = {}
        self._active: dict[str, Gauge] = {}

    def active(self, method: str) -> Gauge:
        child = self._active.get(method)
        if child is None:
            child = self._active[method] = self.active_requests.labels(method)
        return child

    def observe(
        self, method: str, route: str, status: int, seconds: float, trace_id: int | None
    ) -> None:
        """Record one finished request, with its sampled trace (if any) as exemplar."""
        key = (method, route, status)
        child = self._durations.get(key)
        if child is None:
            child = self._durations[key] = self.request_duration.labels(method, route, str(status))
        exemplar = None
        if trace_id is not None and not self.multiprocess:
            exemplar = {"trace_id": format(trace_id, "032x")}
        child.observe(seconds, exemplar)

    def render(self, accept_header: str | None) -> tuple[bytes, str]:
        """The exposition negotiated from Accept: OpenMetrics (with exemplars) or text."""
        registry = self.registry
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated upstream
        encoder, content_type = choose_encoder(accept_header or "")
        return encoder(registry), content_type
