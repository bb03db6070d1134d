"""The two records that flow between the stages: a parsed line and a pending entry.

`Parsed` is what a parser makes of one line; `Entry` is that line waiting in the buffer
for Loki, tied to the read segment (acks.py) it must acknowledge by the segment's id.
Both are NamedTuples: named for readers, tuples for the hot path (created in C, unpacked
positionally). An Entry holds only ints, strings and tuples of strings, so the cyclic GC
untracks it after one look (acks.py says why that matters).
"""

from __future__ import annotations

from typing import Any, NamedTuple

Metadata = tuple[tuple[str, str], ...]

# Rough bytes of memory an entry holds besides its line (str header, the tuple, the
# timestamp int, a list slot; metadata pairs when present), so the buffer limit bounds
# the process's memory rather than just the line text.
ENTRY_OVERHEAD = 200
ENTRY_OVERHEAD_META = 520


class Parsed(NamedTuple):
    line: str
    level: str
    ts: int | None  # ns since the epoch, None when the line has no usable one
    meta: Metadata | None  # structured metadata (trace_id, span_id)
    record: dict[str, Any] | None  # the JSON object, for the access-log recorder
    malformed: str | None  # why the line was shipped raw, e.g. "not_json"


class Entry(NamedTuple):
    ts: int
    line: str
    meta: Metadata | None
    segment: int | None  # SegmentTable id, acknowledged when Loki answers for this entry
    size: int  # buffered bytes, ENTRY_OVERHEAD included
