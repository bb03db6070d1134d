"""The shipping child and its supervisor, for real: `python -m sidecar ship` started by a
ShippingSupervisor in the test's own event loop (or by the test itself), against the
Loki double.

- a child that does not stop on SIGTERM within the grace is killed;
- stop() during the restart backoff returns without starting another child;
- a child that ran STABLE_AFTER_SECONDS resets the backoff;
- an unreadable status line is logged and skipped, the next ones still count;
- a child whose parent stopped reading its status flushes, checkpoints and exits 0;
- a child whose parent is already gone exits at once.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import psutil
import pytest
from prometheus_client import CollectorRegistry
from sidecar.app import Sidecar
from sidecar.shipping import supervisor as supervisor_module
from sidecar.shipping.config import ShippingConfig, SourceConfig
from sidecar.shipping.handover import ChildConfig, Status
from sidecar.shipping.supervisor import ShippingSupervisor

from sidecar.config import LokiConfig
from tests.support.eventually import eventually
from tests.support.loki_double import LokiDouble

pytestmark = pytest.mark.integration


def _config(tmp: Path, loki: LokiDouble, **shipping: float) -> ChildConfig:
    logs = tmp / "logs"
    logs.mkdir(exist_ok=True)
    return ChildConfig(
        log_level="info",
        loki=LokiConfig(url=loki.url, batch_max_wait_seconds=0.05),
        shipping=ShippingConfig(
            positions_file=tmp / "positions.json",
            scan_interval_seconds=0.1,
            poll_interval_seconds=0.05,
            checkpoint_interval_seconds=0.1,
            **{"shutdown_deadline_seconds": 2, **shipping},
        ),
        sources=[SourceConfig(name="app", service_name="svc", paths=[str(logs / "*.log")])],
    )


def _lines(path: Path, first: int, count: int) -> None:
    with path.open("a") as handle:
        for n in range(first, first + count):
            handle.write(json.dumps({"level": "info", "message": f"line {n:04d}"}) + "\n")


def _offset(positions: Path) -> int:
    try:
        files = json.loads(positions.read_text())["files"]
    except (FileNotFoundError, ValueError):
        return -1
    return sum(entry["offset"] for entry in files.values())


def _shipping_children() -> list[psutil.Process]:
    """This process's `python -m sidecar ship` children (a session's live stack, started
    by other tests, runs beside them)."""
    found = []
    for child in psutil.Process().children():
        try:
            if "ship" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _new_pipes(before: set[str]) -> list[str]:
    """Pipe descriptors this process opened since `before` and still holds."""
    pipes = []
    for fd in set(os.listdir("/proc/self/fd")) - before:
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                pipes.append(fd)
        except FileNotFoundError:
            continue  # closed meanwhile (listdir's own descriptor among them)
    return pipes


class _Supervised:
    def __init__(self, config: ChildConfig) -> None:
        self.registry = CollectorRegistry()
        self.supervisor = ShippingSupervisor(config, self.registry)

    def restarts(self, reason: str = "exited") -> float:
        value = self.registry.get_sample_value(
            "sidecar_shipping_restarts_total", {"service_name": "sidecar", "reason": reason}
        )
        return 0.0 if value is None else value


@pytest.fixture
async def supervised(tmp_path: Path, loki: LokiDouble) -> AsyncIterator[Callable[..., _Supervised]]:
    started: list[_Supervised] = []

    def start(**shipping: float) -> _Supervised:
        running = _Supervised(_config(tmp_path, loki, **shipping))
        running.supervisor.start()
        started.append(running)
        return running

    yield start
    for running in started:
        await running.supervisor.stop()


async def _kill_twice(running: _Supervised) -> None:
    """SIGKILL the child once it is ready, twice, each time until its restart is counted."""
    sup = running.supervisor
    for restarts in (1, 2):
        await eventually(sup.ready, what="ready", timeout=60)
        os.kill(sup.pid, signal.SIGKILL)
        await eventually(
            lambda n=restarts: running.restarts() == n, what=f"restart {restarts}", timeout=60
        )


def _restart_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [
        r.restart_in_s  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage().startswith("the log-shipping process stopped")
    ]


async def test_a_child_that_does_not_stop_on_sigterm_is_killed_after_the_grace(supervised, caplog):
    running = supervised(shutdown_deadline_seconds=0.5)
    sup = running.supervisor
    await eventually(sup.ready, what="ready", timeout=60)
    child = psutil.Process(sup.pid)
    child.suspend()  # SIGSTOP: the SIGTERM stop() sends stays pending
    try:
        await asyncio.wait_for(sup.stop(), timeout=60)
    finally:
        if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
            child.kill()  # the test failed: leave no stopped process behind
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert any("did not stop in time; killing it" in r.getMessage() for r in caplog.records)
    assert sup.pid is None
    assert running.restarts("exited") == running.restarts("hung") == 0  # stopping, not failing


async def test_stop_during_the_restart_backoff_returns_and_starts_no_other_child(
    supervised, caplog
):
    caplog.set_level(logging.INFO, logger="sidecar.shipping.supervisor")
    running = supervised()
    sup = running.supervisor
    await eventually(sup.ready, what="ready", timeout=60)
    os.kill(sup.pid, signal.SIGKILL)
    await eventually(lambda: running.restarts() == 1, what="the restart counted", timeout=60)
    assert sup.pid is None  # between two children: in the backoff
    await asyncio.wait_for(sup.stop(), timeout=10)
    started = [r for r in caplog.records if r.getMessage() == "log-shipping process started"]
    assert len(started) == 1
    assert _shipping_children() == []
    # Nothing is left that could start one later.
    assert [t for t in asyncio.all_tasks() if t.get_name() == "shipping-supervisor"] == []
    assert not sup.ready()


async def test_a_child_that_ran_long_enough_is_restarted_after_the_shortest_backoff(
    supervised, caplog, monkeypatch
):
    # A child counts as stable after a minute; the test does not run one that long.
    monkeypatch.setattr(supervisor_module, "STABLE_AFTER_SECONDS", 0.0)
    await _kill_twice(supervised())
    # Without the reset the second delay doubles (test_isolation.py sees 1 s, 2 s, ...).
    assert _restart_delays(caplog) == [1.0, 1.0]


async def test_the_backoff_doubles_for_a_child_that_keeps_failing(supervised, caplog):
    await _kill_twice(supervised())
    assert _restart_delays(caplog) == [1.0, 2.0]


@pytest.mark.parametrize("refused", ["pipe", "spawn"])
async def test_a_child_the_system_refuses_to_start_is_tried_again(
    supervised, caplog, monkeypatch, refused
):
    # The machine cannot be made to refuse a fork or a pipe to this test alone (root
    # ignores RLIMIT_NPROC; RLIMIT_NOFILE would starve the test too): refuse once here.
    error = OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
    if refused == "pipe":
        real_pipe = os.pipe
        calls = iter([error])

        def pipe() -> tuple[int, int]:
            refusal = next(calls, None)
            if refusal is not None:
                raise refusal
            return real_pipe()

        monkeypatch.setattr(supervisor_module.os, "pipe", pipe)
    else:
        real_exec = asyncio.create_subprocess_exec
        refusals = [error]

        async def create_subprocess_exec(*args, **kwargs):  # type: ignore[no-untyped-def]
            if refusals:
                raise refusals.pop()
            return await real_exec(*args, **kwargs)

        monkeypatch.setattr(
            supervisor_module.asyncio, "create_subprocess_exec", create_subprocess_exec
        )
    before = set(os.listdir("/proc/self/fd"))
    running = supervised()
    sup = running.supervisor
    await eventually(sup.ready, what="ready after the refusal", timeout=60)
    assert running.restarts("not_started") == 1
    assert any(
        r.getMessage() == "cannot start the log-shipping process"
        and "Resource temporarily unavailable" in r.error  # type: ignore[attr-defined]
        for r in caplog.records
    )
    assert _restart_delays(caplog) == [1.0]
    await asyncio.wait_for(sup.stop(), timeout=30)
    assert _new_pipes(before) == []  # the refused attempt's pipe closed too


async def test_an_unreadable_status_line_is_logged_and_skipped(supervised, caplog):
    running = supervised()
    sup = running.supervisor
    await eventually(sup.ready, what="ready", timeout=60)
    child = psutil.Process(sup.pid)
    args = child.cmdline()
    status_fd = int(args[args.index("--status-fd") + 1])
    # A second writer on the child's own status pipe: the parent cannot tell them apart.
    with open(f"/proc/{child.pid}/fd/{status_fd}", "wb", buffering=0) as pipe:
        pipe.write(b'{"ready": tr\n')
        pipe.write(b'{"ready": true}\n')
    await eventually(
        lambda: sum("unreadable status line" in r.getMessage() for r in caplog.records) == 2,
        what="both lines refused",
        timeout=60,
    )
    after = time.monotonic()
    await eventually(lambda: sup._beat > after, what="a status line read after them", timeout=60)
    assert sup.ready()
    assert sup.pid == child.pid  # not restarted


def _start_child(
    config: ChildConfig, parent_pid: int, tmp: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """As the supervisor starts it, with the test in the parent's place; what it
    prints goes to tmp/child.out."""
    read_fd, write_fd = os.pipe()
    command = ["ship", "--status-fd", str(write_fd), "--parent-pid", str(parent_pid)]
    try:
        with (tmp / "child.out").open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sidecar", *command],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp)},
            )
    finally:
        os.close(write_fd)
    assert proc.stdin is not None
    try:
        proc.stdin.write(config.encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass  # it exited before reading its configuration
    return proc, read_fd


def test_a_child_whose_parent_stopped_reading_its_status_flushes_and_exits(tmp_path, loki):
    config = _config(tmp_path, loki)
    log = tmp_path / "logs" / "app.log"
    _lines(log, 0, 50)
    proc, read_fd = _start_child(config, os.getpid(), tmp_path)
    try:
        with os.fdopen(read_fd, "rb") as status:
            Status.decode(status.readline())  # it reports as it does to the supervisor
            deadline = time.monotonic() + 60
            while len(loki.lines()) < 50:
                assert time.monotonic() < deadline, "timed out waiting for 50 lines in Loki"
                status.readline()
            _lines(log, 50, 50)  # read or not when the pipe closes: never lost
        # The read end is closed: its next status line fails, and it shuts down.
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "the main process stopped reading; shutting down" in (tmp_path / "child.out").read_text()
    shipped = {json.loads(line)["message"] for line in loki.lines()}
    offset = _offset(config.shipping.positions_file)
    assert offset > 0
    # Whatever it read it shipped before its final checkpoint; the rest a restart reads.
    assert len(shipped) == sum(1 for _ in log.read_bytes()[:offset].splitlines())


def test_a_child_whose_parent_is_already_gone_exits_at_once(tmp_path, loki):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that was a process and is not one now, nor this child's parent
    proc, read_fd = _start_child(_config(tmp_path, loki), gone.pid, tmp_path)
    os.close(read_fd)
    assert proc.wait(timeout=60) == 1
    assert "the main process is gone" in (tmp_path / "child.out").read_text()
    assert not (tmp_path / "positions.json").exists()  # it shipped nothing


async def test_stop_while_the_child_is_being_started_leaves_no_descriptor_open(tmp_path, loki):
    sup = ShippingSupervisor(_config(tmp_path, loki), CollectorRegistry())
    before = set(os.listdir("/proc/self/fd"))
    sup.start()
    await asyncio.sleep(0)  # the supervisor made the status pipe and is starting the child
    await sup.stop()
    assert _shipping_children() == []  # the half-started child was killed
    assert _new_pipes(before) == []


async def test_a_child_whose_shipping_fails_exits_and_is_started_again_not_left_hung(
    harness, caplog
):
    # The positions directory cannot be made while a file stands in its place.
    blocker = harness.tmp_path / "state"
    blocker.write_text("a file where the positions directory should be")
    config = harness.config(
        shipping={"isolation": "process", "positions_file": str(blocker / "positions.json")}
    )
    sidecar = Sidecar(config)
    stop = asyncio.Event()
    task = asyncio.create_task(sidecar.run(stop))

    def restarts(reason: str) -> float:
        labels = {"service_name": "sidecar", "reason": reason}
        return sidecar.registry.get_sample_value("sidecar_shipping_restarts_total", labels) or 0

    try:
        # Well inside unready_restart_seconds (60 s), after which it would be killed as hung.
        await eventually(lambda: restarts("exited") >= 1, what="the child exited", timeout=30)
        assert restarts("hung") == 0
        assert not sidecar.ready()
        assert any(
            r.getMessage() == "the log-shipping process exited" and r.returncode == 1  # type: ignore[attr-defined]
            for r in caplog.records
        )
        blocker.unlink()
        await eventually(sidecar.ready, what="ready once the directory can be made", timeout=60)
        (harness.logs / "app.log").write_text(harness.json_line(1))
        await eventually(lambda: harness.loki.lines(), what="line 1 shipped")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
