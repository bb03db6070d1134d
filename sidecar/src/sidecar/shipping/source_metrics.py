"""One source's sidecar_log_* children, bound once, and the counting the stages share.

Guarantee: every reason and outcome the source can report exists at 0 from start-up,
so Grafana shows 0 rather than "No data" and increase() in an alert sees the first
event as a step from 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sidecar.shipping.config import SourceConfig
from sidecar.shipping.discovery import REFUSED_REASONS
from sidecar.shipping.metrics import ShippingMetrics


class SourceMetrics:
    def __init__(
        self,
        metrics: ShippingMetrics,
        source: SourceConfig,
        drop_reasons: Iterable[str],
        malformed_reasons: Iterable[str],
        outcomes: Iterable[str],
    ) -> None:
        base = {"service_name": source.service_name, "source": source.name}
        self.base = base
        self.all = metrics
        self.read = metrics.lines_read.labels(**base)
        self.shipped = metrics.lines_shipped.labels(**base)
        self.backlog = metrics.backlog_bytes.labels(**base)
        self.last_shipped = metrics.last_shipped_timestamp.labels(**base)
        self.duration = metrics.ship_duration.labels(**base)
        self.stalled = metrics.source_stalled.labels(**base)
        self.held_rotated = metrics.held_open_bytes.labels(**base, state="rotated")
        self.held_deleted = metrics.held_open_bytes.labels(**base, state="deleted")
        metrics.spool_bytes.labels(**base).set(0)
        self.stalled.set(0)
        self._dropped = {r: metrics.lines_dropped.labels(**base, reason=r) for r in drop_reasons}
        self._malformed = {
            r: metrics.lines_malformed.labels(**base, reason=r) for r in malformed_reasons
        }
        self._requests = {o: metrics.ship_requests.labels(**base, outcome=o) for o in outcomes}
        for reason in REFUSED_REASONS:
            metrics.files_refused.labels(**base, reason=reason)

    def dropped(self, reason: str, count: int) -> None:
        child = self._dropped.get(reason)
        if child is None:  # pragma: no cover - source.py binds every reason it drops for
            child = self._dropped[reason] = self.all.lines_dropped.labels(
                **self.base, reason=reason
            )
        child.inc(count)

    def request(self, outcome: str, duration: float) -> None:
        self._requests[outcome].inc()
        self.duration.observe(duration)

    def refused(self, reason: str) -> None:
        self.all.files_refused.labels(**self.base, reason=reason).inc()

    def count_chunk(
        self, read: int, levels: Mapping[str, int], malformed: Mapping[str, int], empty: int
    ) -> None:
        if read:
            self.read.inc(read)
        for level, count in levels.items():
            self.all.messages.labels(**self.base, level=level).inc(count)
        for reason, count in malformed.items():
            child = self._malformed.get(reason)
            if child is None:  # pragma: no cover - source.py binds its format's every reason
                child = self._malformed[reason] = self.all.lines_malformed.labels(
                    **self.base, reason=reason
                )
            child.inc(count)
        if empty:
            self.dropped("empty_line", empty)
