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

import orjson

from sidecar.health.metrics import aggregate_status
from sidecar.health.state import CheckState


def rfc3339(timestamp: float) -> str:
    """UTC with milliseconds, as in the contract's log records (contract/README.md)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render(states: Iterable[CheckState]) -> tuple[int, bytes]:
    """The HTTP status (200 for pass and warn, 503 for fail) and the JSON body."""
    states = list(states)
    status = aggregate_status(states)
    # Each check's member of "checks" is serialized once per run and the body spliced
    # from those bytes: /health is read more often than most checks run
    # (bench/health_fanout/README.md, "Profile").
    checks = b",".join(_cached_member(state) for state in states)
    body = b'{"status":"%s","description":%s,"checks":{%s}}' % (
        status.encode(),
        _DESCRIPTION,
        checks,
    )
    return (503 if status == "fail" else 200), body


_DESCRIPTION = orjson.dumps("health of the services watched by the observability sidecar")


def _cached_member(state: CheckState) -> bytes:
    if state.rendered is None:
        state.rendered = b"%s:[%s]" % (orjson.dumps(state.check.name), orjson.dumps(_entry(state)))
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
