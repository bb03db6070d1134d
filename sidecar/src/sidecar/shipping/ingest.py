"""Read chunks into buffered entries: decode, rejoin, parse, stamp, count.

Guarantee: every line of a chunk is, exactly once, either staged as an entry for Loki
(tied to the chunk's segment, so the checkpoint waits for it) or counted as dropped
(`empty_line`); whatever is odd about it is counted as malformed and it is shipped
anyway. Access-log lines are observed for metrics here, once per line: lines before the
generation's `observed` offset were counted already (before a restart, or by the
access-log read-ahead while reading was paused) and are not counted again.

Between reading and parsing sit the docker partial joiner (docker_partials.py) and, for
a source with `multiline`, the multiline joiner (multiline.py), which turns a chunk of
lines into a chunk of records before this stage reads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sidecar.shipping.acks import Segment, SegmentTable
from sidecar.shipping.config import SourceConfig
from sidecar.shipping.docker_partials import DockerLines
from sidecar.shipping.entries import ENTRY_OVERHEAD, ENTRY_OVERHEAD_META, Entry, Parsed
from sidecar.shipping.generation import Generation
from sidecar.shipping.labels import StreamLabels
from sidecar.shipping.linereader import TRUNCATED, Chunk, truncated_text, valid_up_to_a_cut
from sidecar.shipping.multiline import FirstLineParser, MultilineJoiner
from sidecar.shipping.parsers import DockerParser, TextParser, make_parser
from sidecar.shipping.source_metrics import SourceMetrics
from sidecar.shipping.tailer import Tailer

NUL_BYTES = "nul_bytes"
INVALID_UTF8 = "invalid_utf8"
EMPTY_LINE = "empty_line"
_new_entry = tuple.__new__


class Observer(Protocol):
    """What the access-log recorder offers: one call per line read."""

    def observe(self, line: str, record: Mapping[str, Any] | None) -> None: ...


class Ingest:
    def __init__(
        self,
        parse: Callable[[str], Parsed],
        text: TextParser,
        labels: StreamLabels,
        max_line_bytes: int,
        metrics: SourceMetrics,
        pending: dict[str, list[Entry]],
        staged: Callable[[int], None],
        anchor_made: Callable[[], None],
        recorder: Observer | None,
        segments: SegmentTable,
        multiline: MultilineJoiner | None = None,
    ) -> None:
        self._parse = parse
        self.parse = parse
        self._text = text
        # Docker sources rejoin split lines, per file (see docker_partials.py).
        docker = parse if isinstance(parse, DockerParser) else None
        self._docker = None if docker is None else DockerLines(docker, max_line_bytes)
        self._labels = labels
        self._max_line = max_line_bytes
        self._m = metrics
        self._pending = pending
        self._staged = staged
        self._anchor_made = anchor_made
        self.recorder = recorder
        self._segments = segments
        self._multiline = multiline

    @classmethod
    def for_source(cls, source: SourceConfig, max_line_bytes: int, **kwargs: Any) -> Ingest:
        parse = make_parser(source)
        if source.multiline is not None:
            kwargs["multiline"] = MultilineJoiner(
                source.multiline, max_line_bytes, kwargs["metrics"]
            )
            parse = FirstLineParser(parse)
        return cls(parse, TextParser(source), max_line_bytes=max_line_bytes, **kwargs)

    def forget(self, tailer: Tailer) -> int | None:
        """Drop the file's held docker parts or multiline record; where the first began."""
        floors = [None if self._docker is None else self._docker.forget(tailer.key)]
        if self._multiline is not None:
            floors.append(self._multiline.forget(tailer.key))
        return min((floor for floor in floors if floor is not None), default=None)

    def idle(self, tailer: Tailer) -> None:
        """The file has no more to read now: hand on a multiline record held too long."""
        if self._multiline is not None and self._multiline.expired(tailer.key):
            end = tailer.reader.line_end
            self.chunk(tailer, Chunk([], end, end), final=True)

    def chunk(self, tailer: Tailer, chunk: Chunk, *, final: bool = False) -> None:
        # The hot path: one pass per line, counters aggregated per chunk.
        read = len(chunk.lines)
        if self._multiline is not None:
            chunk, read = self._multiline.join(tailer.key, chunk, final)
        parse = self._parse
        docker = self._docker
        key = tailer.key
        gen = tailer.gen
        for_level = self._labels.for_level
        recorder = self.recorder
        observed = gen.observed
        pending = self._pending
        now_ns = time.time_ns()
        malformed: dict[str, int] = {}
        levels: dict[str, int] = {}
        chunk_end = chunk.end_offset
        # The entries carry their chunk's segment id; the segment is registered after
        # the loop, with its count, before any batch can carry it.
        segment_id = None if chunk_end is None else self._segments.new_id()
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
                text, data, skipped = self._replaced(data, skipped, malformed)
            if skipped:
                text = truncated_text(data, skipped, self._max_line)
                malformed[TRUNCATED] = malformed.get(TRUNCATED, 0) + 1
                parsed = self._text(text)
            elif docker is not None:
                joined = docker.line(key, text, line_start, malformed)
                if joined is None:
                    continue  # part of a longer line: held until its last part
                parsed, line_start = joined
            else:
                parsed = parse(text)
            line, level, ts, meta, record, bad = parsed
            if bad is not None:
                malformed[bad] = malformed.get(bad, 0) + 1
            if recorder is not None and line_start >= observed:
                recorder.observe(line, record)
            if ts is None:
                ts, created = gen.read_time(line_start, now_ns)
                if created:
                    self._anchor_made()
            levels[level] = levels.get(level, 0) + 1
            size = len(line) + (ENTRY_OVERHEAD if meta is None else ENTRY_OVERHEAD_META)
            pending[for_level(level)].append(_new_entry(Entry, (ts, line, meta, segment_id, size)))
            size_total += size
            staged += 1
        if final and docker is not None:
            # Rare (a file released mid-line): staged here so the loop above keeps its
            # staging inline, without a call per line.
            for parsed, start in docker.drain(key, malformed):
                size_total += self._stage_one(
                    gen, parsed, start, segment_id, now_ns, levels, malformed
                )
                staged += 1
        if chunk_end is not None and segment_id is not None:
            floor = None if docker is None else docker.floor(key)
            # A restart must re-read a held line from its first part.
            end_offset = chunk_end if floor is None else min(floor, chunk_end)
            segment = Segment(gen.acks, end_offset, staged)
            self._segments.hold(segment_id, segment)
            gen.acks.append(segment)
            if end_offset > gen.observed:
                gen.observed = end_offset
            if chunk.lines and not skipped_by_index and not final:
                gen.last_line, gen.last_line_end = chunk.lines[-1], chunk_end
        self._m.count_chunk(read, levels, malformed, empty)
        if staged:
            self._staged(size_total)

    def _replaced(
        self, data: bytes, skipped: int, malformed: dict[str, int]
    ) -> tuple[str, bytes, int]:
        """A line that is not valid UTF-8 as read: its text with U+FFFD for each invalid
        byte, and the (data, skipped) it is cut from, with skipped 0 if it is not cut."""
        # A cut line may end inside a character: that is the cut's doing, not the file's.
        if not (skipped and valid_up_to_a_cut(data)):
            malformed[INVALID_UTF8] = malformed.get(INVALID_UTF8, 0) + 1
        text = data.decode(errors="replace")
        if not skipped:
            shipped = text.encode()
            if len(shipped) > self._max_line:
                # Each U+FFFD is 3 bytes: the line outgrew the limit Loki holds it to.
                return text, shipped[: self._max_line], len(shipped) - self._max_line
        return text, data, skipped

    def _stage_one(
        self,
        gen: Generation,
        parsed: Parsed,
        line_start: int,
        segment_id: int | None,
        now_ns: int,
        levels: dict[str, int],
        malformed: dict[str, int],
    ) -> int:
        line, level, ts, meta, record, bad = parsed
        if bad is not None:
            malformed[bad] = malformed.get(bad, 0) + 1
        if self.recorder is not None and line_start >= gen.observed:
            self.recorder.observe(line, record)
        if ts is None:
            ts, created = gen.read_time(line_start, now_ns)
            if created:
                self._anchor_made()
        levels[level] = levels.get(level, 0) + 1
        size = len(line) + (ENTRY_OVERHEAD if meta is None else ENTRY_OVERHEAD_META)
        self._pending[self._labels.for_level(level)].append(
            _new_entry(Entry, (ts, line, meta, segment_id, size))
        )
        return size
