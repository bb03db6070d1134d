"""One open log file: reads complete lines from an offset, bounded in memory.

A line longer than max_line_bytes keeps only its first max_line_bytes (the rest is
skipped as it streams past), so even a 1 GB file without a newline costs at most one
max line plus one read chunk of memory. A partial last line is held until its newline
arrives; it is only emitted without one when the file is released (rotated away and
drained, or deleted), because then no newline can ever come.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sidecar.shipping.acks import FileAcks
from sidecar.shipping.positions import FINGERPRINT_BYTES, Position, fingerprint, matches


@dataclass(slots=True)
class Chunk:
    """Complete lines, contiguous in the file from `start`, without their newlines."""

    lines: list[bytes]
    start: int  # file offset of lines[0]
    end_offset: int | None  # file offset just after the last complete line, if any
    # index -> bytes cut off a line longer than max_line_bytes (rare, hence a dict)
    skipped: dict[int, int] | None = None

    def starts(self) -> list[int]:
        """Each line's file offset (for tests and diagnostics; the hot path sums inline)."""
        offsets, offset = [], self.start
        for index, line in enumerate(self.lines):
            offsets.append(offset)
            offset += len(line) + 1 + (self.skipped or {}).get(index, 0)
        return offsets


class Tailer:
    def __init__(
        self,
        key: str,
        path: str,
        fd: int,
        max_line_bytes: int,
        chunk_bytes: int,
        resume: Position | None,
    ) -> None:
        self.key = key
        self.path = path
        self.fd = fd
        self.max_line = max_line_bytes
        self.chunk_bytes = chunk_bytes
        stat = os.fstat(fd)
        self.dev_ino = (stat.st_dev, stat.st_ino)
        self.size = stat.st_size
        self.opened_mtime = stat.st_mtime
        self.resumed_from = 0
        self.anchors: list[tuple[int, int]] = []
        if resume is not None and resume.offset <= stat.st_size and matches(fd, resume):
            self.resumed_from = resume.offset
            self.anchors = list(resume.anchors)
        self.read_offset = self.resumed_from
        self.acks = FileAcks(self.resumed_from)
        # No new read-time anchor below this offset: lines under it may already have
        # been sent with an older anchor before a restart.
        self.anchor_floor = stat.st_size if self.anchors else 0
        self.fp, self.fp_len = fingerprint(fd, FINGERPRINT_BYTES)
        self._carry = b""
        self._carry_start = self.read_offset
        self._discarding = False
        self._skipped = 0
        self.detached_at: float | None = None  # monotonic time it left every glob
        self.last_growth = 0.0

    # -- reading -------------------------------------------------------------------

    def read_chunk(self) -> Chunk | None:
        """The complete lines of the next chunk (maybe none yet), or None at end of file."""
        data = os.pread(self.fd, self.chunk_bytes, self.read_offset)
        if not data:
            return None
        base = self.read_offset
        self.read_offset += len(data)
        max_line = self.max_line
        lines: list[bytes] = []
        skipped: dict[int, int] | None = None
        first = base
        if self._discarding:
            newline = data.find(b"\n")
            if newline < 0:
                self._skipped += len(data)
                return Chunk(lines, base, None)
            lines.append(self._carry)
            skipped = {0: self._skipped + newline}
            first = self._carry_start
            self._carry, self._discarding, self._skipped = b"", False, 0
            data = data[newline + 1 :]
            base += newline + 1
        elif self._carry:
            data = self._carry + data
            base = first = self._carry_start
            self._carry = b""
        parts = data.split(b"\n")
        tail = parts.pop()
        if parts and max(map(len, parts)) > max_line:
            skipped = skipped or {}
            for index, part in enumerate(parts):
                if len(part) > max_line:
                    skipped[len(lines) + index] = len(part) - max_line
                    parts[index] = part[:max_line]
        lines.extend(parts)
        end = base + len(data) - len(tail)
        self._carry_start = end
        if len(tail) > max_line:
            self._carry, self._discarding = tail[:max_line], True
            self._skipped = len(tail) - max_line
        else:
            self._carry = tail
        return Chunk(lines, first, end if lines else None, skipped)

    def take_partial(self) -> Chunk | None:
        """The held unterminated last line, for a file that can never complete it."""
        if not self._carry and not self._discarding:
            return None
        chunk = Chunk(
            [self._carry],
            self._carry_start,
            self.read_offset,
            {0: self._skipped} if self._skipped else None,
        )
        self._carry, self._discarding, self._skipped = b"", False, 0
        self._carry_start = self.read_offset
        return chunk

    @property
    def held_bytes(self) -> int:
        return len(self._carry)

    # -- identity and truncation ---------------------------------------------------

    def refresh(self) -> bool:
        """Re-stat the open file; True when it was truncated or rewritten (copytruncate)."""
        stat = os.fstat(self.fd)
        self.size = stat.st_size
        if stat.st_size < self.read_offset or not self._same_head():
            return True
        if self.fp_len < FINGERPRINT_BYTES and stat.st_size > self.fp_len:
            self.fp, self.fp_len = fingerprint(self.fd, FINGERPRINT_BYTES)
        return False

    def _same_head(self) -> bool:
        digest, length = fingerprint(self.fd, self.fp_len)
        return length == self.fp_len and digest == self.fp

    def restart_from_zero(self) -> None:
        self.read_offset = 0
        self.acks = FileAcks(0)
        self.anchors = []
        self.anchor_floor = 0
        self._carry, self._discarding, self._skipped = b"", False, 0
        self._carry_start = 0
        self.fp, self.fp_len = fingerprint(self.fd, FINGERPRINT_BYTES)

    @property
    def unlinked(self) -> bool:
        return os.fstat(self.fd).st_nlink == 0

    # -- read-time timestamps ------------------------------------------------------

    def read_time(self, line_start: int, now_ns: int, anchor_every_ns: int) -> tuple[int, bool]:
        """A stable timestamp for a line without one, and whether a new anchor was made.

        The anchor (offset, read time) is persisted before the line is sent; the line's
        timestamp is anchor time + its distance in bytes from the anchor, in ns, so it is
        the same on every re-send and increases with the offset.
        """
        covering: tuple[int, int] | None = None
        for anchor in reversed(self.anchors):
            if anchor[0] <= line_start:
                covering = anchor
                break
        if covering is None:
            fresh = (line_start, now_ns)
        elif (
            covering is self.anchors[-1]
            and line_start > covering[0]
            and line_start >= self.anchor_floor
            and now_ns - covering[1] > anchor_every_ns
        ):
            # Never earlier than what the previous anchor gives this offset: keeps order.
            fresh = (line_start, max(now_ns, covering[1] + line_start - covering[0]))
        else:
            return covering[1] + (line_start - covering[0]), False
        self.anchors.append(fresh)
        self.anchors.sort()
        return fresh[1], True

    def position(self) -> Position:
        committed = self.acks.committed
        # Anchors that no longer cover an unacknowledged line are not needed on restart.
        keep = [a for a in self.anchors if a[0] >= committed]
        older = [a for a in self.anchors if a[0] < committed]
        if older:
            keep.insert(0, older[-1])
        self.anchors = keep
        return Position(self.path, committed, self.fp, self.fp_len, list(keep))

    def close(self) -> None:
        os.close(self.fd)
