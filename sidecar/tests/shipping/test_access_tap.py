"""The access-log read-ahead while shipping is paused (access_tap.py).

While the buffer is full (Loki down), request metrics must keep up with the file: lines
written during the outage are recorded as they come, empty lines are not requests, and
the read-ahead gives way as soon as the buffer has room, leaving the rest to the
ingest stage (which records what the read-ahead did not).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import orjson
from sidecar.app import Sidecar
from sidecar.shipping.access_tap import AccessTap
from sidecar.shipping.budget import BufferBudget
from sidecar.shipping.discovery import Discovery
from sidecar.shipping.files import FileSet
from sidecar.shipping.parsers import make_parser
from sidecar.shipping.selfguard import SelfGuard

from sidecar.config import SidecarConfig

from .access_requests import access_line, access_source, paused_config, requests_recorded
from .conftest import Harness


def _unparsed(sidecar: Any) -> float:
    return sum(
        sample.value
        for family in sidecar.registry.collect()
        for sample in family.samples
        if sample.name == "sidecar_access_log_unparsed_total"
    )


@contextlib.asynccontextmanager
async def _in_an_outage(
    harness: Harness, source: dict[str, Any], written: int
) -> AsyncIterator[Sidecar]:
    """The sidecar with Loki down and a small buffer, once the read-ahead has recorded
    the `written` requests and waits, shipping paused on the full buffer."""
    harness.loki.fail(500)
    async with harness.running(paused_config(harness, source)) as sidecar:
        await harness.eventually(
            lambda: requests_recorded(sidecar) == written, what="the requests written"
        )
        assert harness.metric(sidecar, "sidecar_log_lines_read_total") < written  # paused
        yield sidecar


async def test_requests_written_during_an_outage_are_recorded_and_empty_lines_are_not(
    harness: Harness,
) -> None:
    first = 1000
    path = harness.logs / "access.log"
    path.write_text("".join(access_line(n) for n in range(first)))
    async with _in_an_outage(harness, access_source(harness.logs), first) as sidecar:
        with path.open("a") as handle:
            for n in range(first, first + 10):
                handle.write(access_line(n) + "\n\r\n")  # each followed by empty lines
        await harness.eventually(
            lambda: requests_recorded(sidecar) == first + 10, what="the requests written later"
        )
        assert harness.metric(sidecar, "sidecar_log_lines_read_total") < first  # still paused
        assert _unparsed(sidecar) == 0


class _RoomMaker:
    """The access-log recorder's part (ingest.Observer): keeps what it is given. Its
    first call also frees the buffer, standing in for the sender, which in the sidecar
    frees it from another task when Loki acknowledges a batch during the read-ahead."""

    def __init__(self, budget: BufferBudget) -> None:
        self.budget = budget
        self.lines: list[str] = []

    def observe(self, line: str, record: Mapping[str, Any] | None) -> None:
        if not self.lines:
            self.budget.give(1)
        self.lines.append(line)


def _tap(
    config: SidecarConfig, budget: BufferBudget, recorder: _RoomMaker
) -> tuple[FileSet, AccessTap]:
    """The source's files and the tap on them, as the sidecar builds it (source.py)."""
    source, shipping = config.sources[0], config.shipping
    files = FileSet(
        source,
        shipping,
        Discovery(source, lambda reason: None),
        SelfGuard(),
        {},
        lambda tailer, chunk, final: None,
        lambda tailer: None,
    )
    files.scan()
    return files, AccessTap(
        files,
        make_parser(source),
        recorder,
        budget,
        shipping.max_line_bytes,
        shipping.read_chunk_bytes,
        shipping.poll_interval_seconds,
    )


@contextlib.contextmanager
def _paused() -> Iterator[tuple[BufferBudget, _RoomMaker]]:
    budget = BufferBudget(1)
    budget.take(1)  # full: shipping paused
    yield budget, _RoomMaker(budget)


async def test_the_read_ahead_gives_way_at_the_first_chunk_after_the_buffer_has_room(
    harness: Harness,
) -> None:
    for name, first in (("a.log", 0), ("b.log", 100)):  # different heads: two files
        (harness.logs / name).write_text("".join(access_line(n) for n in range(first, first + 50)))
    config = harness.config(
        sources=[access_source(harness.logs)], shipping={"read_chunk_bytes": 4096}
    )
    with _paused() as (budget, recorder):
        files, tap = _tap(config, budget, recorder)
        assert len(files.tailers) == 2
        try:
            await tap.run_while_paused()
            read_ahead = sorted(tailer.gen.observed for tailer in files.tailers.values())
        finally:
            files.release_all()
    # One chunk of one file, whole lines only; the other is left untouched.
    assert read_ahead[0] == 0
    assert 0 < read_ahead[1] <= 4096
    assert len(recorder.lines) == read_ahead[1] // len(access_line(0))


def _docker(line: str, time: str = "2026-11-25T10:00:00Z") -> str:
    """The json-file records Docker writes for one container line (16 KiB parts)."""
    data = line + "\n"
    parts = [data[i : i + 16 * 1024] for i in range(0, len(data), 16 * 1024)]
    return "".join(
        orjson.dumps({"log": part, "stream": "stdout", "time": time}).decode() + "\n"
        for part in parts
    )


async def test_a_request_docker_split_into_parts_is_recorded_once_whole_during_an_outage(
    harness: Harness,
) -> None:
    first = 1000
    path = harness.logs / "c-json.log"
    path.write_text("".join(_docker(access_line(n).rstrip("\n")) for n in range(first)))
    long_request = access_line(first, padding="p" * 40 * 1024)  # 3 records in Docker's log
    source = {**access_source(harness.logs), "format": "docker", "paths": [str(path)]}
    async with _in_an_outage(harness, source, first) as sidecar:
        with path.open("a") as handle:
            # An empty line between records (not one Docker writes; a NUL-padded file
            # has them once the NULs are dropped) is not a request either.
            handle.write("\n" + _docker(long_request.rstrip("\n")))
        await harness.eventually(
            lambda: requests_recorded(sidecar) == first + 1, what="the long one"
        )
        assert _unparsed(sidecar) == 0
        assert harness.metric(sidecar, "sidecar_log_lines_read_total") < first  # still paused
        harness.loki.fail(None)
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_lines_shipped_total") == first + 1,
            what="everything shipped",
        )
        assert requests_recorded(sidecar) == first + 1  # not again when shipping read it


async def test_a_split_request_whose_last_part_has_not_come_is_left_to_the_ingest_stage(
    harness: Harness,
) -> None:
    path = harness.logs / "c-json.log"
    before = "".join(_docker(access_line(n).rstrip("\n")) for n in range(5))
    long_request = access_line(5, padding="p" * 40 * 1024)
    parts = _docker(long_request.rstrip("\n")).splitlines(keepends=True)
    path.write_text(before + "".join(parts[:2]))
    source = {**access_source(harness.logs), "format": "docker", "paths": [str(path)]}
    # One chunk holds the file: the tap reads both parts before it gives way.
    config = harness.config(sources=[source], shipping={"read_chunk_bytes": 256 * 1024})
    with _paused() as (budget, recorder):
        files, tap = _tap(config, budget, recorder)
        try:
            await tap.run_while_paused()
            (tailer,) = files.tailers.values()
            observed = tailer.gen.observed
        finally:
            files.release_all()
    assert len(recorder.lines) == 5
    # Not past the held line's first part: the ingest stage records it when it is whole.
    assert observed == len(before.encode())
