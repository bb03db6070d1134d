"""The read loop of one source: chunks from every open file into the ingest stage.

Guarantees: older files are read first (a rotated file's lines precede its
successor's); reading pauses, never drops, while the shared buffer is full; and the
loop yields to the event loop after every chunk and sleeps when a round found nothing,
so no file (a huge one, or one that never ends) can starve the other tasks.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Awaitable, Callable

from sidecar.shipping.budget import BufferBudget
from sidecar.shipping.files import FileSet
from sidecar.shipping.ingest import Ingest


class ReadLoop:
    def __init__(
        self,
        files: FileSet,
        ingest: Ingest,
        budget: BufferBudget,
        poll_seconds: float,
        while_paused: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._files = files
        self._ingest = ingest
        self._budget = budget
        self._poll = poll_seconds
        self._while_paused = while_paused

    async def run(self) -> None:
        """Until cancelled (at shutdown, by the shipping service)."""
        while True:
            progressed = await self.round()
            if self._budget.full:
                if self._while_paused is not None:
                    await self._while_paused()
                await self._budget.wait_for_room()
            elif not progressed:
                await asyncio.sleep(self._poll)

    async def round(self) -> bool:
        progressed = False
        files = self._files
        for tailer in sorted(files.tailers.values(), key=lambda t: t.opened_mtime):
            while not self._budget.full:
                if tailer.key not in files.tailers:
                    break
                chunk = tailer.reader.read_chunk()
                if chunk is None:
                    self._ingest.idle(tailer)
                    if os.fstat(tailer.fd).st_size < tailer.read_offset:
                        files.check(tailer, True, time.monotonic())
                    break
                progressed = True
                self._ingest.chunk(tailer, chunk)
                # CPython starts a young collection when allocations outnumber
                # deallocations by a threshold; a buffer that frees old entries as fast
                # as it makes new ones never gets there, so young objects pile up to the
                # buffer's size and are then walked in one long pause that stops every
                # thread of the process (the /health loop's too). Collected after each
                # chunk, a pass walks only what the chunk made, and the entries (tuples
                # of atoms) leave the GC's lists for good (bench/log_shipping/README.md,
                # "Issue 11b").
                gc.collect(0)
                await asyncio.sleep(0)
        return progressed
