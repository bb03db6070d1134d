"""The main process's side of the shipping child (process.py): start it, watch it,
restart it, stop it, and serve what it reports.

Guarantees:
- `ready()` is true only while the child runs, its latest status line is fresher than
  HEARTBEAT_STALE_SECONDS and says every shipping loop runs: a dead or hung child makes
  the sidecar not ready.
- A child that exits when it was not told to, sends no ready status for
  unready_restart_seconds (hung: it is killed), or cannot be started at all (the
  system refused the pipe, fork or exec: not_started), is started again after a backoff
  (1 s doubling to 30 s, back to 1 s once a child ran for a minute); each restart is
  counted in `sidecar_shipping_restarts_total{reason}` and logged. Nothing is lost: a
  new child resumes from the checkpoints, re-sending what was in flight.
- `stop()` sends SIGTERM and waits for the child's flush and final checkpoint
  (shutdown_deadline_seconds, plus time to write it), then kills it if it must.
- `reconfigure()` (a services-file reload changed the sources) stops the child as
  `stop()` does, so it flushes and checkpoints, then starts one with the new sources,
  which resume from those checkpoints; not counted as a restart. With no sources no
  child runs, and shipping counts as ready.
- The child's metrics (prometheus_client multiprocess files in a directory of this
  process's own) are collected at each scrape of the one /metrics, the configured
  sources' only (child_series.py; its process_* through sidecar.metrics.ProcessMetrics);
  the directory is removed at stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from typing import BinaryIO

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.multiprocess import mark_process_dead

from sidecar import telemetry_contract as contract
from sidecar.shipping.child_series import CurrentSeries
from sidecar.shipping.config import ShippingConfig
from sidecar.shipping.handover import HEARTBEAT_STALE_SECONDS, METRICS_ID, ChildConfig, Status
from sidecar.shipping.stall import SourceStatus

log = logging.getLogger(__name__)

BACKOFF_MIN_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0  # a child that ran this long resets the backoff
# Time for the final checkpoint after the child's flush deadline, before SIGKILL.
CHECKPOINT_GRACE_SECONDS = 10.0
RESTART_REASONS = ("exited", "hung", "not_started")


class ShippingSupervisor:
    def __init__(self, child: ChildConfig, registry: CollectorRegistry) -> None:
        self._config = child.encode()
        self._idle = not child.sources
        self._shipping: ShippingConfig = child.shipping
        self.metrics_dir = tempfile.mkdtemp(prefix="sidecar-metrics-")
        self._series = CurrentSeries(self.metrics_dir, child.sources)
        registry.register(self._series)
        # service_name="sidecar", as every series of the sidecar's own (its scrape job
        # honours labels, so it would add none).
        self._restarts = Counter(
            contract.SHIPPING_RESTARTS.name,
            "Restarts of the log-shipping process, by reason (exited: it ended on its "
            "own, e.g. a crash or kill; hung: no ready status for too long, killed).",
            contract.SHIPPING_RESTARTS.labels,
            registry=registry,
        )
        for reason in RESTART_REASONS:
            self._restarts.labels(contract.SERVICE_NAME, reason)
        Gauge(
            contract.SHIPPING_PROCESS_UP.name,
            "1 while the log-shipping process runs and reports every shipping loop running.",
            contract.SHIPPING_PROCESS_UP.labels,
            registry=registry,
        ).labels(contract.SERVICE_NAME).set_function(lambda: 1 if self.ready() else 0)
        self.unready_limit = child.shipping.unready_restart_seconds
        self.statuses: tuple[SourceStatus, ...] = ()
        self._proc: asyncio.subprocess.Process | None = None
        self._status: Status | None = None
        self._beat = 0.0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _pid(self) -> int | None:
        proc = self._proc
        return None if proc is None or proc.returncode is not None else proc.pid

    @property
    def pid(self) -> int | None:
        return self._pid()

    def start(self) -> None:
        self._stopping.clear()
        if not self._idle:
            self._task = asyncio.create_task(self._supervise(), name="shipping-supervisor")

    def ready(self) -> bool:
        if self._idle:
            return True
        fresh = time.monotonic() - self._beat < HEARTBEAT_STALE_SECONDS
        ok = (
            self._pid() is not None
            and fresh
            and self._status is not None
            and self._status.ready
            and self._task is not None
            and not self._task.done()
        )
        return ok

    async def stop(self) -> None:
        await self._stop_child()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)

    async def reconfigure(self, child: ChildConfig) -> None:
        """Ship `child`'s sources from now on (see the module's guarantees)."""
        await self._stop_child()
        mark_process_dead(METRICS_ID, self.metrics_dir)  # type: ignore[no-untyped-call]  # unannotated upstream
        self._config = child.encode()
        self._idle = not child.sources
        self._series.follow(child.sources)
        self.statuses = ()
        self.start()

    async def _stop_child(self) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            grace = self._shipping.shutdown_deadline_seconds + CHECKPOINT_GRACE_SECONDS
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                log.error("the shipping process did not stop in time; killing it")
                proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._proc = None

    async def _supervise(self) -> None:
        """Until told to stop: by _watch's None while a child runs, else by _stop_child
        cancelling this task (in the backoff below, or while a child is started)."""
        failures = 0
        while True:
            started = time.monotonic()
            reason = await self._run_child()
            if reason is None:
                return  # told to stop
            self._restarts.labels(contract.SERVICE_NAME, reason).inc()
            # Its gauges (backlog, files held open, stalled) described a process that
            # is gone; the next child sets its own.
            mark_process_dead(METRICS_ID, self.metrics_dir)  # type: ignore[no-untyped-call]  # unannotated upstream
            if time.monotonic() - started >= STABLE_AFTER_SECONDS:
                failures = 0
            delay = min(BACKOFF_MAX_SECONDS, BACKOFF_MIN_SECONDS * 2**failures)
            failures += 1
            log.error(
                "the log-shipping process stopped; starting it again",
                extra={"reason": reason, "restart_in_s": delay},
            )
            await asyncio.sleep(delay)

    async def _run_child(self) -> str | None:
        """Run one child to its end: None when told to stop, else the restart reason."""
        try:
            read_fd, write_fd = os.pipe()
        except OSError as exc:
            return _not_started(exc)
        # Closed on every way out, a stop() while the child is being started included.
        with os.fdopen(read_fd, "rb", buffering=0) as status:
            env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir}
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "sidecar",
                    "ship",
                    "--status-fd",
                    str(write_fd),
                    "--parent-pid",
                    str(os.getpid()),
                    stdin=asyncio.subprocess.PIPE,
                    pass_fds=(write_fd,),
                    env=env,
                )
            except OSError as exc:
                return _not_started(exc)
            finally:
                os.close(write_fd)
            self._proc = proc
            self._status = None
            self.statuses = ()
            self._beat = time.monotonic()
            log.info("log-shipping process started", extra={"pid": proc.pid})
            assert proc.stdin is not None
            proc.stdin.write(self._config)
            with contextlib.suppress(ConnectionError):
                await proc.stdin.drain()
            proc.stdin.close()
            reader = asyncio.create_task(self._read_status(status))
            try:
                return await self._watch(proc)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def _watch(self, proc: asyncio.subprocess.Process) -> str | None:
        last_ready = time.monotonic()
        exited = asyncio.create_task(proc.wait())
        while True:
            done, _ = await asyncio.wait([exited], timeout=1.0)
            if self._stopping.is_set():
                if not done:
                    await exited  # stop() signals it and waits
                return None
            if done:
                log.error(
                    "the log-shipping process exited",
                    extra={"pid": proc.pid, "returncode": proc.returncode},
                )
                return "exited"
            now = time.monotonic()
            if self._status is not None and self._status.ready:
                last_ready = max(last_ready, self._beat)
            if now - last_ready > self.unready_limit:
                log.error(
                    "the log-shipping process sent no ready status for too long; killing it",
                    extra={"pid": proc.pid, "seconds": round(now - last_ready)},
                )
                proc.kill()
                await exited
                return "hung"

    async def _read_status(self, pipe: BinaryIO) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        try:
            while line := await reader.readline():
                try:
                    self._status = Status.decode(line)
                except (ValueError, KeyError, TypeError, IndexError):
                    log.error("unreadable status line from the shipping process")
                    continue
                self._beat = time.monotonic()
                self.statuses = self._status.statuses
        finally:
            transport.close()


def _not_started(exc: OSError) -> str:
    # EAGAIN, ENOMEM, EMFILE: the machine may have room again after the backoff.
    log.error("cannot start the log-shipping process", extra={"error": str(exc)})
    return "not_started"
