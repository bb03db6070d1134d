"""One open log file: its inode, the reader on it, and the generation it carries.

Guarantee: the file is read from where its generation's acknowledged lines end, and a
truncation or a rewritten head is noticed (at every end of file and every scan) and ends
the generation instead of being read past: the file restarts from 0 in a new one, and
the old one is handed back so a rotated copy can take it over.
"""

from __future__ import annotations

import os

from sidecar.shipping.acks import FileAcks
from sidecar.shipping.generation import FINGERPRINT_BYTES, Generation, fingerprint, head_matches
from sidecar.shipping.linereader import LineReader
from sidecar.shipping.positions import Position


def new_generation(fd: int, offset: int = 0) -> Generation:
    fp, fp_len = fingerprint(fd, FINGERPRINT_BYTES)
    return Generation(fp, fp_len, FileAcks(offset), observed=offset, resume_at=offset)


def resumed_generation(fd: int, position: Position) -> Generation:
    gen = new_generation(fd, position.offset)
    gen.anchors = list(position.anchors)
    gen.anchor_floor = os.fstat(fd).st_size if gen.anchors else 0
    gen.observed = max(position.observed, position.offset)
    return gen


def position_fits(fd: int, position: Position) -> bool:
    """The checkpoint belongs to this file's content and lies within it."""
    return position.offset <= os.fstat(fd).st_size and (
        position.offset == 0 or head_matches(fd, position.fingerprint, position.fingerprint_len)
    )


class Tailer:
    def __init__(
        self,
        key: str,
        path: str,
        fd: int,
        max_line_bytes: int,
        chunk_bytes: int,
        generation: Generation,
    ) -> None:
        self.key = key
        self.path = path
        self.fd = fd
        info = os.fstat(fd)
        self.dev_ino = (info.st_dev, info.st_ino)
        self.size = info.st_size
        self.opened_mtime = info.st_mtime
        self.gen = generation
        start = min(generation.resume_at, info.st_size)
        self.reader = LineReader(fd, start, max_line_bytes, chunk_bytes)
        self.detached_at: float | None = None  # monotonic time it left every glob
        self.last_growth = 0.0
        self.unlinked = False

    @property
    def read_offset(self) -> int:
        return self.reader.offset

    @property
    def acks(self) -> FileAcks:
        return self.gen.acks

    def refresh(self) -> Generation | None:
        """Re-stat the open file; the ended generation when it was truncated or rewritten."""
        info = os.fstat(self.fd)
        self.size = info.st_size
        self.unlinked = info.st_nlink == 0
        gen = self.gen
        if info.st_size < self.reader.offset or (
            gen.fp_len and not head_matches(self.fd, gen.fp, gen.fp_len)
        ):
            return self.restart_from_zero()
        if gen.fp_len < FINGERPRINT_BYTES and info.st_size > gen.fp_len:
            gen.fp, gen.fp_len = fingerprint(self.fd, FINGERPRINT_BYTES)
        return None

    def restart_from_zero(self) -> Generation:
        ended = self.retire()
        self.gen = new_generation(self.fd)
        self.reader = LineReader(self.fd, 0, self.reader.max_line, self.reader.chunk_bytes)
        return ended

    def retire(self) -> Generation:
        """The generation as a successor must continue it: from its last complete line."""
        gen = self.gen
        gen.resume_at = self.reader.line_end
        return gen

    def position(self) -> Position:
        gen = self.gen
        return Position(
            self.path, gen.committed, gen.fp, gen.fp_len, gen.live_anchors(), gen.observed
        )

    def close(self) -> None:
        os.close(self.fd)
