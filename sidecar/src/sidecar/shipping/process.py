"""The shipping child process: `python -m sidecar ship --status-fd N`, started and
supervised by the main process (supervisor.py), which writes its validated
configuration to its standard input as JSON (secrets stay off the command line and the
environment, and the child ships with exactly the configuration the parent checked).

Guarantees:
- It ships exactly as the thread would (service.py). Its metrics go to the
  prometheus_client multiprocess directory the parent names in PROMETHEUS_MULTIPROC_DIR,
  under one fixed identifier, so a restarted child carries its counters on from the
  files its predecessor left, and the parent serves them at its one /metrics.
- Every HEARTBEAT_SECONDS it writes one status line (`Status`, JSON) to the parent; a
  parent that stopped reading (gone) makes it shut down.
- SIGTERM or SIGINT: reading stops, pending lines are flushed within
  shutdown_deadline_seconds, the final checkpoint is written, exit 0.
- Shipping that failed in it (the positions file's directory cannot be made, a loop
  ended) makes it shut down the same way and exit 1, so the parent starts a new one
  after its backoff instead of waiting unready_restart_seconds to kill it as hung.
- If the parent dies, even by kill -9, the kernel sends it SIGTERM (PR_SET_PDEATHSIG),
  so it shuts down the same way; a new child waits for the positions lock (lock.py)
  until this one has written its final checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable

from prometheus_client import CollectorRegistry, values

from sidecar import logs
from sidecar.accesslog.recorder import AccessLogRecorder
from sidecar.shipping.config import SourceConfig
from sidecar.shipping.handover import HEARTBEAT_SECONDS, METRICS_ID, ChildConfig, Status
from sidecar.shipping.ingest import Observer
from sidecar.shipping.metrics import ShippingMetrics
from sidecar.shipping.service import ShippingService, tune_gc

log = logging.getLogger(__name__)

# Shipping is throughput work, /health and the probes are latency work: the kernel
# lets the main process run first whenever both want a CPU (a niceness can only be
# raised unprivileged, so this works as any user, in any container).
NICENESS = 10
_PR_SET_PDEATHSIG = 1


def recorder_for(registry: CollectorRegistry) -> Callable[[SourceConfig], Observer | None]:
    """Access-log recorders writing to `registry` (both isolation modes use this)."""

    def make(source: SourceConfig) -> Observer | None:
        if source.access_log is None:
            return None
        return AccessLogRecorder(source.access_log, source.service_name, registry)

    return make


def main(status_fd: int, parent_pid: int) -> int:
    _die_with(parent_pid)
    os.nice(NICENESS)
    config = ChildConfig.model_validate_json(sys.stdin.buffer.read())
    logs.configure(config.log_level)
    # Before any metric exists: every value goes to the parent's directory, one file
    # per metric type, named by METRICS_ID.
    values.ValueClass = values.MultiProcessValue(lambda: METRICS_ID)  # type: ignore[no-untyped-call]  # unannotated upstream
    registry = CollectorRegistry()
    service = ShippingService(
        config.loki,
        config.shipping,
        config.sources,
        ShippingMetrics(registry),
        recorder_for(registry),
    )
    tune_gc()
    return asyncio.run(_run(service, status_fd))


async def _run(service: ShippingService, status_fd: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    service.start()
    code = 0
    with os.fdopen(status_fd, "wb", buffering=0) as status:
        while not stop.is_set():
            if service.broken():
                log.error("log shipping failed in this process; exiting to be started again")
                code = 1
                break
            try:
                status.write(Status(service.ready(), service.statuses).encode())
            except OSError:  # the parent is gone (or closed its end): shut down
                log.warning("the main process stopped reading; shutting down")
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_SECONDS)
    await service.stop()
    return code


def _die_with(parent_pid: int) -> None:
    """SIGTERM when the parent dies (Linux), so no orphan ships on beside a new one."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        sys.exit("the main process is gone")
