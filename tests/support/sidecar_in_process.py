"""The sidecar run in the test's own event loop, for tests that look into its parts.

`async with running(config) as sidecar:` starts `Sidecar.run`, waits until it is ready
and, on exit, stops it and waits for it to finish (a shutdown that hangs fails the
test). `tests/support/sidecar_process.py` runs it as a real process instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sidecar.app import Sidecar

from sidecar.config import SidecarConfig
from tests.support.eventually import eventually

STOP_TIMEOUT_SECONDS = 30


@contextlib.asynccontextmanager
async def running(config: SidecarConfig) -> AsyncIterator[Sidecar]:
    sidecar = Sidecar(config)
    stop = asyncio.Event()
    task = asyncio.create_task(sidecar.run(stop))
    try:
        await eventually(lambda: task.done() or sidecar.ready(), what="sidecar ready")
        if task.done():
            task.result()  # a start that failed fails the test with its own error
            raise AssertionError("the sidecar stopped before it was ready")
        yield sidecar
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=STOP_TIMEOUT_SECONDS)
