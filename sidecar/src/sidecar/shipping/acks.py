"""In-order acknowledgement: a file's checkpoint moves only past lines Loki accepted.

Lines are read in chunks; each chunk is a Segment that knows the file offset just after
its last complete line and how many of its entries are still unacknowledged. Batches
may be acknowledged in any order, but the committed offset only advances across a
prefix of fully acknowledged segments, so a crash can re-send lines, never skip them.

Buffered entries name their segment by id (`SegmentTable`), not by reference: an entry
is then a tuple of ints and strings, which CPython's cyclic GC stops tracking after one
look, so collections stay short however full the buffer is (bench/health_fanout/README.md
has the pauses this removed).
"""

from __future__ import annotations

from collections import deque
from itertools import count


class Segment:
    __slots__ = ("end_offset", "owner", "pending")

    def __init__(self, owner: FileAcks, end_offset: int, pending: int) -> None:
        self.owner = owner
        self.end_offset = end_offset
        self.pending = pending

    def ack(self, count: int) -> None:
        self.pending -= count
        if self.pending == 0:
            self.owner.advance()


class FileAcks:
    """The ordered segments of one file generation (a truncation starts a new one)."""

    def __init__(self, committed: int) -> None:
        self.committed = committed
        self._segments: deque[Segment] = deque()

    def add(self, end_offset: int, pending: int) -> Segment:
        return self.append(Segment(self, end_offset, pending))

    def append(self, segment: Segment) -> Segment:
        self._segments.append(segment)
        if segment.pending == 0:
            self.advance()
        return segment

    def advance(self) -> None:
        segments = self._segments
        while segments and segments[0].pending == 0:
            self.committed = segments.popleft().end_offset

    @property
    def outstanding(self) -> int:
        """Segments read but not yet fully acknowledged."""
        return len(self._segments)


class SegmentTable:
    """The segments that buffered entries still have to acknowledge, by id."""

    def __init__(self) -> None:
        self._live: dict[int, Segment] = {}
        self._ids = count()

    def new_id(self) -> int:
        return next(self._ids)

    def hold(self, segment_id: int, segment: Segment) -> None:
        """`segment` has entries carrying `segment_id` (its pending count set)."""
        if segment.pending:
            self._live[segment_id] = segment

    def ack(self, segment_id: int, count: int) -> None:
        segment = self._live[segment_id]
        if segment.pending == count:
            del self._live[segment_id]
        segment.ack(count)
