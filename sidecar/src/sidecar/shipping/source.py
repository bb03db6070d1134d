"""One log source end to end: the stages wired together, and their loops.

files (discovery, rotation) -> read loop -> ingest (rejoin, parse) -> batcher -> sender
-> acks. Each stage states its own guarantee; together they keep the source's
invariant: every line read is either accepted by Loki or counted under exactly one drop
reason, and each file's checkpoint reaches its last complete line once Loki accepts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from sidecar.logs import Throttled
from sidecar.shipping.access_tap import AccessTap
from sidecar.shipping.acks import SegmentTable
from sidecar.shipping.anchor_gate import AnchorGate
from sidecar.shipping.batcher import Batcher
from sidecar.shipping.budget import BufferBudget
from sidecar.shipping.config import LokiConfig, ShippingConfig, SourceConfig
from sidecar.shipping.discovery import Discovery
from sidecar.shipping.files import FileSet
from sidecar.shipping.ingest import EMPTY_LINE, INVALID_UTF8, NUL_BYTES, Ingest, Observer
from sidecar.shipping.labels import StreamLabels
from sidecar.shipping.linereader import TRUNCATED, Chunk
from sidecar.shipping.loki_client import OUTCOMES, LokiClient
from sidecar.shipping.metrics import ShippingMetrics
from sidecar.shipping.parsers import MALFORMED_REASONS
from sidecar.shipping.positions import Position
from sidecar.shipping.reading import ReadLoop
from sidecar.shipping.rejections import REASONS as REFUSED_BY_LOKI
from sidecar.shipping.selfguard import SelfGuard
from sidecar.shipping.sender import ENCODING_ERROR, Sender
from sidecar.shipping.source_metrics import SourceMetrics
from sidecar.shipping.stall import SourceStatus, StallWatch
from sidecar.shipping.tailer import Tailer

log = logging.getLogger(__name__)

DROP_REASONS = (EMPTY_LINE, ENCODING_ERROR, *REFUSED_BY_LOKI)


class SourcePipeline:
    def __init__(
        self,
        source: SourceConfig,
        shipping: ShippingConfig,
        loki: LokiConfig,
        client: LokiClient,
        budget: BufferBudget,
        metrics: ShippingMetrics,
        resume: dict[str, Position],
        save_anchors: Callable[[], Awaitable[None]],
        guard: SelfGuard,
        recorder: Observer | None = None,
    ) -> None:
        self.source = source
        self.shipping = shipping
        malformed = (NUL_BYTES, INVALID_UTF8, TRUNCATED, *MALFORMED_REASONS[source.format])
        self.metrics = SourceMetrics(metrics, source, DROP_REASONS, malformed, OUTCOMES)
        labels = StreamLabels(source.labels, source.service_name, source.name)
        self.anchors = AnchorGate(save_anchors)
        segments = SegmentTable()
        self.sender = Sender(
            source.name, loki.encoding, client, labels, self.metrics, self.anchors, segments
        )
        self.batcher = Batcher(loki, budget, self.sender.send)
        self.ingest = Ingest.for_source(
            source,
            shipping.max_line_bytes,
            labels=labels,
            metrics=self.metrics,
            pending=self.batcher.pending,
            staged=self.batcher.staged,
            anchor_made=self.anchors.mark,
            recorder=recorder,
            segments=segments,
        )
        self.files = FileSet(
            source,
            shipping,
            Discovery(source, self.metrics.refused),
            guard,
            resume,
            self._flush,
            self.ingest.forget,
        )
        paused = None
        if recorder is not None:
            tap = AccessTap(
                self.files,
                self.ingest.parse,
                recorder,
                budget,
                shipping.max_line_bytes,
                shipping.read_chunk_bytes,
                shipping.poll_interval_seconds,
            )
            paused = tap.run_while_paused
        self.reader = ReadLoop(
            self.files, self.ingest, budget, shipping.poll_interval_seconds, paused
        )
        self._stall = StallWatch(source.name, shipping.stall_after_seconds)
        self.status = SourceStatus(source.name, False, None)
        self._warn = Throttled(log, 300.0)

    @property
    def tailers(self) -> dict[str, Tailer]:
        return self.files.tailers

    def _flush(self, tailer: Tailer, chunk: Chunk, final: bool) -> None:
        self.ingest.chunk(tailer, chunk, final=final)

    def scan(self) -> None:
        self.files.scan()
        backlog = self.files.backlog()
        self.metrics.backlog.set(backlog)
        rotated, deleted = self.files.held_open()
        self.metrics.held_rotated.set(rotated)
        self.metrics.held_deleted.set(deleted)
        status = self._stall.update(
            time.monotonic(), backlog, self.sender.acked, self.sender.failing
        )
        self.metrics.stalled.set(1 if status.stalled else 0)
        if status.stalled:
            self._warn.warning(
                ("stalled", self.source.name),
                "log source stalled",
                extra={"source": self.source.name, "detail": status.output},
            )
        self.status = status

    async def scan_loop(self) -> None:
        """Until cancelled (at shutdown, by the shipping service)."""
        while True:
            self.scan()
            await asyncio.sleep(self.shipping.scan_interval_seconds)

    def flush_pending(self) -> None:
        """Flush everything pending now (SIGTERM); the service then cancels the read
        and scan loops, before they can read more."""
        self.batcher.close()

    def cancel_senders(self) -> None:
        """Past the shutdown deadline: stop pushing; unacknowledged lines are re-read."""
        self.batcher.cancel()

    def positions(self) -> dict[str, Position]:
        return self.files.positions()

    def release_all(self) -> None:
        self.files.release_all()
