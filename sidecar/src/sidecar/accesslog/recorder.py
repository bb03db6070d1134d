"""Feeds access-log lines of one service into http_server_request_duration_seconds."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

from sidecar import telemetry_contract as contract
from sidecar.accesslog.config import AccessLogConfig
from sidecar.accesslog.metrics import metrics_for
from sidecar.accesslog.parsers import (
    OTHER_STATUS,
    UNPARSED_REASONS,
    Request,
    UnparsedLine,
    parse_combined_line,
    parse_json_record,
)
from sidecar.accesslog.routes import UNMATCHED_ROUTE, RouteMapper

logger = logging.getLogger(__name__)

# The contract has one value for it; unpacking fails at import if it ever has more.
(TELEMETRY_SOURCE,) = contract.TELEMETRY_SOURCE_VALUES
# OpenTelemetry's http.request.method convention: unknown methods collapse to one value.
KNOWN_METHODS = frozenset(contract.KNOWN_METHODS)
OTHER_METHOD = contract.OTHER_METHOD
MAX_SERIES = "max_series"
COLLAPSE_REASONS = ("route_too_long", "max_routes", MAX_SERIES)
# Past max_series, a request whose (method, "unmatched", status) is new too lands here.
OVERFLOW_KEY = (OTHER_METHOD, UNMATCHED_ROUTE, OTHER_STATUS)


class AccessLogRecorder:
    """One per access-log source; several may share a registry."""

    def __init__(self, config: AccessLogConfig, service_name: str, registry: CollectorRegistry):
        self._config = config
        self._service_name = service_name
        self._metrics = metrics_for(registry)
        self._routes = RouteMapper(config.routes, config.max_routes)
        self._series: dict[tuple[str, str, str], Histogram] = {}
        self._reasons_logged: set[str] = set()
        # Known label values exist at 0 from the start, so a dashboard shows 0 rather
        # than "No data" and increase() in an alert sees the first bad line.
        for reason in UNPARSED_REASONS[config.format]:
            self._metrics.unparsed.labels(service_name, reason)
        self._metrics.skipped.labels(service_name)
        for reason in COLLAPSE_REASONS:
            self._metrics.collapsed.labels(service_name, reason)

    def observe(self, line: str, record: Mapping[str, Any] | None) -> None:
        """Record the request in `line` (`record` is its parsed JSON object, or None)."""
        try:
            if self._config.format == "json":
                request = parse_json_record(record)
            else:
                request = parse_combined_line(line, self._config.request_time_unit)
        except UnparsedLine as exc:
            self._count_unparsed(exc, line)
            return
        if request is None:
            self._metrics.skipped.labels(self._service_name).inc()
            return
        self._histogram(request).observe(request.duration_seconds)

    def _histogram(self, request: Request) -> Histogram:
        method = request.method.upper()
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        if request.route is not None:
            route, collapsed = self._routes.for_record_route(request.route)
            if collapsed is not None:
                self._collapsed(collapsed)
        else:
            assert request.target is not None
            route = self._routes.for_path(request.target)
        key = (method, route, request.status_code)
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= self._config.max_series:
                self._collapsed(MAX_SERIES)
                key = (method, UNMATCHED_ROUTE, request.status_code)
                series = self._series.get(key) or self._series.get(OVERFLOW_KEY)
                if series is not None:
                    return series
                key = OVERFLOW_KEY
            series = self._series[key] = self._metrics.duration.labels(
                *key, self._service_name, TELEMETRY_SOURCE
            )
        return series

    def _collapsed(self, reason: str) -> None:
        self._metrics.collapsed.labels(self._service_name, reason).inc()

    def _count_unparsed(self, exc: UnparsedLine, line: str) -> None:
        self._metrics.unparsed.labels(self._service_name, exc.reason).inc()
        # One example per reason is enough to diagnose a format mismatch; the counter has the rest.
        if exc.reason not in self._reasons_logged:
            self._reasons_logged.add(exc.reason)
            logger.warning(
                "access log line not recorded (%s): %s; first such line: %.200s",
                exc.reason,
                exc,
                line,
                extra={"watched_service": self._service_name},
            )
