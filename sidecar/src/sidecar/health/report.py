"""The /health body: application/health+json (draft-inadarei-api-health-check).

One entry per check under `checks`, keyed by the check's name. Standard fields:
componentId (the watched service), componentType, status, observedValue and
observedUnit (the latest run's duration in seconds), time (when that run ended),
output (why the latest run did not pass). Extensions: statusSince (when the
check entered its current status), critical, lastError / lastErrorTime (kept
after the check recovers), and checks (the target's own sub-checks, when it
answered application/health+json).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sidecar.health.metrics import aggregate_status
from sidecar.health.state import CheckState


def rfc3339(timestamp: float) -> str:
    """UTC with milliseconds, as in DESIGN.md's log records."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render(states: Iterable[CheckState]) -> tuple[int, dict[str, Any]]:
    """The HTTP status (200 for pass and warn, 503 for fail) and the body."""
    states = list(states)
    status = aggregate_status(states)
    body: dict[str, Any] = {
        "status": status,
        "description": "health of the services watched by the observability sidecar",
        "checks": {state.check.name: [_cached_entry(state)] for state in states},
    }
    return (503 if status == "fail" else 200), body


def _cached_entry(state: CheckState) -> dict[str, Any]:
    if state.rendered is None:
        state.rendered = _entry(state)
    return state.rendered


def _entry(state: CheckState) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "componentId": state.check.service_name,
        "componentType": state.check.kind,
        "status": state.status,
        "statusSince": rfc3339(state.since),
        "critical": state.check.critical,
    }
    if state.last_duration is not None:
        entry["observedValue"] = round(state.last_duration, 6)
        entry["observedUnit"] = "s"
    if state.last_run is not None:
        entry["time"] = rfc3339(state.last_run)
    if state.output is not None:
        entry["output"] = state.output
    if state.last_error is not None and state.last_error_time is not None:
        entry["lastError"] = state.last_error
        entry["lastErrorTime"] = rfc3339(state.last_error_time)
    if state.sub_checks:
        entry["checks"] = state.sub_checks
    return entry
