"""The sidecar_health_* series (contract/README.md), labelled with the watched service's name.

A collector that reads the checks' state when scraped: the series always agree with
/health, and a thousand checks cost no per-run metric updates and no per-series
objects (5,000 labelled gauge children would otherwise lengthen every full GC pass).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sidecar import telemetry_contract as contract
from sidecar.health.healthjson import Status
from sidecar.health.state import CheckState

STATUSES: tuple[Status, ...] = contract.HEALTH_STATUSES


def aggregate_status(states: Iterable[CheckState]) -> Status:
    """fail if a critical check fails; warn if any other check is not pass; else pass."""
    result: Status = "pass"
    for state in states:
        if state.status == "fail" and state.check.critical:
            return "fail"
        if state.status != "pass":
            result = "warn"
    return result


class HealthCollector(Collector):
    """Exposes each check's and each watched service's current status."""

    def __init__(self, by_service: Mapping[str, Sequence[CheckState]]) -> None:
        self._by_service = by_service

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        up, status, duration, aggregate = families = self._families()
        for service_name, states in self._by_service.items():
            for state in states:
                labels = [service_name, state.check.name]
                critical = "true" if state.check.critical else "false"
                up.add_metric([*labels, critical], 1 if state.up else 0)
                for candidate in STATUSES:
                    status.add_metric([*labels, candidate], 1 if state.status == candidate else 0)
                if state.last_duration is not None:
                    duration.add_metric(labels, state.last_duration)
            current = aggregate_status(states)
            for candidate in STATUSES:
                aggregate.add_metric([service_name, candidate], 1 if current == candidate else 0)
        return families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                contract.HEALTH_CHECK_UP.name,
                "1 while the check passes (pass or warn), 0 while it fails or has not run yet.",
                # critical lets an alert page on exactly the checks that fail the aggregate.
                labels=contract.HEALTH_CHECK_UP.labels,
            ),
            GaugeMetricFamily(
                contract.HEALTH_CHECK_STATUS.name,
                "1 on the check's current published status (pass, warn or fail), 0 on the others.",
                labels=contract.HEALTH_CHECK_STATUS.labels,
            ),
            GaugeMetricFamily(
                contract.HEALTH_CHECK_DURATION.name,
                "How long the check's latest run took (up to its timeout).",
                labels=contract.HEALTH_CHECK_DURATION.labels,
            ),
            GaugeMetricFamily(
                contract.HEALTH_STATUS.name,
                "1 on the watched service's aggregate status (pass, warn or fail), 0 otherwise.",
                labels=contract.HEALTH_STATUS.labels,
            ),
        ]
