"""The sidecar_health_* series of DESIGN.md, labelled with the watched service's name."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Gauge

from sidecar.health.healthjson import Status
from sidecar.health.state import CheckState

STATUSES: tuple[Status, ...] = ("pass", "warn", "fail")


def aggregate_status(states: Iterable[CheckState]) -> Status:
    """fail if a critical check fails; warn if any other check is not pass; else pass."""
    result: Status = "pass"
    for state in states:
        if state.status == "fail" and state.check.critical:
            return "fail"
        if state.status != "pass":
            result = "warn"
    return result


class HealthMetrics:
    """Gauges for each check and for each watched service's aggregate."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._up = Gauge(
            "sidecar_health_check_up",
            "1 while the check passes (pass or warn), 0 while it fails or has not run yet.",
            ["service_name", "check"],
            registry=registry,
        )
        self._status = Gauge(
            "sidecar_health_check_status",
            "1 on the check's current published status (pass, warn or fail), 0 on the others.",
            ["service_name", "check", "status"],
            registry=registry,
        )
        self._duration = Gauge(
            "sidecar_health_check_duration_seconds",
            "How long the check's latest run took (up to its timeout).",
            ["service_name", "check"],
            registry=registry,
        )
        self._aggregate = Gauge(
            "sidecar_health_status",
            "1 on the watched service's aggregate status (pass, warn or fail), 0 on the others.",
            ["service_name", "status"],
            registry=registry,
        )

    def publish_check(self, state: CheckState) -> None:
        labels = (state.check.service_name, state.check.name)
        self._up.labels(*labels).set(1 if state.up else 0)
        for status in STATUSES:
            self._status.labels(*labels, status).set(1 if state.status == status else 0)
        if state.last_duration is not None:
            self._duration.labels(*labels).set(state.last_duration)

    def publish_service(self, service_name: str, status: Status) -> None:
        for candidate in STATUSES:
            self._aggregate.labels(service_name, candidate).set(1 if candidate == status else 0)
