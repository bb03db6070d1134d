"""Ended file generations that a copy of their file may take over (copytruncate).

Guarantee: a generation that ended (its file truncated, released, or a checkpoint whose
file was not found at start) is kept for at least RETIRED_MIN_SECONDS (and twice
rotate_wait_seconds), at most RETIRED_MAX per source, and still checkpointed meanwhile;
a new file whose content continues it (generation.continues_in: same head fingerprint,
same last line at the same offset) takes it over once, with its acknowledged offset,
in-flight lines and anchors, so what was read of it is not sent again. A generation
that ended in place (its file truncated, or a checkpoint that no longer fits its inode)
is never handed back to the inode it came from: that inode holds new content now.
"""

from __future__ import annotations

import time

from sidecar.shipping.generation import Generation
from sidecar.shipping.positions import Position

RETIRED_MAX = 64  # ended generations kept per source for a copy to take over
RETIRED_MIN_SECONDS = 60.0


class RetiredGenerations:
    def __init__(self, source_name: str, rotate_wait_seconds: float) -> None:
        self._source = source_name
        self._keep_for = max(RETIRED_MIN_SECONDS, 2 * rotate_wait_seconds)
        # (expiry, path, generation, the key of the inode it may not go back to)
        self._retired: list[tuple[float, str, Generation, str | None]] = []

    def add(self, path: str, gen: Generation, origin: str | None) -> None:
        """Keep `gen` for a copy; `origin` is the inode key it ended in place on, or None
        for a file released whole or not found (which may come back as itself)."""
        if gen.fp_len == 0:
            return  # nothing to recognise a copy by
        self._retired.append((time.monotonic() + self._keep_for, path, gen, origin))
        del self._retired[:-RETIRED_MAX]

    def take(self, fd: int, key: str) -> tuple[str, Generation] | None:
        """The generation the open file `fd` (tracked as `key`) continues, removed."""
        for index, (_, path, gen, origin) in enumerate(self._retired):
            if origin != key and gen.continues_in(fd):
                del self._retired[index]
                return path, gen
        return None

    def expire(self, now: float) -> None:
        self._retired = [r for r in self._retired if r[0] > now]

    def positions(self) -> dict[str, Position]:
        return {
            f"{self._source}/retired:{gen.fp}:{gen.fp_len}": Position(
                path, gen.committed, gen.fp, gen.fp_len, gen.live_anchors(), gen.observed
            )
            for _, path, gen, _origin in self._retired
        }
