"""Multiline records: continuation lines joined to the line that starts their record.

A `format: text` source with `multiline.start` ships a Python traceback or a Java stack
trace as one entry. A line the start pattern matches begins a record; the lines after
it that do not match belong to it. A record also begins with the first line read of a
file and with the first line after a flush. A record is handed on when the next one
begins, when it holds `max_lines` lines or the next line would take it past `max_bytes`
(the next line then begins a new record, and the cut is counted as
`sidecar_log_lines_malformed_total{reason="multiline_split"}`), when no line came for
`flush_seconds`, or when its file is released. Joining is per file: the part of a record
written after a rotation is a record of the new file.

Guarantees:
- **Byte-exact.** A record is the file's bytes from its first line to its last, inner
  newlines included; the ingest stage's offsets, anchors and checkpoints stay exact.
- **The checkpoint never passes a held record.** The chunk handed on ends where the
  held record begins, so a crash re-reads the record from its first line and ships it
  whole, once. A truncated file's held record is dropped and its start returned
  (`forget`), so the rotated copy that continues the file reads it again from there.
- **Counted.** A line is counted read when its record is handed on; the lines of a
  record after its first are counted in `sidecar_log_lines_joined_total`. So
  read = entries handed on + joined, and each entry is shipped or counted dropped.
- **Bounded.** At most one record (≤ max_bytes) is held per open file.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from sidecar.shipping.config import MultilineConfig
from sidecar.shipping.entries import Parsed
from sidecar.shipping.linereader import Chunk
from sidecar.shipping.source_metrics import SourceMetrics

MULTILINE_SPLIT = "multiline_split"


@dataclass(slots=True)
class _Record:
    start: int  # file offset of its first line
    lines: list[bytes]
    size: int  # bytes of the joined record
    skipped: int  # bytes the line reader cut from its lines (over max_line_bytes)
    end: int  # file offset just after its last line
    touched: float  # monotonic time its last line came


class _HandedOn:
    """The records one call hands on, as the chunk the ingest stage reads."""

    __slots__ = ("cuts", "end", "first", "joined", "read", "records")

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.cuts: dict[int, int] | None = None
        self.first: int | None = None
        self.end: int | None = None
        self.read = 0
        self.joined = 0

    def add(self, record: _Record) -> None:
        lines = record.lines
        self.records.append(lines[0] if len(lines) == 1 else b"\n".join(lines))
        if record.skipped:
            self.cuts = self.cuts or {}
            self.cuts[len(self.records) - 1] = record.skipped
        if self.first is None:
            self.first = record.start
        self.end = record.end
        self.read += len(lines)
        self.joined += len(lines) - 1


class MultilineJoiner:
    """The held record of each open file of one source, by the file's key."""

    def __init__(self, config: MultilineConfig, max_line_bytes: int, metrics: SourceMetrics):
        self._starts = re.compile(config.start.encode()).search
        self._max_lines = config.max_lines
        self._max_bytes = min(config.max_bytes or max_line_bytes, max_line_bytes)
        self._flush_after = config.flush_seconds
        self._held: dict[str, _Record] = {}
        base = metrics.base
        self._joined = metrics.all.lines_joined.labels(**base)
        self._split = metrics.all.lines_malformed.labels(**base, reason=MULTILINE_SPLIT)

    def join(self, key: str, chunk: Chunk, final: bool) -> tuple[Chunk, int]:
        """The records `chunk` completes, as a chunk of their own (ending where the held
        record begins), and how many lines they hold. `final`: hand on the held one too."""
        held = self._held.pop(key, None)
        out = _HandedOn()
        split = 0
        now = time.monotonic()
        skipped = chunk.skipped
        offset = chunk.start
        last = len(chunk.lines) - 1
        for index, data in enumerate(chunk.lines):
            start = offset
            cut = skipped.get(index, 0) if skipped is not None else 0
            offset += len(data) + 1 + cut
            # The last line may be an unterminated one (a released file's): no newline.
            line_end = chunk.end_offset if index == last and chunk.end_offset else offset
            if held is not None:
                begins = self._starts(data) is not None
                full = (
                    len(held.lines) >= self._max_lines
                    or held.size + 1 + len(data) > self._max_bytes
                )
                if not (begins or full):
                    held.lines.append(data)
                    held.size += 1 + len(data)
                    held.skipped += cut
                    held.end, held.touched = line_end, now
                    continue
                split += not begins
                out.add(held)
            held = _Record(start, [data], len(data), cut, line_end, now)
        if held is not None:
            if final:
                out.add(held)
            else:
                self._held[key] = held
        if out.joined:
            self._joined.inc(out.joined)
        if split:
            self._split.inc(split)
        start = chunk.start if out.first is None else out.first
        return Chunk(out.records, start, out.end, out.cuts), out.read

    def expired(self, key: str) -> bool:
        """The file's held record has waited flush_seconds for a next line."""
        held = self._held.get(key)
        return held is not None and time.monotonic() - held.touched >= self._flush_after

    def forget(self, key: str) -> int | None:
        """Drop the file's held record (its file was truncated); its first line's offset."""
        held = self._held.pop(key, None)
        return None if held is None else held.start


class FirstLineParser:
    """Reads a record's level and timestamp from its first line, and ships it whole."""

    def __init__(self, parse: Callable[[str], Parsed]) -> None:
        self._parse = parse

    def __call__(self, text: str) -> Parsed:
        first, newline, _ = text.partition("\n")
        parsed = self._parse(first)
        return parsed._replace(line=text) if newline else parsed
