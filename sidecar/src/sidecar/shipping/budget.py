"""The bounded in-memory buffer shared by every source: reading pauses while it is full."""

from __future__ import annotations

import asyncio


class BufferBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._room = asyncio.Event()
        self._room.set()

    @property
    def full(self) -> bool:
        return self.used >= self.limit

    def take(self, size: int) -> None:
        self.used += size
        if self.used >= self.limit:
            self._room.clear()

    def give(self, size: int) -> None:
        self.used -= size
        if self.used < self.limit:
            self._room.set()

    async def wait_for_room(self) -> None:
        await self._room.wait()
