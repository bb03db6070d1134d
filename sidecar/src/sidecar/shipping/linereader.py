"""Complete lines from an open file, from an offset on, in bounded memory.

Guarantee: every byte from the start offset is accounted for, in order: each complete
line is returned once with the bytes cut from it, and nothing after the last newline is
returned until its newline arrives (or `take_partial` is called for a file that can
never complete it). A line longer than max_line_bytes keeps only its first
max_line_bytes; the rest is skipped as it streams past, so a 1 GB file without a newline
costs at most one max line plus one read chunk. `truncated_text` is how such a line is
shipped: its first whole characters and a marker, within max_line_bytes of UTF-8.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass

TRUNCATED = "truncated"  # the malformed reason a truncated line is counted under
_MARKER_ROOM = 64


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


class LineReader:
    __slots__ = (
        "_carry",
        "_discarding",
        "_skipped",
        "chunk_bytes",
        "fd",
        "line_end",
        "max_line",
        "offset",
    )

    def __init__(self, fd: int, offset: int, max_line_bytes: int, chunk_bytes: int) -> None:
        self.fd = fd
        self.offset = offset  # next byte to read
        self.line_end = offset  # just after the last complete line returned
        self.max_line = max_line_bytes
        self.chunk_bytes = chunk_bytes
        self._carry = b""
        self._discarding = False
        self._skipped = 0

    def read_chunk(self) -> Chunk | None:
        """The complete lines of the next chunk (maybe none yet), or None at end of file."""
        data = os.pread(self.fd, self.chunk_bytes, self.offset)
        if not data:
            return None
        base = self.offset
        self.offset += len(data)
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
            first = self.line_end
            self._carry, self._discarding, self._skipped = b"", False, 0
            data = data[newline + 1 :]
            base += newline + 1
        elif self._carry:
            data = self._carry + data
            base = first = self.line_end
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
        self.line_end = end
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
            self.line_end,
            self.offset,
            {0: self._skipped} if self._skipped else None,
        )
        self._carry, self._discarding, self._skipped = b"", False, 0
        self.line_end = self.offset
        return chunk

    @property
    def held_bytes(self) -> int:
        return len(self._carry)


def _whole_characters(data: bytes, errors: str = "replace") -> str:
    """`data` decoded, without a character its end cuts into."""
    # An incremental decoder keeps an unfinished sequence at the end for the next call
    # rather than decoding it: a character the cut splits is dropped, a whole one kept.
    return codecs.getincrementaldecoder("utf-8")(errors).decode(data)


def valid_up_to_a_cut(data: bytes) -> bool:
    """Whether `data` is valid UTF-8 but for a character its end cuts into."""
    try:
        _whole_characters(data, "strict")
    except UnicodeDecodeError:
        return False
    return True


def truncated_text(data: bytes, skipped: int, max_line_bytes: int) -> str:
    """A line cut at max_line_bytes (`skipped` bytes not kept), marked, within the limit:
    the whole characters of its first bytes that fit beside the marker."""
    room = max_line_bytes - _MARKER_ROOM
    text = _whole_characters(data[:room])
    shipped = text.encode()
    if len(shipped) > room:  # invalid bytes, each now a 3-byte U+FFFD
        text = _whole_characters(shipped[:room])
    total = len(data) + skipped
    return f"{text} [sidecar: line truncated, {total} bytes > {max_line_bytes}]"
