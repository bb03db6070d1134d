"""The read-time anchors made since the last checkpoint, and the write that saves them.

Guarantee: a line stamped with a new read-time anchor (generation.py) leaves for Loki
only after that anchor is on disk, so a re-send after a crash carries the same
timestamp and Loki collapses it. A batch cut while another sender is writing the
anchors waits for that same write instead of starting a second one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class AnchorGate:
    """Read-time anchors made since the last checkpoint, and the write that saves them."""

    def __init__(self, save: Callable[[], Awaitable[None]]) -> None:
        self._save = save
        self.dirty = False
        self._saving: asyncio.Future[None] | None = None

    def mark(self) -> None:
        self.dirty = True

    async def saved(self) -> None:
        if self.dirty:
            self.dirty = False
            self._saving = asyncio.ensure_future(self._save())
        if self._saving is not None:
            # A batch cut while another sender writes the anchors waits for that write.
            await self._saving
