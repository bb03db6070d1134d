"""Pending entries per stream, cut into batches and handed to senders in stream order.

Guarantees:
- A batch holds one stream (one stream per push: Loki reports refusals in the last
  stream of a push only, rejections.py says why), cut once that stream has
  batch_max_bytes pending or has waited batch_max_wait (noticed at the next wake, so an
  entry waits at most about twice that, plus any wait for a free slot). Streams take
  turns.
- At most max_in_flight batches per source are out at once, and a stream is in at most
  STREAM_DEPTH of them (one on the wire, the next encoded behind it and sent only after
  it finished), so a stream's entries reach Loki in order.
- Nothing spins: while no batch can go out (no free slot, or every pending stream is at
  its depth) the loop waits for a sender to finish, with no timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from operator import itemgetter

from sidecar.shipping.budget import BufferBudget
from sidecar.shipping.config import LokiConfig
from sidecar.shipping.entries import Entry

log = logging.getLogger(__name__)

STREAM_DEPTH = 2
_SIZE = itemgetter(4)

Batch = tuple[str, list[Entry]]
Send = Callable[[Batch, list["asyncio.Future[None]"]], Awaitable[None]]


class Batcher:
    def __init__(self, loki: LokiConfig, budget: BufferBudget, send: Send) -> None:
        self._max_bytes = loki.batch_max_bytes
        self._max_wait = loki.batch_max_wait_seconds
        self._max_in_flight = loki.max_in_flight
        self._budget = budget
        self._send = send
        self.pending: dict[str, list[Entry]] = defaultdict(list)
        self._pending_bytes = 0
        # When each stream with entries was first seen holding them.
        self._since: dict[str, float] = {}
        self._depth: dict[str, int] = defaultdict(int)
        self._tail: dict[str, asyncio.Future[None]] = {}
        self.inflight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._blocked = False
        self.closing = False

    def staged(self, size: int) -> None:
        """`size` bytes of entries were added to `pending` (called by the ingest stage)."""
        self._budget.take(size)
        self._pending_bytes += size
        if not self._since or self._pending_bytes >= self._max_bytes:
            self._wake.set()  # notes the new streams' wait, or a batch may be full

    def close(self) -> None:
        """Flush everything pending now, then let run() return once it is all out."""
        self.closing = True
        self._wake.set()

    @property
    def empty(self) -> bool:
        return not any(self.pending.values()) and not self.inflight

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._timeout())
            self._wake.clear()
            self._dispatch()
            if self.closing and self.empty:
                return

    def _timeout(self) -> float | None:
        if not self._since or self._blocked or self.closing:
            return None  # woken by staged(), a finished sender, or close()
        if len(self.inflight) >= self._max_in_flight:
            return None
        oldest = min(self._since.values())
        return max(0.0, self._max_wait - (time.monotonic() - oldest))

    def _dispatch(self) -> None:
        now = time.monotonic()
        since = self._since
        for stream, entries in self.pending.items():
            if entries and stream not in since:
                # Noticed at the first wake after it got entries: within one
                # batch_max_wait of their arrival.
                since[stream] = now
        self._blocked = False
        while len(self.inflight) < self._max_in_flight:
            batch = self._cut(now)
            if batch is None:
                # Woken by a finished sender if every stream with entries is at its
                # depth, else by the timer of the oldest.
                self._blocked = bool(since) and all(
                    self._depth[stream] >= STREAM_DEPTH for stream in since
                )
                return
            stream = batch[0]
            before = []
            tail = self._tail.get(stream)
            if tail is not None and not tail.done():
                before.append(tail)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._tail[stream] = done
            task = asyncio.create_task(self._run_sender(batch, before, done))
            self.inflight.add(task)
            task.add_done_callback(self._finished)

    def _cut(self, now: float) -> Batch | None:
        """Up to batch_max_bytes of the first stream that is full or has waited
        batch_max_wait and is not at its depth, or None."""
        pending = self.pending
        limit = self._max_bytes
        for stream, entries in pending.items():
            if not entries or self._depth[stream] >= STREAM_DEPTH:
                continue
            size = 0
            taken = 0
            # Stops at the limit: the pending list can hold the whole buffer.
            for entry in entries:
                if size >= limit:
                    break
                size += entry[4]
                taken += 1
            due = self.closing or now - self._since[stream] >= self._max_wait
            if size < limit and not due:
                continue
            break
        else:
            return None
        # The per-stream list is kept (and so stays in the GC's old generation); the
        # batch is a copy. Then to the back: the other streams go first next time.
        batch = entries[:taken]
        del entries[:taken]
        pending[stream] = pending.pop(stream)
        self._depth[stream] += 1
        self._pending_bytes -= size
        if entries:
            self._since[stream] = now  # the rest waits anew (it filled a batch)
        else:
            del self._since[stream]
        return stream, batch

    async def _run_sender(
        self, batch: Batch, before: list[asyncio.Future[None]], done: asyncio.Future[None]
    ) -> None:
        stream, entries = batch
        size = sum(map(_SIZE, entries))
        try:
            await self._send(batch, before)
        finally:
            self._depth[stream] -= 1
            if self._tail.get(stream) is done:
                del self._tail[stream]
            done.set_result(None)
            self._budget.give(size)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A bug, not Loki: the stall watch reports the lines left behind.
            log.error("sender failed", exc_info=task.exception())
        self._wake.set()

    def cancel(self) -> None:
        for task in self.inflight:
            task.cancel()
