"""Shipping in its own process (shipping.isolation: process, the default), for real:
`python -m sidecar run` and the child it starts, against the Loki double.

- the child does the reading, and its metrics reach the one /metrics;
- kill -9 of the child: not ready while it is down, restarted, counted, nothing lost;
- a hung child: not ready, then killed and replaced (counted as hung);
- SIGTERM: both stop, the final checkpoint is written, no process is left;
- kill -9 of the main process: the child still flushes and checkpoints, exits, and a new
  sidecar started at once waits for it (one shipper per positions file), nothing lost.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sidecar.shipping.lock import PositionsLock

from tests.support import free_port, wait_http
from tests.support.loki_double import LokiDouble

pytestmark = pytest.mark.integration


class Running:
    """One `python -m sidecar run` and what it logs."""

    def __init__(self, tmp: Path, loki: LokiDouble, **shipping: float) -> None:
        self.tmp = tmp
        self.logs = tmp / "logs"
        self.logs.mkdir(exist_ok=True)
        self.positions = tmp / "state" / "positions.json"
        self.port = free_port()
        config = {
            "server": {"port": self.port},
            "loki": {
                "url": loki.url,
                "batch_max_wait_seconds": 0.1,
                "backoff": {"min_seconds": 0.05, "max_seconds": 0.5},
            },
            "shipping": {
                "positions_file": str(self.positions),
                "scan_interval_seconds": 0.1,
                "poll_interval_seconds": 0.05,
                "checkpoint_interval_seconds": 0.1,
                "shutdown_deadline_seconds": 5,
                **shipping,
            },
            "sources": [{"name": "app", "service_name": "svc", "paths": [str(self.logs / "*")]}],
        }
        self.config = tmp / "sidecar.yaml"
        self.config.write_text(yaml.safe_dump(config))
        self.out = tmp / "sidecar.out"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Running:
        with self.out.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sidecar", "run", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_http(f"{self.url}/health/live")
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def child(self) -> psutil.Process:
        assert self.process is not None
        children = psutil.Process(self.process.pid).children()
        assert len(children) == 1, children
        return children[0]

    def ready_status(self) -> int:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=5).status_code
        except httpx.HTTPError:
            return 0

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait(predicate: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _lines(path: Path, first: int, count: int) -> None:
    with path.open("a") as handle:
        for n in range(first, first + count):
            handle.write(json.dumps({"level": "info", "message": f"line {n:06d}"}) + "\n")


def _messages(loki: LokiDouble) -> list[str]:
    return [json.loads(line)["message"] for line in loki.lines()]


def _expected(count: int) -> list[str]:
    return [f"line {n:06d}" for n in range(count)]


def test_the_child_reads_and_ships_and_its_metrics_reach_the_one_endpoint(tmp_path, loki):
    running = Running(tmp_path, loki)
    log = running.logs / "app.log"
    _lines(log, 0, 500)
    running.start()
    try:
        _wait(lambda: running.ready_status() == 200, "ready")
        _wait(lambda: running.metric("sidecar_log_lines_shipped_total") == 500, "500 shipped")
        child = running.child()
        assert child.cmdline()[1:4] == ["-m", "sidecar", "ship"]
        assert child.nice() == 10  # the main process runs first when both want a CPU
        # The log file is open in the shipping process only: no reading in the main one.
        assert str(log) in {f.path for f in child.open_files()}
        assert str(log) not in {f.path for f in psutil.Process(running.process.pid).open_files()}
        assert running.metric("sidecar_shipping_process_up", service_name="sidecar") == 1
        assert running.metric("sidecar_log_backlog_bytes") == 0
        assert running.metric("process_cpu_seconds_total", process="shipping") > 0
        assert running.metric("process_cpu_seconds_total") > running.metric(
            "process_cpu_seconds_total", process="shipping"
        )
    finally:
        running.stop()
    assert sorted(_messages(loki)) == _expected(500)


def test_kill_9_of_the_shipping_process_is_restarted_counted_and_loses_nothing(tmp_path, loki):
    running = Running(tmp_path, loki)
    log = running.logs / "app.log"
    _lines(log, 0, 3000)
    running.start()
    try:
        _wait(lambda: running.metric("sidecar_log_lines_shipped_total") > 0, "first lines shipped")
        # Pushes fail from now on, so lines are in flight, unacknowledged, at the kill.
        loki.fail(500)
        _lines(log, 3000, 3000)
        _wait(
            lambda: running.metric("sidecar_log_ship_requests_total", outcome="server_error"),
            "a failed push",
        )
        first = running.child()
        first.kill()
        _wait(lambda: running.ready_status() == 503, "not ready while the child is down")
        _wait(
            lambda: (
                running.metric(
                    "sidecar_shipping_restarts_total", service_name="sidecar", reason="exited"
                )
                == 1
            ),
            "the restart counted",
        )
        loki.fail(None)
        _wait(lambda: running.ready_status() == 200, "ready again")
        assert running.child().pid != first.pid
        _wait(lambda: sorted(set(_messages(loki))) == _expected(6000), "every line in Loki")
        # Counters went on across the restart (the new child reopened the files).
        assert running.metric("sidecar_log_lines_read_total") >= 6000
    finally:
        running.stop()
    assert len(_messages(loki)) == 6000  # re-sent lines collapsed: each line once
    restarts = [x for x in running.out.read_text().splitlines() if "starting it again" in x]
    assert len(restarts) == 1


def test_a_hung_shipping_process_makes_the_sidecar_unready_and_is_replaced(tmp_path, loki):
    running = Running(tmp_path, loki, shutdown_deadline_seconds=2, unready_restart_seconds=12)
    _lines(running.logs / "app.log", 0, 100)
    running.start()
    try:
        _wait(lambda: running.metric("sidecar_log_lines_shipped_total") == 100, "100 shipped")
        hung = running.child()
        hung.suspend()  # SIGSTOP: alive, silent
        _wait(lambda: running.ready_status() == 503, "not ready once its status is stale")
        _wait(
            lambda: running.metric("sidecar_shipping_process_up", service_name="sidecar") == 0,
            "up 0",
        )
        _wait(
            lambda: (
                running.metric(
                    "sidecar_shipping_restarts_total", service_name="sidecar", reason="hung"
                )
                == 1
            ),
            "killed and counted as hung",
        )
        assert not hung.is_running() or hung.status() == psutil.STATUS_ZOMBIE
        _lines(running.logs / "app.log", 100, 100)
        _wait(lambda: running.ready_status() == 200, "ready with a new child")
        _wait(lambda: sorted(set(_messages(loki))) == _expected(200), "every line in Loki")
    finally:
        running.stop()


def test_sigterm_stops_both_processes_after_the_final_checkpoint(tmp_path, loki):
    running = Running(tmp_path, loki, shutdown_deadline_seconds=5)
    log = running.logs / "app.log"
    _lines(log, 0, 200)
    running.start()
    _wait(lambda: running.metric("sidecar_log_lines_shipped_total") == 200, "200 shipped")
    child = running.child()
    metrics_dir = Path(child.environ()["PROMETHEUS_MULTIPROC_DIR"])
    assert running.process is not None
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=30) == 0
    assert not child.is_running()
    assert not metrics_dir.exists()
    positions = json.loads(running.positions.read_text())
    assert [e["offset"] for e in positions["files"].values()] == [log.stat().st_size]


def test_kill_9_of_the_main_process_leaves_no_orphan_and_loses_nothing(tmp_path, loki):
    running = Running(tmp_path, loki, shutdown_deadline_seconds=5)
    log = running.logs / "app.log"
    _lines(log, 0, 2000)
    running.start()
    _wait(lambda: running.metric("sidecar_log_lines_shipped_total") > 0, "first lines shipped")
    loki.fail(500)  # lines in flight, unacknowledged
    _lines(log, 2000, 2000)
    _wait(lambda: loki.requests[-1].status == 500, "a failed push")
    orphan = running.child()
    assert running.process is not None
    running.process.kill()
    running.process.wait()
    loki.fail(None)
    # Started at once: its shipping process waits for the positions lock the first one
    # holds until it has flushed and written its final checkpoint.
    second = Running(tmp_path, loki, shutdown_deadline_seconds=5)
    second.start()
    try:
        orphan.wait(timeout=30)  # the kernel told it its parent died (PR_SET_PDEATHSIG)
        _wait(lambda: second.ready_status() == 200, "the new sidecar ready")
        _wait(lambda: sorted(set(_messages(loki))) == _expected(4000), "every line in Loki")
    finally:
        second.stop()
    assert len(_messages(loki)) == 4000


def test_one_shipper_per_positions_file(tmp_path):
    async def scenario() -> None:
        first, second = PositionsLock(tmp_path / "p.json"), PositionsLock(tmp_path / "p.json")
        await first.acquire()
        waiting = asyncio.create_task(second.acquire())
        await asyncio.sleep(0.3)  # several polls
        assert not waiting.done()
        first.release()
        await asyncio.wait_for(waiting, 5)
        second.release()

    asyncio.run(scenario())
