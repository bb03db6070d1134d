"""The positions file in the shapes a crash, a hand edit or a full disk can leave it."""

from __future__ import annotations

import errno
import logging
import os

import orjson
import pytest
from sidecar.shipping import checkpoints as checkpoints_module
from sidecar.shipping import positions as positions_module
from sidecar.shipping.checkpoints import Checkpointer
from sidecar.shipping.positions import Position, PositionsStore

GOOD = {"path": "/logs/a.log", "offset": 8, "fingerprint": "ab", "fingerprint_len": 3}


def test_each_malformed_entry_is_dropped_and_the_valid_ones_kept(tmp_path, caplog):
    path = tmp_path / "positions.json"
    files = {
        "good": {**GOOD, "anchors": [[4, 7]], "observed": 8},
        "not-an-object": [1, 2],
        "negative-anchor": {**GOOD, "anchors": [[4, -1]]},
        "fingerprint-not-text": {**GOOD, "fingerprint": 12},
        "path-not-text": {**GOOD, "path": None},
        "no-offset": {k: v for k, v in GOOD.items() if k != "offset"},
        "anchor-not-a-pair": {**GOOD, "anchors": [[1, 2, 3]]},
        "anchor-not-a-number": {**GOOD, "anchors": [["x", 1]]},
        "anchors-not-a-list": {**GOOD, "anchors": 5},
        "fingerprint-too-long": {**GOOD, "fingerprint_len": 10**9},
        "offset-a-float": {**GOOD, "offset": 8.0},
    }
    path.write_bytes(orjson.dumps({"version": 2, "files": files}))
    with caplog.at_level(logging.ERROR, logger=positions_module.__name__):
        loaded = PositionsStore(path).load()
    assert loaded == {"good": Position("/logs/a.log", 8, "ab", 3, [(4, 7)], 8)}
    assert f"{len(files) - 1} malformed entries" in caplog.records[0].problem
    # Moved aside, so the next save does not overwrite the evidence.
    assert not path.exists()
    assert [p.name.startswith("positions.json.corrupt-") for p in tmp_path.iterdir()] == [True]


def test_a_file_without_a_files_object_is_set_aside(tmp_path):
    path = tmp_path / "positions.json"
    path.write_bytes(b'{"version": 2, "files": []}')
    assert PositionsStore(path).load() == {}
    assert not path.exists()


def test_a_positions_file_that_cannot_be_moved_aside_is_still_reported(
    tmp_path, monkeypatch, caplog
):
    """os.replace stands in for a read-only directory (root can rename in any here)."""

    def replace(src: object, dst: object) -> None:
        raise PermissionError(errno.EROFS, os.strerror(errno.EROFS))

    path = tmp_path / "positions.json"
    path.write_text("{torn")
    monkeypatch.setattr(positions_module.os, "replace", replace)
    with caplog.at_level(logging.ERROR, logger=positions_module.__name__):
        assert PositionsStore(path).load() == {}
    record = caplog.records[0]
    assert record.moved_to == f"(could not move: {os.strerror(errno.EROFS)})"
    assert record.problem.startswith("unreadable")
    assert path.exists()


def test_an_older_snapshot_never_replaces_a_newer_one(tmp_path):
    store = PositionsStore(tmp_path / "positions.json")
    newer = {"k": Position("/logs/a.log", 20, "ab", 3)}
    assert store.save(newer, 2) is True
    assert store.save({"k": Position("/logs/a.log", 10, "ab", 3)}, 1) is False
    assert store.save({"k": Position("/logs/a.log", 10, "ab", 3)}, 2) is False
    assert store.load() == newer


def test_a_full_disk_keeps_the_old_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    """os.write stands in for a full disk (ENOSPC on the temp file's write)."""
    store = PositionsStore(tmp_path / "positions.json")
    old = {"k": Position("/logs/a.log", 20, "ab", 3)}
    store.save(old, 1)

    def write(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(positions_module.os, "write", write)
    with pytest.raises(OSError, match=os.strerror(errno.ENOSPC)):
        store.save({"k": Position("/logs/a.log", 40, "ab", 3)}, 2)
    monkeypatch.undo()
    assert store.load() == old
    assert [p.name for p in tmp_path.iterdir()] == ["positions.json"]


async def test_a_checkpoint_that_cannot_be_written_is_logged_and_tried_again(tmp_path, caplog):
    blocker = tmp_path / "state"
    blocker.write_text("a file where the positions directory should be")
    store = PositionsStore(blocker / "positions.json")
    snapshot = {"k": Position("/logs/a.log", 20, "ab", 3)}
    checkpointer = Checkpointer(store, lambda: snapshot)
    with caplog.at_level(logging.ERROR, logger=checkpoints_module.__name__):
        await checkpointer.save()
    assert [r.getMessage() for r in caplog.records] == ["cannot write positions"]
    # Once the directory can be made, the same (unchanged) snapshot is written.
    blocker.unlink()
    await checkpointer.save()
    assert store.load() == snapshot
