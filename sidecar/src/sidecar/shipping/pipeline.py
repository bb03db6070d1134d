"""One log source end to end: discover files, read lines, batch per stream, push, ack.

Each source has its own batches, so request metrics carry its service_name and source.
A stream is on the wire in at most one batch at a time (its next batch is encoded
meanwhile and waits), so its entries reach Loki in order even with several batches in
flight; acknowledgements may arrive in any order and the checkpoint still only
advances in file order (see acks.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import glob
import logging
import os
import stat
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from operator import itemgetter
from typing import Any, Protocol

from sidecar.config import LokiConfig, ShippingConfig, SourceConfig
from sidecar.metrics import ShippingMetrics
from sidecar.shipping.acks import Segment
from sidecar.shipping.budget import BufferBudget
from sidecar.shipping.docker_partials import Joined, PartialJoiner
from sidecar.shipping.encoding import ENCODERS
from sidecar.shipping.labels import StreamLabels
from sidecar.shipping.loki_client import OUTCOMES, LokiClient, sleep_unless
from sidecar.shipping.parsers import (
    MALFORMED_REASONS,
    DockerParser,
    Parsed,
    TextParser,
    make_parser,
    unwrap_docker,
)
from sidecar.shipping.positions import Position
from sidecar.shipping.rejections import REASONS as REFUSED_REASONS
from sidecar.shipping.rejections import dropped_by_reason
from sidecar.shipping.selfguard import SelfGuard
from sidecar.shipping.tailer import Chunk, Tailer

log = logging.getLogger(__name__)

ENTRY_OVERHEAD = 200  # str header, entry tuple, timestamp int, list slot
ENTRY_OVERHEAD_META = 520  # plus trace_id/span_id pairs
ANCHOR_EVERY_NS = 1_000_000_000
STREAM_DEPTH = 2  # batches per stream at once: one on the wire, one encoded behind it
YIELD_EVERY_BYTES = 4 * 1024 * 1024
_TS = itemgetter(0)
_SEGMENT = itemgetter(3)
_SIZE = itemgetter(4)

# Reasons found while reading, whatever the source format.
NUL_BYTES = "nul_bytes"
INVALID_UTF8 = "invalid_utf8"
TRUNCATED = "truncated"
EMPTY_LINE = "empty_line"
DROP_REASONS = (EMPTY_LINE, *REFUSED_REASONS)

# Pending entry: (timestamp ns, line, metadata, segment, buffered size)
Entry = tuple[int, str, tuple[tuple[str, str], ...] | None, Segment | None, int]


class Observer(Protocol):
    """What the access-log recorder offers: one call per line read."""

    def observe(self, line: str, record: Any) -> None: ...


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
        persist_anchors: Callable[[], Awaitable[None]],
        guard: SelfGuard,
        recorder: Observer | None = None,
    ) -> None:
        self.source = source
        self.shipping = shipping
        self.loki = loki
        self.client = client
        self.budget = budget
        self.recorder = recorder
        self._resume = resume
        self._persist_anchors = persist_anchors
        self._guard = guard
        self._parse = make_parser(source)
        self._text = TextParser(source)
        # Docker sources rejoin split lines, per file (see docker_partials.py).
        self._docker = self._parse if isinstance(self._parse, DockerParser) else None
        self._joiners: dict[str, PartialJoiner] = {}
        self._labels = StreamLabels(source.labels, source.service_name, source.name)
        self._encode = ENCODERS[loki.encoding]
        self.tailers: dict[str, Tailer] = {}
        self._ignored: set[tuple[int, int]] = set()
        self._pending: dict[str, list[Entry]] = defaultdict(list)
        self._pending_bytes = 0
        self._pending_since: float | None = None
        # Per stream: batches cut and not finished, and the last one's completion.
        self._stream_depth: dict[str, int] = defaultdict(int)
        self._stream_tail: dict[str, asyncio.Future[None]] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._closing = False
        self.abort = asyncio.Event()
        self.anchors_dirty = False
        self._newest_shipped = 0
        self._anchor_save: asyncio.Future[None] | None = None
        marker_room = 64
        self._truncate_at = shipping.max_line_bytes - marker_room
        base = {"service_name": source.service_name, "source": source.name}
        self._base = base
        m = metrics
        self._m_read = m.lines_read.labels(**base)
        self._m_shipped = m.lines_shipped.labels(**base)
        self._m_backlog = m.backlog_bytes.labels(**base)
        self._m_last = m.last_shipped_timestamp.labels(**base)
        self._m_duration = m.ship_duration.labels(**base)
        m.spool_bytes.labels(**base).set(0)
        self._metrics = m
        self._zero_counters()

    def _zero_counters(self) -> None:
        # Every known label value exists at 0 from the start: Grafana shows 0 rather than
        # "No data", and increase() in an alert sees the first event as a step from 0.
        m = self._metrics
        for reason in DROP_REASONS:
            m.lines_dropped.labels(**self._base, reason=reason)
        malformed = (NUL_BYTES, INVALID_UTF8, TRUNCATED, *MALFORMED_REASONS[self.source.format])
        for reason in malformed:
            m.lines_malformed.labels(**self._base, reason=reason)
        for outcome in OUTCOMES:
            m.ship_requests.labels(**self._base, outcome=outcome)

    # -- discovery -----------------------------------------------------------------

    def scan(self) -> None:
        """Find new files, notice rotation, truncation and deletion, release drained files."""
        found: dict[tuple[int, int], str] = {}
        for pattern in self.source.paths:
            for path in glob.glob(pattern):
                if any(fnmatch.fnmatch(path, ex) for ex in self.source.exclude):
                    continue
                try:
                    info = os.stat(path)
                except OSError:
                    continue  # vanished between glob and stat
                if stat.S_ISREG(info.st_mode):
                    found.setdefault((info.st_dev, info.st_ino), path)
        by_identity = {t.dev_ino: t for t in self.tailers.values()}
        for dev_ino, path in found.items():
            tailer = by_identity.get(dev_ino)
            if tailer is not None:
                tailer.path = path
                tailer.detached_at = None
            elif dev_ino not in self._ignored:
                self._open(dev_ino, path)
        now = time.monotonic()
        for tailer in list(self.tailers.values()):
            self._check(tailer, tailer.dev_ino in found, now)
        self._m_backlog.set(sum(max(0, t.size - t.acks.committed) for t in self.tailers.values()))

    def _open(self, dev_ino: tuple[int, int], path: str) -> None:
        if self._guard.is_own(dev_ino, path):
            self._ignored.add(dev_ino)
            log.warning("not tailing the sidecar's own output", extra={"path": path})
            return
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            log.error("cannot open log file", extra={"path": path, "error": exc.strerror})
            return
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != dev_ino:
            os.close(fd)  # replaced between stat and open; the next scan sees the new one
            return
        key = f"{self.source.name}/{dev_ino[0]}:{dev_ino[1]}"
        resume = self._resume.pop(key, None)
        tailer = Tailer(
            key, path, fd, self.shipping.max_line_bytes, self.shipping.read_chunk_bytes, resume
        )
        tailer.last_growth = time.monotonic()
        self.tailers[key] = tailer
        if resume is not None and tailer.resumed_from != resume.offset:
            log.warning(
                "checkpoint does not match the file (past its end or another file): from 0",
                extra={"path": path, "checkpoint": resume.offset, "size": info.st_size},
            )
        log.info("tailing", extra={"path": path, "offset": tailer.resumed_from})

    def _check(self, tailer: Tailer, attached: bool, now: float) -> None:
        before = tailer.size
        if tailer.refresh():
            log.warning(
                "file truncated or rewritten (copytruncate): reading it from 0",
                extra={"path": tailer.path, "size": tailer.size, "offset": tailer.read_offset},
            )
            tailer.restart_from_zero()
            self._joiners.pop(tailer.key, None)
        if tailer.size != before:
            tailer.last_growth = now
        if attached and not tailer.unlinked:
            return
        if tailer.detached_at is None:
            tailer.detached_at = now
            log.info("file rotated away or deleted: draining it", extra={"path": tailer.path})
        quiet = now - tailer.last_growth >= self.shipping.rotate_wait_seconds
        if not quiet or tailer.read_offset < tailer.size:
            return
        partial = tailer.take_partial()
        if partial is not None:
            self._ingest(tailer, partial)
        joiner = self._joiners.get(tailer.key)
        if joiner is not None and joiner.floor is not None:
            # No further part can come: ship what Docker wrote of those lines.
            self._ingest(tailer, Chunk([], tailer.read_offset, tailer.read_offset), final=True)
        if tailer.acks.outstanding == 0:
            tailer.close()
            del self.tailers[tailer.key]
            self._joiners.pop(tailer.key, None)
            log.info("released drained file", extra={"path": tailer.path})

    async def scan_loop(self) -> None:
        while not self._closing:
            self.scan()
            await asyncio.sleep(self.shipping.scan_interval_seconds)

    # -- reading -------------------------------------------------------------------

    async def read_loop(self) -> None:
        poll = self.shipping.poll_interval_seconds
        while not self._closing:
            progressed = await self._read_round()
            if self.budget.full:
                await self.budget.wait_for_room()
            elif not progressed:
                await asyncio.sleep(poll)

    async def _read_round(self) -> bool:
        progressed = False
        since_yield = 0
        # Older files first: a rotated file's lines precede its successor's.
        for tailer in sorted(self.tailers.values(), key=lambda t: t.opened_mtime):
            while not self.budget.full and not self._closing:
                if tailer.key not in self.tailers:
                    break
                chunk = tailer.read_chunk()
                if chunk is None:
                    if os.fstat(tailer.fd).st_size < tailer.read_offset:
                        self._check(tailer, True, time.monotonic())
                    break
                progressed = True
                self._ingest(tailer, chunk)
                since_yield += tailer.chunk_bytes
                if since_yield >= YIELD_EVERY_BYTES:
                    since_yield = 0
                    await asyncio.sleep(0)
        return progressed

    def _ingest(self, tailer: Tailer, chunk: Chunk, *, final: bool = False) -> None:
        # The hot path: one pass per line, counters aggregated per chunk.
        parse = self._parse
        docker = self._docker
        joiner = None
        if docker is not None:
            joiner = self._joiners.get(tailer.key)
            if joiner is None:
                joiner = self._joiners[tailer.key] = PartialJoiner(self.shipping.max_line_bytes)
        for_level = self._labels.for_level
        recorder = self.recorder
        pending = self._pending
        now_ns = time.time_ns()
        malformed: dict[str, int] = {}
        levels: dict[str, int] = {}
        segment = None
        if chunk.end_offset is not None:
            # Registered after the loop, with its count, before any batch can carry it.
            segment = Segment(tailer.acks, chunk.end_offset, 0)
        staged = 0
        size_total = 0
        empty = 0
        skipped_by_index = chunk.skipped
        offset = chunk.start
        for index, data in enumerate(chunk.lines):
            line_start = offset
            offset += len(data) + 1
            skipped = 0
            if skipped_by_index is not None:
                skipped = skipped_by_index.get(index, 0)
                offset += skipped
            if b"\x00" in data:
                data = data.replace(b"\x00", b"")
                malformed[NUL_BYTES] = malformed.get(NUL_BYTES, 0) + 1
            if data[-1:] == b"\r":
                data = data[:-1]
            if not data:
                empty += 1
                continue
            try:
                text = data.decode()
            except UnicodeDecodeError:
                text = data.decode(errors="replace")
                malformed[INVALID_UTF8] = malformed.get(INVALID_UTF8, 0) + 1
            if skipped:
                text = self._truncate(data, skipped)
                malformed[TRUNCATED] = malformed.get(TRUNCATED, 0) + 1
                line, level, ts, meta, record, bad = self._text(text)
            elif docker is not None and joiner is not None:
                joined = self._docker_line(docker, joiner, text, line_start, malformed)
                if joined is None:
                    continue  # part of a longer line: held until its last part
                (line, level, ts, meta, record, bad), line_start = joined
            else:
                line, level, ts, meta, record, bad = parse(text)
            if bad is not None:
                malformed[bad] = malformed.get(bad, 0) + 1
            if recorder is not None:
                recorder.observe(line, record)
            if ts is None:
                ts, created = tailer.read_time(line_start, now_ns, ANCHOR_EVERY_NS)
                if created:
                    self.anchors_dirty = True
            levels[level] = levels.get(level, 0) + 1
            # Rough bytes of memory an entry holds (str, tuple, ints, metadata), so the
            # buffer limit bounds the process's memory rather than just the line text.
            size = len(line) + (ENTRY_OVERHEAD if meta is None else ENTRY_OVERHEAD_META)
            pending[for_level(level)].append((ts, line, meta, segment, size))
            size_total += size
            staged += 1
        if final and docker is not None and joiner is not None:
            # Rare (a file released mid-line): staged here so the loop above keeps its
            # staging inline, without a call per line.
            for joined in joiner.drain():
                line, level, ts, meta, record, bad = self._joined(docker, joined, malformed)
                if bad is not None:
                    malformed[bad] = malformed.get(bad, 0) + 1
                if recorder is not None:
                    recorder.observe(line, record)
                if ts is None:
                    ts, created = tailer.read_time(joined.start, now_ns, ANCHOR_EVERY_NS)
                    self.anchors_dirty = self.anchors_dirty or created
                levels[level] = levels.get(level, 0) + 1
                size = len(line) + (ENTRY_OVERHEAD if meta is None else ENTRY_OVERHEAD_META)
                pending[for_level(level)].append((ts, line, meta, segment, size))
                size_total += size
                staged += 1
        if segment is not None:
            floor = None if joiner is None else joiner.floor
            if floor is not None and floor < segment.end_offset:
                # A restart must re-read a held line from its first part.
                segment.end_offset = floor
            segment.pending = staged
            tailer.acks.append(segment)
        read = len(chunk.lines)
        if read:
            self._m_read.inc(read)
        for level, count in levels.items():
            self._metrics.messages.labels(**self._base, level=level).inc(count)
        for reason, count in malformed.items():
            self._metrics.lines_malformed.labels(**self._base, reason=reason).inc(count)
        if empty:
            self._metrics.lines_dropped.labels(**self._base, reason=EMPTY_LINE).inc(empty)
        if staged:
            self.budget.take(size_total)
            self._pending_bytes += size_total
            if self._pending_since is None:
                self._pending_since = time.monotonic()
            if self._pending_bytes >= self.loki.batch_max_bytes:
                self._wake.set()

    def _docker_line(
        self,
        docker: DockerParser,
        joiner: PartialJoiner,
        text: str,
        line_start: int,
        malformed: dict[str, int],
    ) -> tuple[Parsed, int] | None:
        """A json-file line parsed, with the offset of its first part; None while held."""
        record = unwrap_docker(text)
        if record is None:
            return docker(text), line_start  # counted as not_docker_json
        if record.complete and not joiner.holds(record.stream):
            return docker.inner(record.log[:-1], record.time_ns), line_start
        joined = joiner.feed(record, line_start)
        if joined is None:
            return None
        return self._joined(docker, joined, malformed), joined.start

    def _joined(self, docker: DockerParser, joined: Joined, malformed: dict[str, int]) -> Parsed:
        if joined.skipped:
            malformed[TRUNCATED] = malformed.get(TRUNCATED, 0) + 1
            text = self._truncate(joined.data, joined.skipped)
            return docker.inner(text, joined.time_ns, as_text=True)
        return docker.inner(joined.data.decode(errors="replace"), joined.time_ns)

    def _truncate(self, data: bytes, skipped: int) -> str:
        cut = data[: self._truncate_at]
        # Do not split a UTF-8 sequence: drop continuation bytes and their lead byte.
        end = len(cut)
        while end and cut[end - 1] & 0xC0 == 0x80:
            end -= 1
        if end and cut[end - 1] >= 0xC0:
            end -= 1
        elif end < len(cut):
            end = len(cut)
        text = cut[:end].decode(errors="replace")
        total = len(data) + skipped
        return f"{text} [sidecar: line truncated, {total} bytes > {self.shipping.max_line_bytes}]"

    # -- batching and sending ------------------------------------------------------

    async def batch_loop(self) -> None:
        wait = self.loki.batch_max_wait_seconds
        while True:
            timeout = wait
            if self._pending_since is not None:
                timeout = max(0.0, wait - (time.monotonic() - self._pending_since))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            self._wake.clear()
            self._dispatch()
            if self._closing and not self._inflight and not any(self._pending.values()):
                return

    def _dispatch(self) -> None:
        while len(self._inflight) < self.loki.max_in_flight:
            due = self._closing or (
                self._pending_since is not None
                and time.monotonic() - self._pending_since >= self.loki.batch_max_wait_seconds
            )
            if not due and self._pending_bytes < self.loki.batch_max_bytes:
                return
            batch = self._cut()
            if not batch:
                return
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            before = []
            for stream, _ in batch:
                tail = self._stream_tail.get(stream)
                if tail is not None and not tail.done():
                    before.append(tail)
                self._stream_tail[stream] = done
            task = asyncio.create_task(self._send(batch, before, done))
            self._inflight.add(task)
            task.add_done_callback(self._sent)

    def _cut(self) -> list[tuple[str, list[Entry]]]:
        limit = self.loki.batch_max_bytes
        size = 0
        batch: list[tuple[str, list[Entry]]] = []
        for stream, entries in self._pending.items():
            if not entries or self._stream_depth[stream] >= STREAM_DEPTH:
                continue
            # Stops at the limit: the pending list can hold the whole buffer.
            taken = 0
            for entry in entries:
                if size >= limit:
                    break
                size += entry[4]
                taken += 1
            if taken == len(entries):
                self._pending[stream] = []
                batch.append((stream, entries))
            elif taken:
                batch.append((stream, entries[:taken]))
                self._pending[stream] = entries[taken:]
            if taken:
                self._stream_depth[stream] += 1
            if size >= limit:
                break
        self._pending_bytes -= size
        if not any(self._pending.values()):
            self._pending_since = None
            self._pending_bytes = 0
        elif batch:
            self._pending_since = time.monotonic()
        return batch

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sender failed", exc_info=task.exception())
        self._wake.set()

    async def _send(
        self,
        batch: list[tuple[str, list[Entry]]],
        before: list[asyncio.Future[None]],
        done: asyncio.Future[None],
    ) -> None:
        size = sum(sum(map(_SIZE, entries)) for _, entries in batch)
        try:
            await self._deliver(batch, before)
        finally:
            for stream, _ in batch:
                self._stream_depth[stream] -= 1
                if self._stream_tail.get(stream) is done:
                    del self._stream_tail[stream]
            done.set_result(None)
            self.budget.give(size)

    async def _deliver(
        self, batch: list[tuple[str, list[Entry]]], before: list[asyncio.Future[None]]
    ) -> None:
        streams = []
        count = 0
        for stream, entries in batch:
            entries.sort(key=_TS)
            streams.append((stream, self._labels.as_dict(stream), entries))
            count += len(entries)
        # Encoded while the previous batch of the same streams is still on the wire;
        # sent only after it finished, so a stream's entries reach Loki in order.
        body = self._encode(streams)
        for previous in before:
            await previous
        if self.abort.is_set():
            return
        if self.anchors_dirty:
            self.anchors_dirty = False
            self._anchor_save = asyncio.ensure_future(self._persist_anchors())
        if self._anchor_save is not None:
            # Read-time anchors must be on disk before a line stamped with one leaves;
            # a batch cut while another sender writes them waits for that same write.
            await self._anchor_save
        failures = 0
        while True:
            attempt, retry_after = await self.client.attempt(body)
            self._metrics.ship_requests.labels(**self._base, outcome=attempt.outcome).inc()
            self._m_duration.observe(attempt.duration)
            if attempt.outcome == "success":
                if failures:
                    log.info("Loki accepts pushes again", extra={"source": self.source.name})
                self._acknowledge(batch, count, None)
                return
            if attempt.outcome == "rejected":
                dropped = dropped_by_reason(attempt.body, count)
                log.error(
                    "Loki refused entries of a batch; they are dropped",
                    extra={
                        "source": self.source.name,
                        "status": attempt.status,
                        "entries": count,
                        "dropped": dict(dropped),
                        "response": attempt.body[:1024],
                    },
                )
                self._acknowledge(batch, count, dropped)
                return
            failures += 1
            if failures == 1:
                log.warning(
                    "push to Loki failed; retrying with backoff",
                    extra={
                        "source": self.source.name,
                        "outcome": attempt.outcome,
                        "status": attempt.status,
                        "error": attempt.body[:512],
                    },
                )
            if await sleep_unless(self.abort, self.client.backoff(failures - 1, retry_after)):
                return  # shutting down: these lines stay unacknowledged and are re-sent

    def _acknowledge(
        self, batch: list[tuple[str, list[Entry]]], count: int, dropped: Counter[str] | None
    ) -> None:
        per_segment: Counter[Segment | None] = Counter()
        newest = 0
        for _, entries in batch:
            per_segment.update(map(_SEGMENT, entries))  # counted in C
            newest = max(newest, entries[-1][0])
        for segment, n in per_segment.items():
            if segment is not None:
                segment.ack(n)
        lost = 0
        if dropped:
            for reason, n in dropped.items():
                self._metrics.lines_dropped.labels(**self._base, reason=reason).inc(n)
                lost += n
        self._m_shipped.inc(count - lost)
        # Batches of different streams finish in any order: the gauge never goes back.
        if newest > self._newest_shipped:
            self._newest_shipped = newest
            self._m_last.set(newest / 1e9)

    # -- lifecycle -----------------------------------------------------------------

    def close_input(self) -> None:
        """Stop reading and flush everything pending now (SIGTERM)."""
        self._closing = True
        self._wake.set()

    def positions(self) -> dict[str, Position]:
        return {key: tailer.position() for key, tailer in self.tailers.items()}

    def cancel_senders(self) -> None:
        """Past the shutdown deadline: stop pushing; unacknowledged lines are re-read."""
        self.abort.set()
        for task in self._inflight:
            task.cancel()

    def release_all(self) -> None:
        for tailer in self.tailers.values():
            tailer.close()
        self.tailers.clear()
