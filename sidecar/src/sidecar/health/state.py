"""The published status of one check, with Kubernetes-style flap suppression.

A run's raw result only moves the published status across the fail boundary
after `failure_threshold` consecutive failing runs (or `success_threshold`
consecutive non-failing runs to come back). Moves between pass and warn are
published at once: both count as up, so there is no flap to suppress. The very
first result is published as is; before it the check is `warn` ("not checked
yet") so a freshly started sidecar neither claims health nor pages anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sidecar.health.config import HttpCheck, TcpCheck
from sidecar.health.healthjson import Status
from sidecar.health.probes import ProbeResult

NOT_CHECKED_YET = "not checked yet"


@dataclass
class CheckState:
    """Everything /health and the metrics say about one check."""

    check: HttpCheck | TcpCheck
    since: float  # wall-clock time the check entered its published status
    status: Status = "warn"
    pending: bool = True
    last_run: float | None = None
    last_duration: float | None = None
    output: str | None = NOT_CHECKED_YET  # why the latest run did not pass
    last_error: str | None = None
    last_error_time: float | None = None
    sub_checks: dict[str, list[dict[str, Any]]] | None = None
    consecutive_failures: int = field(default=0)
    consecutive_successes: int = field(default=0)
    # The check's member of /health's "checks", serialized from the fields above until
    # the next run changes them: /health is read far more often than any one check runs.
    rendered: bytes | None = field(default=None, repr=False)

    @property
    def up(self) -> bool:
        """Passing: published pass or warn, once a result exists."""
        return not self.pending and self.status != "fail"

    def record(self, result: ProbeResult, now: float) -> bool:
        """Fold one run into the state; True when the published status changed."""
        self.rendered = None
        self.last_run = now
        self.last_duration = result.duration
        self.output = result.error
        self.sub_checks = result.sub_checks
        if result.status == "fail":
            self.consecutive_failures += 1
            self.consecutive_successes = 0
            self.last_error, self.last_error_time = result.error, now
        else:
            self.consecutive_successes += 1
            self.consecutive_failures = 0
            if result.status == "warn":
                self.last_error, self.last_error_time = result.error, now
        return self._publish(result.status, now)

    def _publish(self, observed: Status, now: float) -> bool:
        if self.pending:
            self.pending = False
            return self._move_to(observed, now, force=True)
        crossing_down = observed == "fail" and self.status != "fail"
        crossing_up = observed != "fail" and self.status == "fail"
        if crossing_down and self.consecutive_failures < self.check.failure_threshold:
            return False
        if crossing_up and self.consecutive_successes < self.check.success_threshold:
            return False
        return self._move_to(observed, now)

    def _move_to(self, status: Status, now: float, force: bool = False) -> bool:
        if status == self.status and not force:
            return False
        self.status, self.since = status, now
        return True
