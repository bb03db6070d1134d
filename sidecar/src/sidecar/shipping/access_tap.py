"""Access-log metrics while shipping is paused: reading ahead for the recorder only.

Reading for Loki pauses while the buffer is full (Loki down or slow); request metrics
must not. While paused, this stage reads each file of an access-log source from its
generation's `observed` offset with a reader of its own, records every complete line
and moves `observed` on, so the ingest stage does not record those lines again when it
reaches them. Guarantee: each line is recorded once while the sidecar runs, whether
shipping is paused or not; after a crash, lines read since the last checkpoint are
recorded again (`observed` is checkpointed with the positions). A docker source's
lines that Docker split are rejoined here too, as in the ingest stage (one request, not
its parts), and `observed` never passes a held line's first part, so if shipping
resumes before its last part, the ingest stage records it whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sidecar.shipping.budget import BufferBudget
from sidecar.shipping.docker_partials import DockerLines
from sidecar.shipping.entries import Parsed
from sidecar.shipping.files import FileSet
from sidecar.shipping.ingest import Observer
from sidecar.shipping.linereader import Chunk, LineReader
from sidecar.shipping.parsers import DockerParser


class AccessTap:
    def __init__(
        self,
        files: FileSet,
        parse: Callable[[str], Parsed],
        recorder: Observer,
        budget: BufferBudget,
        max_line_bytes: int,
        chunk_bytes: int,
        poll_seconds: float,
    ) -> None:
        self._files = files
        self._parse = parse
        self._recorder = recorder
        self._budget = budget
        self._max_line = max_line_bytes
        self._chunk = chunk_bytes
        self._poll = poll_seconds

    async def run_while_paused(self) -> None:
        readers: dict[tuple[str, int], LineReader] = {}
        parse = self._parse
        docker = DockerLines(parse, self._max_line) if isinstance(parse, DockerParser) else None
        while self._budget.full:
            progressed = False
            for tailer in list(self._files.tailers.values()):
                gen = tailer.gen
                reader = readers.get((tailer.key, id(gen)))
                if reader is None or reader.line_end < gen.observed:
                    reader = LineReader(tailer.fd, gen.observed, self._max_line, self._chunk)
                    readers[(tailer.key, id(gen))] = reader
                    if docker is not None:
                        docker.forget(tailer.key)  # its parts are read again from there
                chunk = reader.read_chunk()
                if chunk is None or chunk.end_offset is None:
                    continue
                progressed = True
                if docker is None:
                    self._observe(chunk.lines)
                    end = chunk.end_offset
                else:
                    self._observe_docker(tailer.key, chunk, docker)
                    floor = docker.floor(tailer.key)
                    end = chunk.end_offset if floor is None else min(floor, chunk.end_offset)
                gen.observed = max(gen.observed, end)
                await asyncio.sleep(0)
                if not self._budget.full:
                    return
            if not progressed:
                try:
                    await asyncio.wait_for(self._budget.wait_for_room(), self._poll)
                except TimeoutError:
                    continue

    def _observe(self, lines: list[bytes]) -> None:
        parse = self._parse
        observe = self._recorder.observe
        for data in lines:
            data = data.replace(b"\x00", b"").removesuffix(b"\r")
            if data:
                parsed = parse(data.decode(errors="replace"))
                observe(parsed.line, parsed.record)

    def _observe_docker(self, key: str, chunk: Chunk, docker: DockerLines) -> None:
        observe = self._recorder.observe
        not_counted: dict[str, int] = {}  # malformed lines: the ingest stage counts them
        for data, start in zip(chunk.lines, chunk.starts(), strict=True):
            data = data.replace(b"\x00", b"").removesuffix(b"\r")
            if data:
                joined = docker.line(key, data.decode(errors="replace"), start, not_counted)
                if joined is not None:
                    parsed = joined[0]
                    observe(parsed.line, parsed.record)
