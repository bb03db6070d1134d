"""Log shipping on its own thread and event loop, apart from /health and the probes.

Reading files, parsing, protobuf encoding and fingerprinting are CPU and blocking-I/O
work; on the loop that serves /health and times the health probes they would stall both
(and show up as slow probes). So all of shipping runs here, on a thread of its own with
its own asyncio loop and its own HTTP client; the main loop only reads its status.

The service runs the same way on a thread of the main process (`shipping.isolation:
thread`) and in the shipping child process (process.py), where this thread is all the
work there is.

Guarantees: nothing is read before the positions file's lock is held (lock.py: one
shipper per positions file); `stop()` flushes what is pending within
shutdown_deadline_seconds, then writes the final checkpoint after any write still under
way; `ready()` is true only while every shipping loop runs and the thread's loop answers
(a heartbeat), so a loop that died or hangs makes the sidecar not ready. A shipping
thread that ends with an error (e.g. the positions file's directory cannot be made) logs
it and is not ready from then on; `stop()` still returns.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence

from sidecar.shipping.budget import BufferBudget
from sidecar.shipping.checkpoints import Checkpointer
from sidecar.shipping.config import LokiConfig, ShippingConfig, SourceConfig
from sidecar.shipping.handover import HEARTBEAT_SECONDS, HEARTBEAT_STALE_SECONDS
from sidecar.shipping.ingest import Observer
from sidecar.shipping.lock import PositionsLock
from sidecar.shipping.loki_client import LokiClient
from sidecar.shipping.metrics import ShippingMetrics
from sidecar.shipping.positions import Position, PositionsStore
from sidecar.shipping.selfguard import SelfGuard
from sidecar.shipping.source import SourcePipeline
from sidecar.shipping.stall import SourceStatus

log = logging.getLogger(__name__)


def tune_gc() -> None:
    """Fewer cyclic-GC passes over what start-up made, for the process that ships.

    gc.freeze() keeps everything allocated so far out of every collection, and the
    higher first threshold makes fewer young collections. Buffered entries are not the
    GC's concern at all (acks.py, reading.py); bench/log_shipping/README.md has the
    measurements.
    """
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


class ShippingService:
    def __init__(
        self,
        loki: LokiConfig,
        shipping: ShippingConfig,
        sources: Sequence[SourceConfig],
        metrics: ShippingMetrics,
        recorder_for: Callable[[SourceConfig], Observer | None],
    ) -> None:
        self.loki = loki
        self.shipping = shipping
        self.sources = list(sources)
        self.metrics = metrics
        self.store = PositionsStore(shipping.positions_file)
        self._lock = PositionsLock(shipping.positions_file)
        self._recorders = {source.name: recorder_for(source) for source in self.sources}
        self.pipelines: list[SourcePipeline] = []
        self.checkpointer = Checkpointer(self.store, self.snapshot)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.budget: BufferBudget | None = None
        self._beat = 0.0
        self._loops_ok = False
        self.statuses: tuple[SourceStatus, ...] = ()

    # -- from the main thread --------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shipping", daemon=True)
        self._thread.start()
        self._started.wait()

    def ready(self) -> bool:
        """Every shipping loop runs and the shipping loop answered recently."""
        fresh = time.monotonic() - self._beat < HEARTBEAT_STALE_SECONDS
        return self._loops_ok and fresh and not self._done.done()

    def broken(self) -> bool:
        """The shipping thread ended, or one of its loops did: nothing in this process
        will mend it (the shipping child exits on it, to be started again)."""
        return self._done.done() or (self._beat > 0 and not self._loops_ok)

    async def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._done.done():
            self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.wrap_future(self._done)

    # -- on the shipping thread -------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException:
            # Reported here, once, and by ready() from now on; not raised again by
            # stop(), so the caller's shutdown (its HTTP server's) still completes.
            log.exception("log shipping stopped with an error")
            self._started.set()
        self._done.set_result(None)

    def snapshot(self) -> dict[str, Position]:
        positions: dict[str, Position] = {}
        for pipeline in self.pipelines:
            positions.update(pipeline.positions())
        return positions

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        lock = asyncio.create_task(self._lock.acquire())
        stopped = asyncio.create_task(self._stop.wait())
        await asyncio.wait([lock, stopped], return_when=asyncio.FIRST_COMPLETED)
        if not lock.done():
            lock.cancel()
            return  # stopped while another shipper still held the positions file
        stopped.cancel()
        lock.result()
        try:
            await self._ship()
        finally:
            self._lock.release()

    async def _ship(self) -> None:
        assert self._stop is not None
        client = LokiClient(self.loki)
        budget = self.budget = BufferBudget(self.shipping.buffer_max_bytes)
        resume = self.store.load()
        guard = SelfGuard()
        for source in self.sources:
            self.pipelines.append(
                SourcePipeline(
                    source,
                    self.shipping,
                    self.loki,
                    client,
                    budget,
                    self.metrics,
                    resume,
                    self.checkpointer.save,
                    guard,
                    self._recorders[source.name],
                )
            )
        loops: list[asyncio.Task[None]] = []
        for pipeline in self.pipelines:
            loops.append(asyncio.create_task(pipeline.scan_loop()))
            loops.append(asyncio.create_task(pipeline.reader.run()))
        batchers = [asyncio.create_task(p.batcher.run()) for p in self.pipelines]
        interval = self.shipping.checkpoint_interval_seconds
        loops.append(asyncio.create_task(self.checkpointer.run(interval)))
        beat = asyncio.create_task(self._heartbeat([*loops, *batchers]))
        await self._stop.wait()
        self._loops_ok = False
        beat.cancel()
        await self._shutdown(client, loops, batchers)

    async def _heartbeat(self, tasks: list[asyncio.Task[None]]) -> None:
        reported: set[asyncio.Task[None]] = set()
        while True:
            # _loops_ok before _beat: broken() reads them the other way round.
            self._loops_ok = not any(task.done() for task in tasks)
            self._beat = time.monotonic()
            for task in tasks:
                if task.done() and task not in reported:
                    reported.add(task)
                    log.error("a shipping loop ended", exc_info=_error(task))
            self.statuses = tuple(p.status for p in self.pipelines)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _shutdown(
        self,
        client: LokiClient,
        loops: list[asyncio.Task[None]],
        batchers: list[asyncio.Task[None]],
    ) -> None:
        deadline = self.shipping.shutdown_deadline_seconds
        log.info("shutting down: flushing in-flight batches", extra={"deadline_s": deadline})
        for pipeline in self.pipelines:
            pipeline.flush_pending()
        await _cancel(loops)
        if batchers:  # pragma: no branch - the sidecar runs no service without sources
            _, late = await asyncio.wait(batchers, timeout=deadline)
            if late:
                log.warning("flush deadline passed; unsent lines will be re-read on restart")
                for pipeline in self.pipelines:
                    pipeline.cancel_senders()
                await _cancel(list(late))
        await self.checkpointer.save(force=True)
        for pipeline in self.pipelines:
            pipeline.release_all()
        await client.close()


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _error(task: asyncio.Task[None]) -> BaseException | None:
    return None if task.cancelled() else task.exception()
