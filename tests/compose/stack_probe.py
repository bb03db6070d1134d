"""Reading a running stack from the host: Prometheus queries, targets, metrics, load."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float, what: str, every: float = 1.0) -> T:
    """Call `probe` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except httpx.HTTPError as exc:
            last = repr(exc)
        else:
            if last:
                return last
        time.sleep(every)
    pytest.fail(f"{what}: not seen within {timeout:.0f}s (last: {last!r})")


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5)
    response.raise_for_status()
    return response.json()["data"]["result"]


def targets_by_job(prometheus: str) -> dict[str, list[dict[str, Any]]]:
    response = httpx.get(f"{prometheus}/api/v1/targets", params={"state": "active"}, timeout=5)
    response.raise_for_status()
    jobs: dict[str, list[dict[str, Any]]] = {}
    for target in response.json()["data"]["activeTargets"]:
        jobs.setdefault(target["labels"]["job"], []).append(target)
    return jobs


def metric_values(exposition: str, name: str, **labels: str) -> list[float]:
    """Sample values of `name` whose labels include `labels`, from Prometheus text format."""
    values: list[float] = []
    for line in exposition.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        if metric != name:
            continue
        if all(f'{key}="{val}"' in label_text for key, val in labels.items()):
            values.append(float(value))
    return values


class LoadGenerator:
    """Steady GET traffic on one URL from a background thread, until stopped."""

    def __init__(self, url: str, per_second: float = 20.0) -> None:
        self.url = url
        self.pause = 1.0 / per_second
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                try:
                    status = client.get(self.url).status_code
                except httpx.HTTPError:
                    status = 0
                self.sent += 1
                self.statuses[status] = self.statuses.get(status, 0) + 1
                self._stop.wait(self.pause)

    def __enter__(self) -> LoadGenerator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
