"""Rejoining the records Docker's json-file driver splits a long line into.

Docker copies container output in 16 KiB buffers, so a longer line becomes several
records; only the last one's `log` ends in "\\n" (moby's jsonfilelog appends the newline
to a message's last part only). Parts are joined per output stream: stdout and stderr
are copied independently and their records may interleave. Memory is bounded as in the
tailer: of a joined line only the first max_line_bytes are kept, the rest is counted.

A held line's first part is where a restart must read from, so the pipeline never
checkpoints past `floor` (at-least-once: a crash mid-line re-reads the whole line).
`DockerLines` is the stage the ingest loop calls: one joiner per file, each json-file
record in, a parsed whole line (with the offset of its first part) out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sidecar.shipping.entries import Parsed
from sidecar.shipping.linereader import TRUNCATED, truncated_text
from sidecar.shipping.parsers import DockerParser, DockerRecord, unwrap_docker


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


class DockerLines:
    """A docker source's joiners, one per file (by tailer key), and its parser."""

    def __init__(self, parser: DockerParser, max_line_bytes: int) -> None:
        self._parser = parser
        self._max_line = max_line_bytes
        self._joiners: dict[str, PartialJoiner] = {}

    def forget(self, key: str) -> int | None:
        """Drop the file's held parts; the offset of the first one, if any."""
        joiner = self._joiners.pop(key, None)
        return None if joiner is None else joiner.floor

    def floor(self, key: str) -> int | None:
        joiner = self._joiners.get(key)
        return None if joiner is None else joiner.floor

    def line(
        self, key: str, text: str, line_start: int, malformed: dict[str, int]
    ) -> tuple[Parsed, int] | None:
        """A json-file line parsed, with the offset of its first part; None while held."""
        docker = self._parser
        record = unwrap_docker(text)
        if record is None:
            return docker(text), line_start  # counted as not_docker_json
        joiner = self._joiners.get(key)
        if record.complete and (joiner is None or not joiner.holds(record.stream)):
            return docker.inner(record.log[:-1], record.time_ns), line_start
        if joiner is None:
            joiner = self._joiners[key] = PartialJoiner(self._max_line)
        joined = joiner.feed(record, line_start)
        if joined is None:
            return None
        return self._parsed(joined, malformed), joined.start

    def drain(self, key: str, malformed: dict[str, int]) -> list[tuple[Parsed, int]]:
        """Every held line of a file that can never complete them, parsed."""
        joiner = self._joiners.get(key)
        if joiner is None:
            return []
        return [(self._parsed(joined, malformed), joined.start) for joined in joiner.drain()]

    def _parsed(self, joined: Joined, malformed: dict[str, int]) -> Parsed:
        if joined.skipped:
            malformed[TRUNCATED] = malformed.get(TRUNCATED, 0) + 1
            text = truncated_text(joined.data, joined.skipped, self._max_line)
            return self._parser.inner(text, joined.time_ns, as_text=True)
        return self._parser.inner(joined.data.decode(errors="replace"), joined.time_ns)
