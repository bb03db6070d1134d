"""Fault injection to demonstrate alerts: added latency and an error rate, global or per route.

Only built when FAULT_INJECTION_ENABLED=true. With FAULT_STATE_FILE set, the state
lives in that file so a fault set through one gunicorn worker reaches every worker
(each re-reads it at most once a second).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from anyio import to_thread

REFRESH_SECONDS = 1.0


class InjectedFaultError(Exception):
    """Raised on purpose by the fault injector; answered with HTTP 500."""


@dataclass(frozen=True)
class FaultState:
    error_rate: float = 0.0
    latency_seconds: float = 0.0
    route: str | None = None

    def applies_to(self, route: str) -> bool:
        return self.route is None or self.route == route


class FaultInjector:
    def __init__(
        self,
        state_file: str | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._file = Path(state_file) if state_file else None
        # Chooses which requests fail, nothing secret: a plain PRNG is right.
        self._rng = rng or random.Random()  # noqa: S311
        self._state: FaultState | None = None
        self._checked_at = float("-inf")
        self._file_mtime: int | None = None

    async def set(self, state: FaultState) -> None:
        self._state = state
        if self._file is not None:
            await to_thread.run_sync(self._write, state)

    async def clear(self) -> None:
        self._state = None
        if self._file is not None:
            await to_thread.run_sync(self._write, None)

    async def current(self) -> FaultState | None:
        if self._file is not None and self._clock() - self._checked_at >= REFRESH_SECONDS:
            self._checked_at = self._clock()
            await to_thread.run_sync(self._reload)
        return self._state

    async def apply(self, route: str) -> None:
        """Delay and/or fail the current request if a fault targets `route`."""
        state = await self.current()
        if state is None or not state.applies_to(route):
            return
        if state.latency_seconds > 0:
            await asyncio.sleep(state.latency_seconds)
        if state.error_rate > 0 and self._rng.random() < state.error_rate:
            raise InjectedFaultError(f"injected fault on {route}")

    def _write(self, state: FaultState | None) -> None:
        assert self._file is not None
        self._file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(state) if state else None), encoding="utf-8")
        tmp.replace(self._file)  # atomic: readers never see half a file
        self._file_mtime = self._file.stat().st_mtime_ns

    def _reload(self) -> None:
        assert self._file is not None
        try:
            mtime = self._file.stat().st_mtime_ns
        except FileNotFoundError:
            self._state, self._file_mtime = None, None
            return
        if mtime == self._file_mtime:
            return
        data = json.loads(self._file.read_text(encoding="utf-8"))
        self._state = FaultState(**data) if data else None
        self._file_mtime = mtime
