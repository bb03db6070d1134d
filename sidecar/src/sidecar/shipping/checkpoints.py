"""Writes every source's acknowledged offsets to the positions file, periodically."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sidecar.shipping.pipeline import SourcePipeline
from sidecar.shipping.positions import Position, PositionsStore

log = logging.getLogger(__name__)


class Checkpointer:
    def __init__(self, store: PositionsStore, pipelines: Sequence[SourcePipeline]) -> None:
        self.store = store
        self.pipelines = pipelines
        self._lock = asyncio.Lock()
        self._last: dict[str, Position] | None = None

    def snapshot(self) -> dict[str, Position]:
        positions: dict[str, Position] = {}
        for pipeline in self.pipelines:
            positions.update(pipeline.positions())
        return positions

    async def save(self, force: bool = False) -> None:
        async with self._lock:
            positions = self.snapshot()
            if not force and positions == self._last:
                return
            try:
                await asyncio.to_thread(self.store.save, positions)
            except OSError as exc:
                # Keep shipping: an old checkpoint only means re-sending (collapsed by Loki).
                log.error("cannot write positions", extra={"error": str(exc)})
                return
            self._last = positions

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.save()
