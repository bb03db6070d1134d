"""Files: rotation both ways, deletion, restarts from checkpoints, stable re-sends."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

from tests.support.loki_double import parse_labels


def _lines(harness) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(json.loads(line)["message"] for line in harness.loki.lines())


def _expect(*numbers: int) -> list[str]:
    return sorted(f"line {n}" for n in numbers)


async def test_rename_and_create_drains_the_old_file_first(harness):
    path = harness.logs / "app.log"
    async with harness.running(harness.config()) as sidecar:
        with path.open("a") as writer:
            writer.write(harness.json_line(1) + harness.json_line(2))
            writer.flush()
            await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="2 lines")
            # Rotated outside the glob; the writer still holds the old file for a moment.
            os.rename(path, harness.logs / "app.old")
            path.write_text(harness.json_line(5))
            writer.write(harness.json_line(3) + harness.json_line(4))
        await harness.eventually(lambda: len(harness.loki.lines()) == 5, what="5 lines")
        pipeline = sidecar.shipping.pipelines[0]
        await harness.eventually(lambda: len(pipeline.tailers) == 1, what="old file released")
    assert _lines(harness) == _expect(1, 2, 3, 4, 5)


async def test_copytruncate_is_detected_and_read_from_zero(harness):
    path = harness.logs / "app.log"
    path.write_text("".join(harness.json_line(n) for n in range(1, 6)))
    async with harness.running(harness.config()):
        await harness.eventually(lambda: len(harness.loki.lines()) == 5, what="5 lines")
        shutil.copy(path, harness.tmp_path / "app.copy")  # outside the glob
        with path.open("r+") as handle:
            handle.truncate(0)
        path.write_text(harness.json_line(6))  # shorter than the old offset
        await harness.eventually(lambda: len(harness.loki.lines()) == 6, what="line 6")
    assert _lines(harness) == _expect(1, 2, 3, 4, 5, 6)


async def test_deleted_file_is_released(harness):
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1))
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(lambda: harness.loki.lines(), what="line 1")
        tailer = next(iter(sidecar.shipping.pipelines[0].tailers.values()))
        fd_link = f"/proc/self/fd/{tailer.fd}"
        path.unlink()
        await harness.eventually(lambda: not sidecar.shipping.pipelines[0].tailers, what="release")
        assert not os.path.exists(fd_link) or "app.log" not in os.readlink(fd_link)


def _tailer_at(sidecar, path):  # type: ignore[no-untyped-def]
    return next(
        (t for t in sidecar.shipping.pipelines[0].tailers.values() if t.path == str(path)), None
    )


async def test_a_quiet_file_one_scan_misses_is_kept_until_rotate_wait_has_passed(harness):
    # A rotation that shifts app.log.N up renames files between the glob and its stat, so a
    # scan can miss a file that is still there. Long quiet and fully shipped, it used to be
    # released in that very scan, and read again from 0 when the next scan found it.
    path = harness.logs / "app.log"
    path.write_text("".join(harness.json_line(n) for n in range(50)))
    config = harness.config(shipping={"rotate_wait_seconds": 2.0})
    async with harness.running(config) as sidecar:
        await harness.eventually(lambda: len(harness.loki.lines()) == 50, what="50 lines")
        tailer = _tailer_at(sidecar, path)
        assert tailer is not None
        await harness.eventually(
            lambda: time.monotonic() - tailer.last_growth >= 2.0 and not tailer.acks.outstanding,
            what="the file quiet for rotate_wait_seconds and acknowledged",
        )
        aside = harness.logs / "app.moving"  # outside the glob, as if between glob and stat
        os.rename(path, aside)
        await harness.eventually(lambda: tailer.detached_at is not None, what="a scan missing it")
        assert tailer.key in sidecar.shipping.pipelines[0].tailers, "released at once"
        os.rename(aside, path)
        await harness.eventually(lambda: tailer.detached_at is None, what="found again")
        with path.open("a") as handle:
            handle.write(harness.json_line(50))
        await harness.eventually(lambda: len(harness.loki.lines()) == 51, what="line 50")
    assert _lines(harness) == _expect(*range(51))
    # Loki collapses a re-sent line; what was pushed shows a second read.
    assert sum(r.entries for r in harness.loki.requests) == 51


async def test_a_released_file_that_comes_back_is_not_read_again(harness):
    path = harness.logs / "app.log"
    path.write_text("".join(harness.json_line(n) for n in range(50)))
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(lambda: len(harness.loki.lines()) == 50, what="50 lines")
        pipeline = sidecar.shipping.pipelines[0]
        aside = harness.tmp_path / "app.log"  # left the glob for longer than rotate_wait
        os.rename(path, aside)
        await harness.eventually(lambda: not pipeline.tailers, what="the file released")
        os.rename(aside, path)

        def acknowledged() -> bool:
            # Tracked again and all of it acknowledged: had it been read from 0, its lines
            # would have been pushed by now.
            tailer = _tailer_at(sidecar, path)
            return tailer is not None and tailer.acks.committed == path.stat().st_size

        await harness.eventually(acknowledged, what="the file tracked again")
        with path.open("a") as handle:
            handle.write(harness.json_line(50))
        await harness.eventually(lambda: len(harness.loki.lines()) == 51, what="line 50")
    assert _lines(harness) == _expect(*range(51))
    # Loki collapses a re-sent line; what was pushed shows a second read.
    assert sum(r.entries for r in harness.loki.requests) == 51


async def test_several_rotations_between_two_reads_lose_nothing_on_disk(harness):
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1))
    config = harness.config(shipping={"poll_interval_seconds": 1.0, "scan_interval_seconds": 1.0})
    async with harness.running(config):
        await harness.eventually(lambda: harness.loki.lines(), what="line 1")
        with path.open("a") as handle:
            handle.write(harness.json_line(2))
        # Three rename rotations, well inside one poll/scan interval.
        for n in (3, 4, 5):
            for older in sorted(harness.logs.glob("app.log.*"), reverse=True):
                index = int(older.suffix[1:])
                os.rename(older, harness.logs / f"app.log.{index + 1}")
            os.rename(path, harness.logs / "app.log.1")
            path.write_text(harness.json_line(n))
        await harness.eventually(lambda: len(harness.loki.lines()) == 5, what="5 lines")
    assert _lines(harness) == _expect(1, 2, 3, 4, 5)


async def test_restart_resumes_from_the_checkpoint(harness):
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1) + harness.json_line(2))
    async with harness.running(harness.config()):
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="2 lines")
    first_run = sum(r.entries for r in harness.loki.requests)
    with path.open("a") as handle:
        handle.write(harness.json_line(3))
    async with harness.running(harness.config()):
        await harness.eventually(lambda: len(harness.loki.lines()) == 3, what="3 lines")
    assert first_run == 2
    assert sum(r.entries for r in harness.loki.requests) == 3  # only line 3 was re-read


async def test_a_checkpointed_file_the_first_scan_misses_resumes_when_it_comes_back(harness):
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1) + harness.json_line(2))
    async with harness.running(harness.config()):
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="2 lines")
    aside = harness.tmp_path / "app.log"  # out of the glob while the sidecar starts
    os.rename(path, aside)
    async with harness.running(harness.config()) as sidecar:
        pipeline = sidecar.shipping.pipelines[0]
        await harness.eventually(
            lambda: any("/retired:" in key for key in pipeline.positions()),
            what="the checkpoint kept for the file not found",
        )
        os.rename(aside, path)
        with path.open("a") as handle:
            handle.write(harness.json_line(3))
        await harness.eventually(lambda: len(harness.loki.lines()) == 3, what="line 3")
    # Only line 3 was read: the file is its own checkpoint's continuation.
    assert sum(r.entries for r in harness.loki.requests) == 3


def _positions(harness) -> dict:  # type: ignore[type-arg]
    return json.loads((harness.tmp_path / "positions.json").read_text())


def _rewrite_positions(harness, **changes: int) -> None:  # type: ignore[no-untyped-def]
    data = _positions(harness)
    for entry in data["files"].values():
        entry.update(changes)
    (harness.tmp_path / "positions.json").write_text(json.dumps(data))


async def test_checkpoint_past_end_of_file_restarts_from_zero(harness):
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1) + harness.json_line(2))
    async with harness.running(harness.config()):
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="2 lines")
    _rewrite_positions(harness, offset=path.stat().st_size + 100)
    async with harness.running(harness.config()):
        await harness.eventually(lambda: harness.loki.collapsed == 2, what="re-send collapsed")
    assert sum(r.entries for r in harness.loki.requests) == 4


async def test_fingerprint_mismatch_restarts_from_zero(harness):
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1) + harness.json_line(2))
    async with harness.running(harness.config()):
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="2 lines")
    inode = path.stat().st_ino
    with path.open("r+") as handle:  # same inode, other content, longer than the offset
        handle.write(harness.json_line(7) + harness.json_line(8) + harness.json_line(9))
    assert path.stat().st_ino == inode
    async with harness.running(harness.config()):
        await harness.eventually(lambda: len(harness.loki.lines()) == 5, what="5 lines")
    assert _lines(harness) == _expect(1, 2, 7, 8, 9)


async def test_resend_after_crash_collapses_for_record_and_read_time_timestamps(harness):
    # One JSON source (record timestamps) and one text source without timestamps.
    (harness.logs / "app.log").write_text(harness.json_line(1) + harness.json_line(2))
    (harness.logs / "plain.txt").write_text("no timestamp a\nno timestamp b\n")
    sources = [
        {"name": "app", "service_name": "svc", "paths": [str(harness.logs / "*.log")]},
        {
            "name": "plain",
            "service_name": "svc",
            "paths": [str(harness.logs / "*.txt")],
            "format": "text",
        },
    ]
    async with harness.running(harness.config(sources=sources)):
        await harness.eventually(lambda: len(harness.loki.lines()) == 4, what="4 lines")
    # A crash between Loki's answer and the checkpoint leaves the old offset behind.
    _rewrite_positions(harness, offset=0)
    async with harness.running(harness.config(sources=sources)):
        await harness.eventually(lambda: harness.loki.collapsed == 4, what="4 collapsed")
    assert len(harness.loki.lines()) == 4
    plain = [k for k in harness.loki.streams() if parse_labels(k)["source"] == "plain"]
    assert len(plain) == 1


async def test_the_last_line_of_a_released_file_is_shipped_though_it_has_no_newline(harness):
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1) + harness.json_line(2).rstrip("\n"))
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(lambda: len(harness.loki.lines()) == 1, what="line 1")
        os.rename(path, harness.tmp_path / "app.old")  # rotated away: no newline will come
        pipeline = sidecar.shipping.pipelines[0]
        await harness.eventually(lambda: not pipeline.tailers, what="the file released")
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="line 2")
    assert _lines(harness) == _expect(1, 2)


async def _wait_for_a_scan(harness, name: str) -> None:  # type: ignore[no-untyped-def]
    """Returns once a scan has run that started after this call: one that found `name`,
    a new file, and shipped its line."""
    before = len(harness.loki.lines())
    (harness.logs / name).write_text(harness.json_line(100 + before))
    await harness.eventually(lambda: len(harness.loki.lines()) == before + 1, what=name)


async def test_a_copy_of_a_file_still_read_whole_is_not_read(harness):
    path = harness.logs / "app.log"
    # Over FINGERPRINT_BYTES, so the head the copy is known by stops growing with the file.
    path.write_text("".join(harness.json_line(n) for n in range(20)))
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(lambda: len(harness.loki.lines()) == 20, what="20 lines")
        copy = harness.logs / "app.log.1"  # in the glob, as copytruncate makes it
        shutil.copyfile(path, copy)
        await _wait_for_a_scan(harness, "witness.log")
        assert _tailer_at(sidecar, copy) is None
        with path.open("a") as handle:
            handle.write(harness.json_line(20))
        await harness.eventually(lambda: len(harness.loki.lines()) == 22, what="line 20")
    # Nothing of the copy was pushed: it holds nothing the original does not.
    assert sum(r.entries for r in harness.loki.requests) == 22


async def test_a_copy_caught_while_still_empty_is_not_read_again_once_filled(harness):
    path = harness.logs / "app.log"
    # Over FINGERPRINT_BYTES, so the head the copy is known by stops growing with the file.
    path.write_text("".join(harness.json_line(n) for n in range(20)))
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(lambda: len(harness.loki.lines()) == 20, what="20 lines")
        copy = harness.logs / "app.log.1"
        copy.touch()  # copytruncate's copy, created before its content is written
        await _wait_for_a_scan(harness, "witness.log")
        shutil.copyfile(path, copy)
        with path.open("r+") as handle:
            handle.truncate(0)
        path.write_text(harness.json_line(20))

        def copy_acknowledged() -> bool:
            tailer = _tailer_at(sidecar, copy)
            return tailer is not None and tailer.acks.committed == copy.stat().st_size

        await harness.eventually(copy_acknowledged, what="the copy tracked, all acknowledged")
        await harness.eventually(lambda: len(harness.loki.lines()) == 22, what="line 20")
    # Read from 0 once it filled, the copy's 20 lines would have been pushed again.
    assert sum(r.entries for r in harness.loki.requests) == 22


async def test_a_copy_that_continues_a_checkpoint_resends_lines_with_their_read_times(harness):
    # Text lines carry no timestamp: each gets its read time, from an anchor that is
    # checkpointed so that a re-sent line gets the same one and Loki collapses it.
    path = harness.logs / "app.log"
    path.write_text("alpha\nbeta\n")
    sources = [{"name": "app", "service_name": "svc", "paths": [str(harness.logs / "*.log*")]}]
    sources[0]["format"] = "text"
    async with harness.running(harness.config(sources=sources)):
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="2 lines")
    # Down: it crashed between Loki's answer and the checkpoint, then copytruncate ran.
    _rewrite_positions(harness, offset=0)
    ((anchor_offset, anchor_ns),) = next(iter(_positions(harness)["files"].values()))["anchors"]
    assert anchor_offset == 0
    copy = harness.logs / "app.log.1"
    shutil.copyfile(path, copy)
    with path.open("r+") as handle:
        handle.truncate(0)
    # Later than one anchor's span (generation.ANCHOR_EVERY_NS), a line with no anchor
    # of its own would get a new one, and a new read time.
    await harness.eventually(lambda: time.time_ns() > anchor_ns + 2_000_000_000, what="2 s")
    async with harness.running(harness.config(sources=sources)) as sidecar:

        def copy_acknowledged() -> bool:
            tailer = _tailer_at(sidecar, copy)
            return tailer is not None and tailer.acks.committed == copy.stat().st_size

        await harness.eventually(copy_acknowledged, what="the copy re-sent and acknowledged")
    assert harness.loki.collapsed == 2
    assert sorted(harness.loki.lines()) == ["alpha", "beta"]


async def test_a_checkpoint_whose_fingerprint_covers_no_bytes_does_not_skip_anything(harness):
    # The sidecar writes one for a file truncated to nothing and written again before the
    # next scan fingerprints it: the offset is not known to belong to what is there now.
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1) + harness.json_line(2))
    async with harness.running(harness.config()):
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="2 lines")
    empty = hashlib.blake2b(b"", digest_size=16).hexdigest()
    data = _positions(harness)
    (entry,) = data["files"].values()
    assert entry["offset"] == path.stat().st_size
    entry.update(fingerprint=empty, fingerprint_len=0)
    (harness.tmp_path / "positions.json").write_text(json.dumps(data))
    async with harness.running(harness.config()):
        await harness.eventually(lambda: harness.loki.collapsed == 2, what="read from 0")
    assert sum(r.entries for r in harness.loki.requests) == 4
    # Nothing is kept for a copy to continue: no head to know one by.
    assert not any("/retired:" in key for key in _positions(harness)["files"])


async def test_a_copy_made_before_the_last_lines_were_written_is_taken_over_not_read_again(
    harness,
):
    path = harness.logs / "app.log"
    path.write_text("".join(harness.json_line(n) for n in range(20)))  # past the 1 KiB head
    early_copy = harness.tmp_path / "app.log.1"  # outside the glob for now
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(lambda: len(harness.loki.lines()) == 20, what="20 lines")
        shutil.copy(path, early_copy)
        with path.open("a") as handle:
            handle.write("".join(harness.json_line(n) for n in range(20, 30)))
        await harness.eventually(lambda: len(harness.loki.lines()) == 30, what="30 lines")
        with path.open("r+") as handle:
            handle.truncate(0)
        path.write_text(harness.json_line(30))
        await harness.eventually(lambda: len(harness.loki.lines()) == 31, what="line 30")
        # The copy ends before the last line read: it holds nothing that was not read.
        os.rename(early_copy, harness.logs / "app.log.1")

        def taken_over() -> bool:
            tailer = _tailer_at(sidecar, harness.logs / "app.log.1")
            # Taken over: acknowledged as far as the original was, past the copy's end.
            return (
                tailer is not None
                and tailer.read_offset == early_copy_size
                and tailer.acks.committed >= early_copy_size
            )

        early_copy_size = (harness.logs / "app.log.1").stat().st_size
        await harness.eventually(taken_over, what="the copy tracked, nothing left to read")
    assert sum(r.entries for r in harness.loki.requests) == 31
