"""The shipper's failure paths (issue 11's findings), each with the test that caught it.

Every test here failed on the code before the fix; the number is the finding's.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading

import httpx
import orjson
import pytest
from sidecar.shipping import encoding as encoding_module
from sidecar.shipping import positions as positions_module

from .access_requests import access_line, access_source, paused_config, requests_recorded


def _total(sidecar, harness, name: str) -> float:  # type: ignore[no-untyped-def]
    return sum(
        s.value
        for family in sidecar.registry.collect()
        for s in family.samples
        if s.name == name and s.labels.get("source") == "app"
    )


# -- 1. a poison line ------------------------------------------------------------------


async def test_1_timestamps_loki_cannot_store_are_bad_timestamp_and_shipped(harness):
    path = harness.logs / "app.log"
    poison = [
        b'{"timestamp": 1e30, "message": "huge"}',
        b'{"timestamp": -5, "message": "negative"}',
        b'{"timestamp": "1969-12-31T23:59:59Z", "message": "before 1970"}',
        b'{"timestamp": "9999-12-31T23:59:59Z", "message": "past int64 ns"}',
        b'{"timestamp": 123456789012345678901234567890, "message": "bigint"}',
    ]
    path.write_bytes(
        harness.json_line(1).encode() + b"\n".join(poison) + b"\n" + harness.json_line(2).encode()
    )
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(
            lambda: harness.saved_offset() == path.stat().st_size,
            what="checkpoint at the end",
        )
        assert len(harness.loki.lines()) == 7
        assert (
            harness.metric(sidecar, "sidecar_log_lines_malformed_total", reason="bad_timestamp")
            == 5
        )
        for entries in harness.loki.streams().values():
            assert all(0 <= e.ts < 2**63 for e in entries)
        assert (await _ready(sidecar))["status"] == "pass"


async def test_1_an_entry_that_cannot_be_encoded_is_dropped_alone_and_acknowledged(
    harness, poison_refused, caplog
):
    path = harness.logs / "app.log"
    path.write_text(
        harness.json_line(1) + harness.json_line(2, note="poison") + harness.json_line(3)
    )
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(
            lambda: harness.saved_offset() == path.stat().st_size,
            what="checkpoint at the end",
        )
        assert sorted(json.loads(x)["message"] for x in harness.loki.lines()) == [
            "line 1",
            "line 3",
        ]
        assert (
            harness.metric(sidecar, "sidecar_log_lines_dropped_total", reason="encoding_error") == 1
        )
        assert harness.metric(sidecar, "sidecar_log_lines_shipped_total") == 2
    assert any("cannot be encoded" in r.getMessage() for r in caplog.records)


# -- 4. torn checkpoints ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"null",
        b"[]",
        b'{"files": []}',
        orjson.dumps(
            {
                "files": {
                    "app/1:2": {
                        "path": "x",
                        "offset": -10,
                        "fingerprint": "a",
                        "fingerprint_len": 1,
                    }
                }
            }
        ),
        b"{torn",
    ],
)
async def test_4_a_wrong_shaped_positions_file_is_moved_aside_and_files_start_from_0(
    harness, content
):
    positions = harness.tmp_path / "positions.json"
    positions.write_bytes(content)
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1) + harness.json_line(2))
    async with harness.running(harness.config()):
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="2 lines")
        await harness.eventually(
            lambda: harness.saved_offset() == path.stat().st_size, what="new checkpoint"
        )
    aside = list(harness.tmp_path.glob("positions.json.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes() == content


async def test_4_a_negative_offset_in_a_matching_checkpoint_does_not_kill_reading(harness):
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1))
    async with harness.running(harness.config()):
        await harness.eventually(
            lambda: harness.saved_offset() == path.stat().st_size, what="saved"
        )
    data = json.loads((harness.tmp_path / "positions.json").read_text())
    for entry in data["files"].values():
        entry["offset"] = -100
    (harness.tmp_path / "positions.json").write_text(json.dumps(data))
    with path.open("a") as handle:
        handle.write(harness.json_line(2))
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(
            lambda: harness.saved_offset() == path.stat().st_size, what="read on"
        )
        assert sidecar.ready()
    assert sorted(harness.loki.lines()) == sorted(
        [harness.json_line(1).strip(), harness.json_line(2).strip()]
    )


async def test_4_shutdown_waits_for_an_in_flight_save_and_writes_one_at_a_time(
    harness, monkeypatch
):
    active, overlaps = [0], [0]
    lock = threading.Lock()
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        with lock:
            active[0] += 1
            overlaps[0] = max(overlaps[0], active[0])
        threading.Event().wait(0.2)  # a slow disk
        real_fsync(fd)
        with lock:
            active[0] -= 1

    monkeypatch.setattr(positions_module.os, "fsync", slow_fsync)
    path = harness.logs / "app.log"
    for run in range(3):
        with path.open("a") as handle:
            handle.write(harness.json_line(run))
        async with harness.running(harness.config()):
            await harness.eventually(lambda n=run: len(harness.loki.lines()) == n + 1, what="line")
        saved = json.loads((harness.tmp_path / "positions.json").read_text())  # never torn
        assert [e["offset"] for e in saved["files"].values()] == [path.stat().st_size]
    assert overlaps[0] == 1
    leftovers = [p.name for p in harness.tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


async def test_4_the_temp_file_is_never_opened_through_a_symlink(harness):
    victim = harness.tmp_path / "victim"
    victim.write_text("keep me")
    for name in (".positions.json.tmp", "positions.json.tmp"):
        (harness.tmp_path / name).symlink_to(victim)
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1))
    async with harness.running(harness.config()):
        await harness.eventually(
            lambda: harness.saved_offset() == path.stat().st_size, what="saved"
        )
    assert victim.read_text() == "keep me"


# -- 5. blocking work on the loop that serves /health ----------------------------------


async def test_5_reading_and_encoding_stay_off_the_event_loop_thread(harness, monkeypatch):
    loop_thread = threading.get_ident()
    seen: dict[str, set[int]] = {"pread": set(), "encode": set()}
    real_pread = os.pread
    real_encode = encoding_module.ENCODERS["protobuf"]

    def pread(fd: int, n: int, offset: int) -> bytes:
        seen["pread"].add(threading.get_ident())
        return real_pread(fd, n, offset)

    def encode(streams):  # type: ignore[no-untyped-def]
        seen["encode"].add(threading.get_ident())
        return real_encode(streams)

    monkeypatch.setattr(os, "pread", pread)
    monkeypatch.setitem(encoding_module.ENCODERS, "protobuf", encode)
    path = harness.logs / "app.log"
    path.write_text("".join(harness.json_line(n) for n in range(2000)))
    async with harness.running(harness.config()):
        await harness.eventually(lambda: len(harness.loki.lines()) == 2000, what="all lines")
    assert seen["pread"]
    assert seen["encode"]
    assert loop_thread not in seen["pread"] | seen["encode"]


# -- 6. access-log metrics do not wait for Loki -----------------------------------------


async def test_6_access_log_metrics_count_every_line_while_loki_is_down_and_once_only(harness):
    total = 3000
    path = harness.logs / "access.log"
    path.write_text("".join(access_line(n) for n in range(total)))
    config = paused_config(harness, access_source(harness.logs))
    harness.loki.fail(500)
    async with harness.running(config) as sidecar:
        await harness.eventually(lambda: requests_recorded(sidecar) == total, what="every request")
        assert harness.metric(sidecar, "sidecar_log_lines_shipped_total") == 0
        assert harness.metric(sidecar, "sidecar_log_lines_read_total") < total  # paused
    harness.loki.fail(None)
    async with harness.running(config) as sidecar:
        await harness.eventually(lambda: len(harness.loki.lines()) == total, what="all shipped")
        assert requests_recorded(sidecar) == 0  # recorded before the restart, not again


# -- 8. copytruncate -----------------------------------------------------------------------


async def test_8_a_copytruncate_copy_inside_the_glob_is_not_pushed_again(harness):
    path = harness.logs / "app.log"
    written = 500
    path.write_text("".join(harness.json_line(n) for n in range(written)))
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(lambda: len(harness.loki.lines()) == written, what="500 lines")
        # logrotate's copytruncate: copy, then truncate in place; the copy is in the glob.
        (harness.logs / "app.log.1").write_bytes(path.read_bytes())
        with path.open("r+") as handle:
            handle.truncate(0)
        with path.open("a") as handle:
            handle.write("".join(harness.json_line(n) for n in range(written, written + 5)))
            written += 5
        await harness.eventually(lambda: len(harness.loki.lines()) == written, what="new lines")

        def copy_done() -> bool:
            # The copy is tracked and everything it holds is acknowledged: had it been read
            # from 0, its lines would have been pushed by now.
            copy = harness.logs / "app.log.1"
            return any(
                t.path == str(copy) and t.acks.committed == copy.stat().st_size
                for t in sidecar.shipping.pipelines[0].tailers.values()
            )

        await harness.eventually(copy_done, what="the copy tracked and acknowledged")
    pushed = sum(r.entries for r in harness.loki.requests)
    assert pushed / written <= 1.01, (pushed, written)


async def _ready(sidecar) -> dict:  # type: ignore[type-arg]
    port = sidecar.config.server.port
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{port}/health/ready")).json()


# -- readiness tells the truth: a stalled source -------------------------------------------


async def test_a_source_with_a_backlog_and_no_progress_is_reported_stalled(harness, monkeypatch):
    from sidecar.shipping.sender import Sender

    async def stuck(self, batch, before):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()  # a sender that never finishes, Loki never failing

    monkeypatch.setattr(Sender, "send", stuck)
    (harness.logs / "app.log").write_text(harness.json_line(1))
    config = harness.config(shipping={"stall_after_seconds": 0.3})
    async with harness.running(config) as sidecar:
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_source_stalled") == 1, what="stalled"
        )
        await harness.eventually(
            lambda: any(s.stalled for s in sidecar.readiness()[1]), what="status published"
        )
        body = await _ready(sidecar)
        assert body["status"] == "warn"
        assert "nothing acknowledged" in body["checks"]["shipping:app"][0]["output"]
        monkeypatch.undo()


async def test_a_source_waiting_on_an_unreachable_loki_is_not_called_stalled(harness):
    from tests.support import free_port

    (harness.logs / "app.log").write_text(harness.json_line(1))
    dead = f"http://127.0.0.1:{free_port()}/loki/api/v1/push"
    config = harness.config(loki={"url": dead}, shipping={"stall_after_seconds": 0.3})
    async with harness.running(config) as sidecar:
        await harness.eventually(
            lambda: (
                harness.metric(sidecar, "sidecar_log_ship_requests_total", outcome="error") >= 3
            ),
            what="failed pushes",
        )
        assert harness.metric(sidecar, "sidecar_log_source_stalled") == 0
        assert (await _ready(sidecar))["status"] == "pass"
