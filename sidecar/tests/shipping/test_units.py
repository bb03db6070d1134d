"""Unit tests of the pieces: acks, positions, timestamps, rejections, backoff, tailer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sidecar.shipping import positions as positions_module
from sidecar.shipping.acks import FileAcks
from sidecar.shipping.labels import render
from sidecar.shipping.loki_client import LokiClient, parse_retry_after
from sidecar.shipping.positions import Position, PositionsStore
from sidecar.shipping.rejections import dropped_by_reason
from sidecar.shipping.tailer import Tailer, new_generation, position_fits, resumed_generation
from sidecar.shipping.timestamps import parse_epoch, parse_rfc3339

from sidecar.config import LokiConfig
from tests.support.loki_double import parse_labels


def test_checkpoint_advances_only_over_a_prefix_of_acknowledged_segments():
    acks = FileAcks(0)
    first, second, third = acks.add(100, 2), acks.add(200, 1), acks.add(300, 1)
    third.ack(1)  # a later batch answered first
    second.ack(1)
    assert acks.committed == 0
    first.ack(1)
    assert acks.committed == 0  # one entry of the first segment is still in flight
    first.ack(1)
    assert acks.committed == 300
    assert acks.outstanding == 0


def test_empty_segment_advances_in_order():
    acks = FileAcks(0)
    first = acks.add(10, 1)
    acks.add(20, 0)  # e.g. only blank lines
    assert acks.committed == 0
    first.ack(1)
    assert acks.committed == 20


def test_positions_are_written_atomically(tmp_path, monkeypatch):
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        assert Path(src).read_bytes()  # complete before it becomes visible
        calls.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(positions_module.os, "fsync", fsync)
    monkeypatch.setattr(positions_module.os, "replace", replace)
    store = PositionsStore(tmp_path / "state" / "positions.json")
    saved = {"app/1:2": Position("/x.log", 42, "ab", 3, [(40, 7)], observed=42)}
    store.save(saved, 1)
    assert calls == ["fsync-file", "rename", "fsync-dir"]
    assert store.load() == saved
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["positions.json"]


def test_unreadable_positions_restart_from_zero(tmp_path):
    path = tmp_path / "positions.json"
    path.write_text("{torn")
    assert PositionsStore(path).load() == {}


def _tailer(path: Path, resume: Position | None = None, max_line: int = 1024) -> Tailer:
    fd = os.open(path, os.O_RDONLY)
    if resume is not None and position_fits(fd, resume):
        generation = resumed_generation(fd, resume)
    else:
        generation = new_generation(fd)
    return Tailer("k", str(path), fd, max_line, 64, generation)


def test_resume_checks_offset_and_fingerprint(tmp_path):
    path = tmp_path / "a.log"
    path.write_bytes(b"one\ntwo\nthree\n")
    first = _tailer(path)
    good = Position(str(path), 8, first.gen.fp, first.gen.fp_len)
    first.close()
    resumed = _tailer(path, good)
    assert resumed.read_offset == 8
    assert resumed.reader.read_chunk().lines == [b"three"]
    resumed.close()
    past_end = _tailer(path, Position(str(path), 99, good.fingerprint, good.fingerprint_len))
    assert past_end.read_offset == 0
    past_end.close()
    other = _tailer(path, Position(str(path), 8, "0" * 32, good.fingerprint_len))
    assert other.read_offset == 0
    other.close()


def test_lines_carry_offsets_across_chunks_and_partial_is_held(tmp_path):
    path = tmp_path / "a.log"
    path.write_bytes(b"a" * 100 + b"\nbb\ncc")  # chunk size 64 splits the first line
    tailer = _tailer(path)
    lines = []
    while (chunk := tailer.reader.read_chunk()) is not None:
        lines.extend(zip(chunk.lines, chunk.starts(), strict=True))
    assert lines == [(b"a" * 100, 0), (b"bb", 101)]
    assert tailer.reader.held_bytes == 2
    partial = tailer.reader.take_partial()
    assert list(zip(partial.lines, partial.starts(), strict=True)) == [(b"cc", 104)]
    assert partial.end_offset == 106
    tailer.close()


def test_truncation_is_detected(tmp_path):
    path = tmp_path / "a.log"
    path.write_bytes(b"one\ntwo\n")
    tailer = _tailer(path)
    tailer.reader.read_chunk()
    assert tailer.refresh() is None
    path.write_bytes(b"x\n")
    ended = tailer.refresh()
    assert ended is not None
    assert ended.resume_at == 8  # a copy would continue after "two"
    assert tailer.read_offset == 0
    tailer.close()


def test_read_time_anchor_is_reused_below_the_floor(tmp_path):
    path = tmp_path / "a.log"
    path.write_bytes(b"a\nb\n")
    tailer = _tailer(path)
    ts_a, created = tailer.gen.read_time(0, now_ns=1_000)
    assert (ts_a, created) == (1_000, True)
    assert tailer.gen.read_time(2, now_ns=1_005) == (1_002, False)
    saved = tailer.position()
    tailer.close()
    # After a restart, lines that may have been sent keep the persisted anchor.
    again = _tailer(
        path, Position(str(path), 0, saved.fingerprint, saved.fingerprint_len, saved.anchors)
    )
    assert again.gen.read_time(2, now_ns=9_999_999_999) == (1_002, False)
    again.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T10:00:01.001Z", 1795600801_001_000_000),
        ("2026-11-25T10:00:01Z", 1795600801_000_000_000),
        ("2026-11-25T11:00:01.000000123+01:00", 1795600801_000_000_123),
        ("2026-11-25 10:00:01,5", 1795600801_500_000_000),
        ("not a time", None),
    ],
)
def test_rfc3339(text, expected):
    assert parse_rfc3339(text) == expected


def test_epoch_units_by_magnitude():
    assert parse_epoch(1795600801) == 1795600801 * 10**9
    assert parse_epoch(1795600801001) == 1795600801001 * 10**6
    assert parse_epoch(-1) is None


def test_rejection_reasons_from_ingester_and_distributor_bodies():
    """Bodies in real Loki's words (pkg/validation/validate.go, pkg/ingester/stream.go,
    pkg/util/errors.GroupedErrors at the pinned commit)."""
    stream = '{level="info", service_name="app", source="app"}'
    ingester = (
        "entry with timestamp 2026-11-25 10:00:00 +0000 UTC ignored, reason: 'entry too far "
        "behind, entry timestamp is: 2026-11-25T10:00:00Z, oldest acceptable timestamp is: "
        "2026-11-25T11:00:00Z',\n"
        "entry with timestamp 2026-11-25 10:00:01 +0000 UTC ignored, reason: 'entry out of "
        f"order',\nuser 'fake', total ignored: 2 out of 5 for stream: {stream}"
    )
    assert dropped_by_reason(ingester, 5) == {"too_far_behind": 1, "out_of_order": 1}
    # 7 in the batch, 5 reached the ingester: 2 refused by the distributor, reason unsaid.
    assert dropped_by_reason(ingester, 7) == {
        "too_far_behind": 1,
        "out_of_order": 1,
        "rejected": 2,
    }
    # More refused than listed (max_returned_stream_errors): counted, reason unsaid.
    more = ingester.replace("total ignored: 2 out of 5", "total ignored: 12 out of 20")
    assert dropped_by_reason(more, 20) == {"too_far_behind": 1, "out_of_order": 1, "rejected": 10}
    # A sharded stream: M is the shard's, nothing is inferred from it.
    sharded = ingester.replace('source="app"}', 'source="app", __stream_shard__="1"}')
    assert dropped_by_reason(sharded, 9) == {"too_far_behind": 1, "out_of_order": 1}

    too_long = (
        f"max entry size '10' bytes exceeded for stream '{stream}' while adding an entry "
        "with length '12' bytes"
    )
    assert dropped_by_reason(too_long + "\n", 5) == {"line_too_long": 1}
    old = (
        f"entry for stream '{stream}' has timestamp too old: 2026-11-17T10:00:00Z, oldest "
        "acceptable timestamp is: 2026-11-18T10:00:00Z"
    )
    new = f"entry for stream '{stream}' has timestamp too new: 2026-11-25T13:00:00Z"
    assert dropped_by_reason(f"5 errors like: {old}", 50) == {"greater_than_max_sample_age": 5}
    grouped = f"3 errors like: {old}; 1 errors like: {too_long}; 2 errors like: {new}\n"
    assert dropped_by_reason(grouped, 50) == {
        "greater_than_max_sample_age": 3,
        "line_too_long": 1,
        "too_far_in_future": 2,
    }
    assert dropped_by_reason("couldn't parse labels: invalid label name '1bad'\n", 4) == {
        "invalid_labels": 4
    }
    labels = "error parsing labels '{1=2}' with error: 1:2: parse error"
    assert dropped_by_reason(labels, 4) == {"invalid_labels": 4}
    assert dropped_by_reason("something Loki never said", 3) == {"rejected": 3}
    # Never more than the batch held.
    assert dropped_by_reason(f"9 errors like: {old}", 4) == {"greater_than_max_sample_age": 4}


def test_backoff_is_full_jitter_capped_and_honours_retry_after():
    client = LokiClient(LokiConfig(backoff={"min_seconds": 1, "max_seconds": 8}))
    delays = [client.backoff(10, None) for _ in range(200)]
    assert max(delays) <= 8
    assert min(delays) < 4  # jittered down to 0, not a fixed 8
    assert client.backoff(0, 5.0) >= 5.0
    assert client.backoff(0, 10_000.0) == 300.0  # capped Retry-After
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_tls_verification_is_on_by_default():
    assert LokiConfig().tls.insecure_skip_verify is False


def test_rendered_labels_round_trip_through_lokis_syntax():
    labels = {"service_name": 'we"ird\\name', "level": "info", "source": "a\nb"}
    assert parse_labels(render(labels)) == labels
