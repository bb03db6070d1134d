"""The real sidecar shipping to the real Loki (loki/loki.yaml), read back with query_range.

- every line arrives exactly once, with the stream labels and structured metadata the
  dashboards and the Loki datasource read, in both push encodings;
- lines re-sent after the sidecar lost its read positions collapse: Loki still returns
  each line once;
- what real Loki refuses with a 400 is counted by the sidecar per reason, and what it
  stored is what the sidecar counts as shipped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.loki import RunningLoki, line_counts, now_ns
from tests.support.sidecar_process import SidecarProcess, sidecar_process

pytestmark = pytest.mark.integration

SECOND = 1_000_000_000
HOUR = 3600 * SECOND
DAY = 24 * HOUR
LEVELS = ("info", "warn", "error")


def _timestamp(ns: int) -> str:
    seconds, nanos = divmod(ns, SECOND)
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def _record(n: int, ts: int, level: str = "info", **extra: str) -> str:
    fields = {"timestamp": _timestamp(ts), "level": level, "message": f"line {n}", **extra}
    return json.dumps(fields) + "\n"


def _trace_ids(n: int) -> dict[str, str]:
    return {"trace_id": f"{n:032x}", "span_id": f"{n:016x}"} if n % 2 == 0 else {}


def _source(service: str, log: Path) -> list[dict[str, object]]:
    return [{"name": "app", "service_name": service, "paths": [str(log)], "format": "json"}]


def _wait_settled(sidecar: SidecarProcess, lines: int, timeout: float = 120) -> None:
    """Until every line read is either shipped or counted dropped."""
    deadline = time.monotonic() + timeout
    while True:
        done = sidecar.metric("sidecar_log_lines_shipped_total") + sidecar.metric(
            "sidecar_log_lines_dropped_total"
        )
        if done >= lines:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{done} of {lines} lines settled after {timeout}s")
        time.sleep(0.2)


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_every_line_arrives_once_with_labels_and_metadata(
    tmp_path: Path, real_loki: RunningLoki, encoding: str
) -> None:
    service = f"delivery-{encoding}"
    start = now_ns() - 60 * SECOND
    total = 6000
    log = tmp_path / "app.log"
    log.write_text(
        "".join(_record(n, start + n * 1000, LEVELS[n % 3], **_trace_ids(n)) for n in range(total))
    )
    with sidecar_process(
        tmp_path, real_loki.push_url, _source(service, log), {"loki": {"encoding": encoding}}
    ) as sidecar:
        _wait_settled(sidecar, total)
        assert sidecar.metric("sidecar_log_lines_shipped_total") == total

    entries = real_loki.query_range(f'{{service_name="{service}"}}', start, now_ns())

    counts = line_counts(entries)
    assert (counts.total, counts.distinct) == (total, total)
    by_message = {json.loads(e.line)["message"]: e for e in entries}
    for n in (0, 1, 2, total - 1):
        entry = by_message[f"line {n}"]
        assert entry.ts == start + n * 1000
        assert dict(entry.labels) == {
            "service_name": service,
            "level": LEVELS[n % 3],
            "source": "app",
        }
        metadata = {k: v for k, v in entry.metadata.items() if k != "detected_level"}
        assert metadata == _trace_ids(n)


def test_lines_resent_after_positions_are_lost_collapse(
    tmp_path: Path, real_loki: RunningLoki
) -> None:
    service = "resent"
    start = now_ns() - 60 * SECOND
    total = 3000
    log = tmp_path / "app.log"
    log.write_text("".join(_record(n, start + n * 1000, **_trace_ids(n)) for n in range(total)))
    source = _source(service, log)
    with sidecar_process(tmp_path, real_loki.push_url, source) as first:
        _wait_settled(first, total)
    first.positions.unlink()

    with sidecar_process(tmp_path, real_loki.push_url, source) as second:
        _wait_settled(second, total)
        # Everything really went to Loki a second time, and Loki took it.
        assert second.metric("sidecar_log_lines_shipped_total") == total

    counts = line_counts(real_loki.query_range(f'{{service_name="{service}"}}', start, now_ns()))
    assert (counts.total, counts.distinct, counts.duplicates) == (total, total, 0)


REASONS = ("greater_than_max_sample_age", "too_far_in_future", "too_far_behind", "line_too_long")


@dataclass(frozen=True)
class Outcome:
    """What the sidecar counted, and how many lines Loki really stored."""

    shipped: float
    dropped: dict[str, float]
    stored: int


def _ship(
    tmp_path: Path, real_loki: RunningLoki, service: str, records: list[str], start: int
) -> Outcome:
    log = tmp_path / "app.log"
    log.write_text("".join(records))
    # Above Loki's 256 KiB, so that the sidecar ships what Loki refuses as too long.
    overrides = {"shipping": {"max_line_bytes": 512 * 1024}}
    source = _source(service, log)
    with sidecar_process(tmp_path, real_loki.push_url, source, overrides) as sidecar:
        _wait_settled(sidecar, len(records))
        shipped = sidecar.metric("sidecar_log_lines_shipped_total")
        dropped = {
            reason: sidecar.metric("sidecar_log_lines_dropped_total", reason=reason)
            for reason in (*REASONS, "rejected")
        }
    window = (start - 10 * DAY, now_ns() + 3 * HOUR)
    stored = len(real_loki.query_range(f'{{service_name="{service}"}}', *window))
    return Outcome(shipped, {k: v for k, v in dropped.items() if v}, stored)


def test_too_old_and_too_new_entries_are_counted_by_reason(
    tmp_path: Path, real_loki: RunningLoki
) -> None:
    """Loki's distributor refuses each entry past reject_old_samples_max_age (168h) or
    creation_grace_period (10 min); every refused line is in a second of its own, so each
    refusal is its own message."""
    start = now_ns() - 60 * SECOND
    records = [_record(n, start + n * 1000) for n in range(200)]
    records += [_record(1000 + n, start - 8 * DAY - n * SECOND) for n in range(3)]
    records += [_record(2000 + n, start + 2 * HOUR + n * SECOND) for n in range(2)]
    outcome = _ship(tmp_path, real_loki, "too-old-new", records, start)
    assert outcome == Outcome(
        shipped=200, dropped={"greater_than_max_sample_age": 3, "too_far_in_future": 2}, stored=200
    )


def test_too_far_behind_entries_are_counted_by_reason(
    tmp_path: Path, real_loki: RunningLoki
) -> None:
    """Lines written after newer ones reached Loki, more than an hour (max_chunk_age / 2)
    older than the stream's newest entry, are refused by the ingester, which lists them.
    (Within one push the sidecar sorts a stream's entries, so they must come later.)"""
    service = "behind"
    start = now_ns() - 60 * SECOND
    log = tmp_path / "app.log"
    log.write_text("".join(_record(n, start + n * 1000) for n in range(100)))
    with sidecar_process(tmp_path, real_loki.push_url, _source(service, log)) as sidecar:
        _wait_settled(sidecar, 100)
        with log.open("a") as more:
            more.write("".join(_record(1000 + n, start - 2 * HOUR - n) for n in range(4)))
        _wait_settled(sidecar, 104)
        shipped = sidecar.metric("sidecar_log_lines_shipped_total")
        behind = sidecar.metric("sidecar_log_lines_dropped_total", reason="too_far_behind")
    stored = real_loki.query_range(f'{{service_name="{service}"}}', start - 3 * HOUR, now_ns())
    assert (shipped, behind, len(stored)) == (100, 4, 100)


def _ship_late(
    tmp_path: Path, real_loki: RunningLoki, service: str, late: list[str], start: int
) -> Outcome:
    """100 lines (info and error) shipped, then `late` appended in one write (one batch
    per stream), every line settled; what was counted, and what Loki stored."""
    log = tmp_path / "app.log"
    log.write_text("".join(_record(n, start + n * 1000, LEVELS[n % 2 * 2]) for n in range(100)))
    source = _source(service, log)
    with sidecar_process(tmp_path, real_loki.push_url, source) as sidecar:
        _wait_settled(sidecar, 100)
        with log.open("a") as more:
            more.write("".join(late))
        _wait_settled(sidecar, 100 + len(late))
        shipped = sidecar.metric("sidecar_log_lines_shipped_total")
        dropped = {
            reason: sidecar.metric("sidecar_log_lines_dropped_total", reason=reason)
            for reason in (*REASONS, "rejected")
        }
    window = (start - 10 * DAY, now_ns())
    stored = len(real_loki.query_range(f'{{service_name="{service}"}}', *window))
    return Outcome(shipped, {k: v for k, v in dropped.items() if v}, stored)


def test_a_refusal_in_one_level_stream_is_not_hidden_by_another(
    tmp_path: Path, real_loki: RunningLoki
) -> None:
    """Loki's ingester answers a push with its verdict on the push's last stream only
    (instance.Push overwrites appendErr per stream): info lines refused as too far
    behind, pushed together with accepted error lines, were answered 204. The sidecar
    pushes one stream at a time, so each refusal is its own push's answer."""
    start = now_ns() - 60 * SECOND
    late = [_record(1000 + n, start - 2 * HOUR - n) for n in range(4)]
    late += [_record(2000 + n, start + 200_000 + n, "error") for n in range(3)]
    outcome = _ship_late(tmp_path, real_loki, "two-streams", late, start)
    assert outcome == Outcome(shipped=103, dropped={"too_far_behind": 4}, stored=103)


def test_distributor_refusals_behind_an_ingester_refusal_are_counted(
    tmp_path: Path, real_loki: RunningLoki
) -> None:
    """When the ingester refuses entries of a push, its answer replaces the distributor's,
    so entries the distributor refused (too old, here) go unnamed; "total ignored: N out
    of M" counts only the M that reached the ingester, and the rest of the batch is
    counted as `rejected`."""
    start = now_ns() - 60 * SECOND
    late = [_record(1000 + n, start - 2 * HOUR - n) for n in range(4)]
    late += [_record(2000 + n, start - 8 * DAY - n * SECOND) for n in range(3)]
    outcome = _ship_late(tmp_path, real_loki, "behind-and-old", late, start)
    assert outcome == Outcome(shipped=100, dropped={"too_far_behind": 4, "rejected": 3}, stored=100)


def test_too_long_lines_are_counted_by_reason(tmp_path: Path, real_loki: RunningLoki) -> None:
    start = now_ns() - 60 * SECOND
    records = [_record(n, start + n * 1000) for n in range(50)]
    records.append(_record(99, start + 50_000, padding="p" * (300 * 1024)))
    outcome = _ship(tmp_path, real_loki, "too-long", records, start)
    assert outcome == Outcome(shipped=50, dropped={"line_too_long": 1}, stored=50)


def test_grouped_refusals_are_counted_one_per_entry(tmp_path: Path, real_loki: RunningLoki) -> None:
    """Entries refused for the same reason in the same second get the same message, which
    Loki sends once as "N errors like: ..."."""
    start = now_ns() - 60 * SECOND
    ancient = (start - 8 * DAY) // SECOND * SECOND
    records = [_record(n, start + n * 1000) for n in range(50)]
    records += [_record(1000 + n, ancient + n) for n in range(5)]
    outcome = _ship(tmp_path, real_loki, "grouped", records, start)
    assert outcome == Outcome(shipped=50, dropped={"greater_than_max_sample_age": 5}, stored=50)
