"""Writes every source's positions to the positions file: periodically and at shutdown.

Guarantees: one write at a time; a write that is under way when its task is cancelled
(shutdown) is finished, not abandoned, and the final save at shutdown starts only after
it, so the last snapshot on disk is the newest; a failed write is logged and shipping
goes on (an old checkpoint only means lines are sent again).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable

from sidecar.shipping.positions import Position, PositionsStore

log = logging.getLogger(__name__)


class Checkpointer:
    def __init__(self, store: PositionsStore, snapshot: Callable[[], dict[str, Position]]) -> None:
        self.store = store
        self._snapshot = snapshot
        self._lock = asyncio.Lock()
        self._last: dict[str, Position] | None = None
        self._sequence = itertools.count()
        self._writing: asyncio.Future[bool] | None = None

    async def save(self, force: bool = False) -> None:
        async with self._lock:
            if self._writing is not None:
                # Left running by a save whose task was cancelled: it finishes first.
                with contextlib.suppress(OSError):
                    await asyncio.shield(self._writing)
            positions = self._snapshot()
            if not force and positions == self._last:
                return
            self._writing = asyncio.ensure_future(
                asyncio.to_thread(self.store.save, positions, next(self._sequence))
            )
            try:
                await asyncio.shield(self._writing)
            except OSError as exc:
                # Keep shipping: an old checkpoint only means re-sending.
                log.error("cannot write positions", extra={"error": str(exc)})
                return
            self._last = positions

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.save()
