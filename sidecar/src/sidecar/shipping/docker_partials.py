"""Rejoining the records Docker's json-file driver splits a long line into.

Docker copies container output in 16 KiB buffers, so a longer line becomes several
records; only the last one's `log` ends in "\\n" (moby's jsonfilelog appends the newline
to a message's last part only). Parts are joined per output stream: stdout and stderr
are copied independently and their records may interleave. Memory is bounded as in the
tailer: of a joined line only the first max_line_bytes are kept, the rest is counted.

A held line's first part is where a restart must read from, so the pipeline never
checkpoints past `floor` (at-least-once: a crash mid-line re-reads the whole line).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sidecar.shipping.parsers import DockerRecord


@dataclass(frozen=True, slots=True)
class Joined:
    """A line Docker split, put back together (without its newline)."""

    start: int  # file offset of the record holding its first part
    time_ns: int | None  # Docker's time of the first part: when the line began
    data: bytes  # its first max_line_bytes
    skipped: int  # bytes beyond them, not kept


@dataclass(slots=True)
class _Held:
    start: int
    time_ns: int | None
    parts: list[bytes] = field(default_factory=list)
    kept: int = 0
    skipped: int = 0


class PartialJoiner:
    """The held parts of one file's split lines, per output stream."""

    def __init__(self, max_line_bytes: int) -> None:
        self._max_line = max_line_bytes
        self._held: dict[str, _Held] = {}

    def holds(self, stream: str) -> bool:
        return stream in self._held

    @property
    def floor(self) -> int | None:
        """File offset of the oldest held first part: no checkpoint may pass it."""
        if not self._held:
            return None
        return min(held.start for held in self._held.values())

    def feed(self, record: DockerRecord, start: int) -> Joined | None:
        """Take one part (the record at file offset `start`); the whole line once its
        last part arrives, else None."""
        held = self._held.get(record.stream)
        if held is None:
            held = self._held[record.stream] = _Held(start, record.time_ns)
        complete = record.complete
        part = (record.log[:-1] if complete else record.log).encode()
        room = self._max_line - held.kept
        if len(part) > room:
            held.skipped += len(part) - room
            part = part[:room]
        if part:
            held.parts.append(part)
            held.kept += len(part)
        return self._finish(record.stream) if complete else None

    def drain(self) -> list[Joined]:
        """Every held line as it stands, for a file that can never complete them."""
        return [self._finish(stream) for stream in list(self._held)]

    def _finish(self, stream: str) -> Joined:
        held = self._held.pop(stream)
        return Joined(held.start, held.time_ns, b"".join(held.parts), held.skipped)
