"""One batch from encoding to acknowledgement: every entry ends shipped or counted dropped.

Guarantees:
- Encoding cannot stall a source: if the batch does not encode, each entry is tried on
  its own; the ones that fail are counted as dropped (`encoding_error`), logged once
  with the cause, and acknowledged; the rest are sent.
- Connection errors, 429 and 5xx (and 401/403/404) are retried with backoff until Loki
  accepts or the sidecar shuts down; an unexpected exception from the client is treated
  as a connection error. A 400/413 answer is final: the entries Loki names are counted
  under its reasons, the rest as shipped.
- Every entry of a batch that got an answer is acknowledged exactly once, so its file's
  checkpoint can move past it; at shutdown an unanswered batch stays unacknowledged (its
  task is cancelled past the flush deadline, wherever it waits) and is read again after
  the restart (never skipped).
- A line stamped with a new read-time anchor leaves only after that anchor is on disk
  (anchor_gate.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from operator import itemgetter

from sidecar.logs import Throttled
from sidecar.shipping.acks import SegmentTable
from sidecar.shipping.anchor_gate import AnchorGate
from sidecar.shipping.batcher import Batch
from sidecar.shipping.encoding import ENCODERS, Body, encode_isolating
from sidecar.shipping.entries import Entry
from sidecar.shipping.labels import StreamLabels
from sidecar.shipping.loki_client import Attempt, LokiClient
from sidecar.shipping.rejections import dropped_by_reason
from sidecar.shipping.source_metrics import SourceMetrics

log = logging.getLogger(__name__)

ENCODING_ERROR = "encoding_error"
_TS = itemgetter(0)
_SEGMENT = itemgetter(3)


class Sender:
    def __init__(
        self,
        source_name: str,
        encoding: str,
        client: LokiClient,
        labels: StreamLabels,
        metrics: SourceMetrics,
        anchors: AnchorGate,
        segments: SegmentTable,
    ) -> None:
        self._source = source_name
        self._segments = segments
        self._encode = ENCODERS[encoding]
        self._client = client
        self._labels = labels
        self._m = metrics
        self._anchors = anchors
        self._newest_shipped = 0
        self._warn = Throttled(log, 60.0)
        self.answered_at = 0.0  # monotonic time of Loki's latest answer (any status)
        self.failing = False  # the latest attempt got no answer (connection error)
        self.acked = 0  # entries acknowledged (shipped or dropped), for the stall watch

    async def send(self, batch: Batch, before: list[asyncio.Future[None]]) -> None:
        stream, entries = batch
        entries.sort(key=_TS)
        streams = [(stream, self._labels.as_dict(stream), entries)]
        # Encoded while the previous batch of the same stream is still on the wire;
        # sent only after it finished, so a stream's entries reach Loki in order.
        body, good, bad, error = encode_isolating(self._encode, streams)
        if error is not None:
            log.error(
                "entries that cannot be encoded for Loki are dropped",
                extra={"source": self._source, "dropped": len(bad), "error": repr(error)},
            )
        for previous in before:
            await previous
        if bad:
            self._acknowledge(bad, Counter({ENCODING_ERROR: len(bad)}))
        if body is not None:
            await self._anchors.saved()
            await self._deliver(body, good)

    async def _deliver(self, body: Body, entries: list[Entry]) -> None:
        count = len(entries)
        failures = 0
        while True:
            try:
                attempt, retry_after = await self._client.attempt(body)
            except Exception as exc:  # a client bug must not leave the batch behind
                log.exception("push raised unexpectedly; retrying", extra={"error": repr(exc)})
                attempt, retry_after = Attempt("error", 0.0, None, repr(exc)), None
            self._m.request(attempt.outcome, attempt.duration)
            self.failing = attempt.status is None
            if attempt.status is not None:
                self.answered_at = time.monotonic()
            if attempt.outcome == "success":
                if failures:
                    log.info("Loki accepts pushes again", extra={"source": self._source})
                self._acknowledge(entries, None)
                return
            if attempt.outcome == "rejected":
                dropped = dropped_by_reason(attempt.body, count)
                log.error(
                    "Loki refused entries of a batch; they are dropped",
                    extra={
                        "source": self._source,
                        "status": attempt.status,
                        "entries": count,
                        "dropped": dict(dropped),
                        "response": attempt.body[:1024],
                    },
                )
                self._acknowledge(entries, dropped)
                return
            failures += 1
            if failures == 1:
                self._warn.warning(
                    ("push failed", self._source, attempt.outcome),
                    "push to Loki failed; retrying with backoff",
                    extra={
                        "source": self._source,
                        "outcome": attempt.outcome,
                        "status": attempt.status,
                        "error": attempt.body[:512],
                    },
                )
            await asyncio.sleep(self._client.backoff(failures - 1, retry_after))

    def _acknowledge(self, entries: list[Entry], dropped: Counter[str] | None) -> None:
        self.acked += len(entries)
        per_segment: Counter[int | None] = Counter(map(_SEGMENT, entries))  # in C
        for segment_id, n in per_segment.items():
            if segment_id is not None:  # pragma: no branch - only line-less chunks have none
                self._segments.ack(segment_id, n)
        lost = 0
        if dropped:
            for reason, n in dropped.items():
                self._m.dropped(reason, n)
                lost += n
        if len(entries) > lost:
            self._m.shipped.inc(len(entries) - lost)
            newest = max(map(_TS, entries))
            # Batches of different streams finish in any order: the gauge never goes back.
            if newest > self._newest_shipped:
                self._newest_shipped = newest
                self._m.last_shipped.set(newest / 1e9)
