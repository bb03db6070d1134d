"""Docker json-file lines over 16 KiB, which Docker writes as several records, arrive whole."""

from __future__ import annotations

import json

import orjson
from sidecar.shipping.docker_partials import PartialJoiner
from sidecar.shipping.parsers import DockerRecord

from tests.support.loki_double import parse_labels

from .access_requests import access_line, requests_recorded

# moby's log copier splits a line into buffers of this many bytes; only the last part
# of a line carries the newline.
DOCKER_BUFFER = 16 * 1024
FIRST_TIME = "2026-11-25T10:00:00.5Z"
FIRST_TIME_NS = 1795600800_500_000_000


def _records(line: str, stream: str = "stdout", times: tuple[str, ...] = ()) -> list[str]:
    """The json-file records Docker writes for one container line (each with its \\n)."""
    data = line + "\n"
    parts = [data[i : i + DOCKER_BUFFER] for i in range(0, len(data), DOCKER_BUFFER)]
    return [
        orjson.dumps(
            {"log": part, "stream": stream, "time": times[i] if i < len(times) else FIRST_TIME}
        ).decode()
        + "\n"
        for i, part in enumerate(parts)
    ]


def _docker_source(harness):  # type: ignore[no-untyped-def]
    return {
        "name": "app",
        "service_name": "svc",
        "format": "docker",
        "paths": [str(harness.logs / "*-json.log")],
    }


def _entries(harness):  # type: ignore[no-untyped-def]
    return sorted(
        (e for entries in harness.loki.streams().values() for e in entries), key=lambda e: e.ts
    )


async def test_a_40kib_line_split_in_3_records_is_one_entry(harness):
    long_line = json.dumps({"level": "error", "message": "x" * 40 * 1024})
    parts = _records(
        long_line, times=(FIRST_TIME, "2026-11-25T10:00:00.6Z", "2026-11-25T10:00:00.7Z")
    )
    assert len(parts) == 3
    # A stderr line written while the stdout line is still in parts must not mix with it.
    other = _records("between", stream="stderr", times=("2026-11-25T10:00:00.55Z",))
    before = _records("before", times=("2026-11-25T10:00:00.1Z",))
    after = _records("after", times=("2026-11-25T10:00:01Z",))
    (harness.logs / "c-json.log").write_text(
        "".join(before + parts[:2] + other + parts[2:] + after)
    )
    async with harness.running(harness.config(sources=[_docker_source(harness)])) as sidecar:
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_lines_shipped_total") == 4,
            what="4 entries acknowledged",
        )
        assert harness.metric(sidecar, "sidecar_log_lines_malformed_total", reason="truncated") == 0
    entries = _entries(harness)
    assert [e.line for e in entries] == ["before", long_line, "between", "after"]
    # The joined line keeps the time its first part was received and is parsed as a whole.
    assert entries[1].ts == FIRST_TIME_NS
    (labels,) = [k for k, v in harness.loki.streams().items() if v[0].line == long_line]
    assert parse_labels(labels)["level"] == "error"


async def test_a_joined_line_over_max_line_bytes_is_truncated_and_counted(harness):
    max_line = 20_000  # above one record (~16 KiB), below the joined line
    long_line = "y" * 40 * 1024
    records = _records(long_line)
    assert all(len(r) < max_line for r in records)
    (harness.logs / "c-json.log").write_text("".join(records))
    config = harness.config(
        shipping={"max_line_bytes": max_line}, sources=[_docker_source(harness)]
    )
    async with harness.running(config) as sidecar:
        await harness.eventually(lambda: len(harness.loki.lines()) == 1, what="1 entry")
        assert harness.metric(sidecar, "sidecar_log_lines_malformed_total", reason="truncated") == 1
    (line,) = harness.loki.lines()
    assert line.startswith("y" * 19_000)
    assert line.endswith(f"[sidecar: line truncated, {len(long_line)} bytes > {max_line}]")
    assert len(line.encode()) <= max_line


def _checkpoint(harness) -> int:  # type: ignore[no-untyped-def]
    path = harness.tmp_path / "positions.json"
    if not path.exists():
        return -1
    (entry,) = json.loads(path.read_text())["files"].values()
    return int(entry["offset"])


async def test_restart_with_only_first_parts_written_ships_the_whole_line_once(harness):
    path = harness.logs / "c-json.log"
    first = _records("first", times=("2026-11-25T09:59:59Z",))[0]
    long_line = "z" * 40 * 1024
    parts = _records(long_line)
    path.write_text(first + "".join(parts[:2]))
    config = harness.config(sources=[_docker_source(harness)])
    async with harness.running(config) as sidecar:
        await harness.eventually(lambda: harness.loki.lines() == ["first"], what="first line")
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_lines_read_total") == 3,
            what="both parts read",
        )
    # Stopped mid-line: the checkpoint stays at the first part, not past what was read.
    assert _checkpoint(harness) == len(first)
    assert harness.loki.lines() == ["first"]

    with path.open("a") as handle:
        handle.write(parts[2] + _records("last", times=("2026-11-25T10:00:02Z",))[0])
    async with harness.running(config):
        await harness.eventually(lambda: len(harness.loki.lines()) == 3, what="3 entries")
    assert [e.line for e in _entries(harness)] == ["first", long_line, "last"]
    assert [e.ts for e in _entries(harness)][1] == FIRST_TIME_NS
    assert sum(r.entries for r in harness.loki.requests) == 3
    assert _checkpoint(harness) == path.stat().st_size


async def test_a_released_file_ships_the_parts_it_holds_as_one_entry(harness):
    path = harness.logs / "c-json.log"
    long_line = "w" * 40 * 1024
    parts = _records(long_line)
    path.write_text("".join(parts[:2]))
    async with harness.running(harness.config(sources=[_docker_source(harness)])) as sidecar:
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_lines_read_total") == 2,
            what="both parts read",
        )
        path.unlink()  # the container was removed: its last part can never come
        await harness.eventually(lambda: len(harness.loki.lines()) == 1, what="held parts")
        await harness.eventually(lambda: not sidecar.shipping.pipelines[0].tailers, what="released")
    assert harness.loki.lines() == [long_line[: 2 * DOCKER_BUFFER]]


def _record(log: str, stream: str = "stdout") -> DockerRecord:
    return DockerRecord(log, stream, None)


def test_joiner_floor_is_the_oldest_held_first_part_across_streams() -> None:
    joiner = PartialJoiner(max_line_bytes=1024)
    assert joiner.feed(_record("out-a"), 100) is None
    assert joiner.feed(_record("err-a", "stderr"), 200) is None
    assert joiner.floor == 100
    joined = joiner.feed(_record("out-b\n"), 300)
    assert joined is not None
    assert (joined.start, joined.data, joined.skipped) == (100, b"out-aout-b", 0)
    assert joiner.floor == 200
    assert joiner.drain()[0].data == b"err-a"
    assert joiner.floor is None


async def test_a_line_that_is_not_a_docker_record_is_shipped_raw_at_read_time(harness):
    before = _records("before", times=("2026-11-25T10:00:00.1Z",))
    after = _records("after", times=("2026-11-25T10:00:01Z",))
    # A hand-written line in a json-file log, with a Windows line end.
    (harness.logs / "c-json.log").write_text("".join([*before, "not a record\r\n", *after]))
    async with harness.running(harness.config(sources=[_docker_source(harness)])) as sidecar:
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_lines_shipped_total") == 3,
            what="3 entries acknowledged",
        )
        malformed = harness.metric(
            sidecar, "sidecar_log_lines_malformed_total", reason="not_docker_json"
        )
        assert malformed == 1
    entries = {e.line: e.ts for e in _entries(harness)}
    assert set(entries) == {"before", "not a record", "after"}
    # No time of its own: stamped when read, which is after Docker's times in the file.
    assert entries["not a record"] > entries["after"]


async def test_a_released_file_without_a_split_line_ships_each_line_once(harness):
    path = harness.logs / "c-json.log"
    path.write_text("".join(_records("one") + _records("two")))
    async with harness.running(harness.config(sources=[_docker_source(harness)])) as sidecar:
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_lines_shipped_total") == 2,
            what="2 entries acknowledged",
        )
        path.unlink()
        await harness.eventually(lambda: not sidecar.shipping.pipelines[0].tailers, what="released")
        assert sidecar.ready()
    assert sorted(harness.loki.lines()) == ["one", "two"]
    assert sum(r.entries for r in harness.loki.requests) == 2


def _anchors(harness) -> list[list[int]]:  # type: ignore[no-untyped-def]
    path = harness.tmp_path / "positions.json"
    if not path.exists():
        return []
    return [a for entry in json.loads(path.read_text())["files"].values() for a in entry["anchors"]]


async def test_a_released_held_line_without_a_usable_time_gets_a_read_time_saved_before_it_is_sent(
    harness,
):
    # A record whose Docker time does not parse, holding a JSON line whose own time does
    # not either, and whose last part never came: when the file goes, it is shipped
    # stamped with its read time, and that anchor is on disk before the push leaves, so
    # a re-send carries the same timestamp (generation.py).
    held = '{"level": "warn", "timestamp": "yesterday", "message": "cut short"}'
    record = orjson.dumps({"log": held, "stream": "stdout", "time": "not a time"}).decode()
    path = harness.logs / "c-json.log"
    path.write_text(record + "\n")
    config = harness.config(
        # No periodic checkpoint during the test: only the anchor gate writes the file.
        shipping={"checkpoint_interval_seconds": 3600},
        sources=[_docker_source(harness)],
    )
    harness.loki.fail(500)
    async with harness.running(config) as sidecar:
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_lines_read_total") == 1,
            what="the part read",
        )
        assert harness.loki.requests == []  # held: nothing to send yet
        path.unlink()
        await harness.eventually(lambda: harness.loki.requests, what="a push of the held line")
        (anchor,) = _anchors(harness)
        assert anchor[0] == 0  # the line's first part is at offset 0
        bad = harness.metric(sidecar, "sidecar_log_lines_malformed_total", reason="bad_timestamp")
        assert bad == 1
        harness.loki.fail(None)
        await harness.eventually(lambda: harness.loki.lines(), what="the held line stored")
    (entry,) = _entries(harness)
    assert (entry.line, entry.ts) == (held, anchor[1])
    (labels,) = harness.loki.streams()
    assert parse_labels(labels)["level"] == "warn"


async def test_a_request_line_held_unterminated_when_its_file_goes_is_still_counted(harness):
    # The container's last output had no newline: Docker wrote it as a part of a line
    # whose end never comes (no "\n" in its log), held until the file goes.
    unterminated = orjson.dumps(
        {"log": access_line(1).rstrip("\n"), "stream": "stdout", "time": FIRST_TIME}
    )
    path = harness.logs / "c-json.log"
    path.write_text("".join(_records(access_line(0).rstrip("\n"))) + unterminated.decode() + "\n")
    source = {**_docker_source(harness), "access_log": {"format": "json"}}
    async with harness.running(harness.config(sources=[source])) as sidecar:
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_lines_read_total") == 2,
            what="both records read",
        )
        assert requests_recorded(sidecar) == 1  # the held one not yet
        path.unlink()
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="the held line")
        assert requests_recorded(sidecar) == 2


async def test_a_released_held_line_without_a_usable_time_is_stamped_after_the_lines_before_it(
    harness,
):
    # Both records' Docker times do not parse: both lines get read times, which follow
    # the file's order (anchor time + distance in bytes: generation.py).
    whole = orjson.dumps({"log": "first\n", "stream": "stdout", "time": "?"}).decode() + "\n"
    held = orjson.dumps({"log": "held", "stream": "stdout", "time": "?"}).decode() + "\n"
    path = harness.logs / "c-json.log"
    path.write_text(whole + held)
    async with harness.running(harness.config(sources=[_docker_source(harness)])) as sidecar:
        await harness.eventually(lambda: harness.loki.lines() == ["first"], what="first line")
        path.unlink()
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="the held line")
        await harness.eventually(lambda: not sidecar.shipping.pipelines[0].tailers, what="released")
    first, last = _entries(harness)
    assert (first.line, last.line) == ("first", "held")
    assert last.ts - first.ts >= len(whole)
