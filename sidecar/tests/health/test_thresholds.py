"""Flap suppression: the published status only crosses the fail boundary after N in a row."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry
from sidecar.health.config import HealthConfig, HttpCheck
from sidecar.health.monitor import HealthMonitor
from sidecar.health.probes import ProbeResult
from sidecar.health.state import NOT_CHECKED_YET, CheckState


def _state(failure_threshold: int = 3, success_threshold: int = 2) -> CheckState:
    check = HttpCheck(
        name="c",
        service_name="s",
        kind="http",
        url="http://x/",
        failure_threshold=failure_threshold,
        success_threshold=success_threshold,
    )
    return CheckState(check, since=0.0)


def _feed(state: CheckState, outcomes: str, start: int = 1) -> list[str]:
    """Feed p/w/f results at t=start, start+1...; return the published status after each."""
    names = {"p": "pass", "w": "warn", "f": "fail"}
    published = []
    for step, outcome in enumerate(outcomes, start=start):
        status = names[outcome]
        state.record(ProbeResult(status, 0.01, None if status == "pass" else "boom"), step)  # type: ignore[arg-type]
        published.append(state.status[0])
    return published


def test_pending_until_first_result_which_is_published_as_is() -> None:
    state = _state()
    assert (state.status, state.pending, state.up, state.output) == (
        "warn",
        True,
        False,
        NOT_CHECKED_YET,
    )
    assert _feed(state, "f") == ["f"]
    assert state.since == 1


def test_fail_needs_consecutive_failures() -> None:
    # threshold 3: two failures, a pass resets the count, then three in a row flip it.
    assert _feed(_state(), "pffpfff") == list("ppppppf")


def test_recovery_needs_consecutive_successes() -> None:
    # success threshold 2: a lone pass between failures does not recover.
    assert _feed(_state(failure_threshold=1), "pfpfpp") == list("pffffp")


def test_flapping_target_never_flips_published_status() -> None:
    assert set(_feed(_state(), "p" + "fp" * 20)) == {"p"}


def test_warn_is_up_and_published_at_once() -> None:
    state = _state()
    assert _feed(state, "pwp") == list("pwp")
    assert state.up


def test_since_moves_only_when_published_status_changes() -> None:
    state = _state(failure_threshold=2, success_threshold=1)
    _feed(state, "pfff")
    assert (state.status, state.since) == ("fail", 3)
    assert state.last_error == "boom"
    assert state.last_error_time == 4
    _feed(state, "p", start=5)
    assert (state.status, state.since, state.output, state.last_error) == ("pass", 5, None, "boom")


async def test_thresholds_against_a_real_target(target: Any) -> None:
    url = target.answer("/h")
    config = HealthConfig.model_validate(
        {
            "checks": [
                {
                    "name": "c",
                    "service_name": "s",
                    "kind": "http",
                    "url": url,
                    "failure_threshold": 2,
                    "success_threshold": 2,
                }
            ]
        }
    )
    monitor = HealthMonitor(config, CollectorRegistry())
    seen = []
    for answer in (200, 500, 200, 500, 500, 200, 200):
        target.answer("/h", status=answer)
        seen.append((await monitor.check_once("c")).status)
    assert seen == ["pass", "pass", "pass", "pass", "fail", "fail", "pass"]
