"""`loki/loki.yaml` in the real Loki, and the query helper the other tests count with.

The config is the file compose mounts, run with -config.expand-env=true on a temporary
data directory (tests/support/loki.py). These tests hold it to what the stack needs:
it starts without a warning, writes nothing outside its data directory, keeps what it
accepted across a restart and a SIGKILL, and never shows a re-sent line twice, even
pushed faster than Loki's stream-sharding threshold.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.loki import (
    MAX_ENTRIES_PER_QUERY,
    LogEntry,
    RunningLoki,
    line_counts,
    loki,
    now_ns,
)

pytestmark = pytest.mark.integration

SECOND = 1_000_000_000


@pytest.fixture(scope="module")
def real_loki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLoki]:
    with loki(tmp_path_factory.mktemp("loki")) as instance:
        yield instance


def _values(start: int, lines: list[str], per_ts: int = 1) -> list[list[str]]:
    """[ts, line] pairs, `per_ts` lines sharing each timestamp."""
    return [[str(start + i // per_ts), line] for i, line in enumerate(lines)]


def test_starts_without_warnings_and_writes_only_under_its_data_dir(
    real_loki: RunningLoki,
) -> None:
    start = now_ns()
    response = real_loki.push_json(
        [{"stream": {"service_name": "config-check"}, "values": [[str(start), "hello"]]}]
    )
    assert response.status_code == 204, response.text
    assert [e.line for e in real_loki.wait_for_entries('{service_name="config-check"}', 1, start)]
    assert real_loki.warnings() == []
    # Relative to its working directory Loki once wrote its delete-request store
    # (`index/`), which a read-only root refuses at start.
    assert list(real_loki.cwd.iterdir()) == []
    assert {p.name for p in real_loki.data_dir.iterdir()} >= {"wal", "compactor", "rules"}


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_query_range_returns_every_entry_once_across_pages(
    real_loki: RunningLoki, direction: str
) -> None:
    """More entries than one answer may hold, in two streams, three to a timestamp, so
    that page boundaries fall inside a timestamp: the helper must neither skip nor
    repeat an entry there."""
    service = f"paging-{direction}"
    start = now_ns() - 60 * SECOND
    total = 2 * MAX_ENTRIES_PER_QUERY + 1234
    lines = [f"{direction} line {i:06d}" for i in range(total)]
    half = total // 2
    for stream, chunk in (("a", lines[:half]), ("b", lines[half:])):
        for offset in range(0, len(chunk), 2000):
            values = _values(start + offset, chunk[offset : offset + 2000], per_ts=3)
            response = real_loki.push_json(
                [{"stream": {"service_name": service, "part": stream}, "values": values}]
            )
            assert response.status_code == 204, response.text

    entries = real_loki.query_range(
        f'{{service_name="{service}"}}', start, now_ns(), direction=direction
    )

    counts = line_counts(entries)
    assert (counts.total, counts.distinct, counts.duplicates) == (total, total, 0)
    assert {e.line for e in entries} == set(lines)
    timestamps = [e.ts for e in entries]
    assert timestamps == sorted(timestamps, reverse=direction == "backward")


def test_line_counts_tell_duplicates_from_distinct_lines() -> None:
    entries = [LogEntry({"s": "x"}, ts, line) for ts, line in [(1, "a"), (2, "b"), (1, "a")]]
    counts = line_counts(entries)
    assert (counts.total, counts.distinct, counts.duplicates) == (3, 2, 1)
    assert counts.duplicated == {"a": 2}


def test_a_resent_push_collapses(real_loki: RunningLoki) -> None:
    start = now_ns() - 10 * SECOND
    stream = {"service_name": "resend", "level": "info"}
    values = [[str(start + i), f"resent {i}", {"trace_id": f"{i:032x}"}] for i in range(100)]
    for _ in range(3):
        assert real_loki.push_json([{"stream": stream, "values": values}]).status_code == 204

    entries = real_loki.query_range('{service_name="resend"}', start, now_ns())

    assert line_counts(entries).duplicates == 0
    assert len(entries) == 100
    assert entries[7].metadata["trace_id"] == f"{7:032x}"


def test_data_survives_a_restart_and_a_sigkill(tmp_path: Path) -> None:
    with loki(tmp_path) as instance:
        start = now_ns() - 5 * SECOND
        for round_ in ("before restart", "before kill"):
            values = _values(start, [f"{round_} {i}" for i in range(500)])
            response = instance.push_json(
                [{"stream": {"service_name": "durable"}, "values": values}]
            )
            assert response.status_code == 204
            start += 1000
            instance.restart(kill=round_ == "before kill")

        entries = instance.query_range('{service_name="durable"}', start - 2000, now_ns())

        counts = line_counts(entries)
        assert (counts.total, counts.distinct) == (1000, 1000)


def _push_fast(instance: RunningLoki, service: str, lines: list[str], start: int) -> None:
    """Push `lines` to one stream in ~1 MB requests at about 4 MB/s: well above the
    1.5 MB/s at which Loki shards a stream, below the 8 MB/s ingestion limit."""
    batch = 2000
    began = time.monotonic()
    for number, offset in enumerate(range(0, len(lines), batch)):
        values = _values(start + offset, lines[offset : offset + batch])
        response = instance.push_json([{"stream": {"service_name": service}, "values": values}])
        assert response.status_code == 204, response.text
        time.sleep(max(0.0, began + (number + 1) * 0.25 - time.monotonic()))


def _resent_duplicates(instance: RunningLoki) -> tuple[int, set[str]]:
    """Push ~15 MB to one stream well above 1.5 MB/s, push it all again (a sidecar
    re-sending what it got no acknowledgement for), and count what shows twice."""
    start = now_ns() - 120 * SECOND
    pad = "x" * 480
    lines = [f"burst {i:06d} {pad}" for i in range(30_000)]
    _push_fast(instance, "burst", lines, start)
    _push_fast(instance, "burst", lines, start)
    entries = instance.query_range('{service_name="burst"}', start, now_ns())
    assert line_counts(entries).distinct == len(lines)
    shards = {e.labels.get("__stream_shard__", "") for e in entries}
    return line_counts(entries).duplicates, shards


def test_a_fast_stream_is_not_sharded_so_resent_lines_collapse(tmp_path: Path) -> None:
    with loki(tmp_path) as instance:
        duplicates, shards = _resent_duplicates(instance)
    assert shards == {""}
    assert duplicates == 0


def test_with_loki_default_sharding_the_same_resend_shows_twice(tmp_path: Path) -> None:
    """The control for the test above: the same pushes, with only Loki's default
    (shard_streams.enabled=true) restored by flag, do split the stream and show
    re-sent lines twice, so the test above could have failed."""
    with loki(tmp_path, extra_args=("-shard-streams.enabled=true",)) as instance:
        duplicates, shards = _resent_duplicates(instance)
    assert len(shards) > 1
    assert duplicates > 0
