"""The sending loop and the shipping service around it, on their failure paths.

- shutdown past the flush deadline with batches on the wire and queued behind them:
  nothing acknowledged, everything sent after the restart;
- a batch none of whose entries encodes: dropped whole, counted, acknowledged, no push;
- a push that raises (a client bug): retried, its lines delivered;
- a shipping thread that cannot start, or a shipping loop that ends: not ready, logged;
- a file released while the read loop yields: not read through its closed descriptor.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading

from prometheus_client import CollectorRegistry
from sidecar.app import Sidecar
from sidecar.shipping.budget import BufferBudget
from sidecar.shipping.checkpoints import Checkpointer
from sidecar.shipping.loki_client import LokiClient
from sidecar.shipping.metrics import ShippingMetrics
from sidecar.shipping.selfguard import SelfGuard
from sidecar.shipping.source import SourcePipeline


def _messages(harness) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(json.loads(line)["message"] for line in harness.loki.lines())


async def test_batches_in_flight_and_queued_at_the_shutdown_deadline_are_sent_after_restart(
    harness,
):
    harness.loki.fail(500)
    path = harness.logs / "app.log"
    path.write_text("".join(harness.json_line(n, padding="p" * 100) for n in range(60)))
    # Small batches of one stream: one on the wire, the next encoded and waiting behind it.
    config = harness.config(
        loki={"batch_max_bytes": 2048}, shipping={"shutdown_deadline_seconds": 0.5}
    )
    sidecar = Sidecar(config)
    stop = asyncio.Event()
    task = asyncio.create_task(sidecar.run(stop))
    await harness.eventually(
        lambda: (
            harness.metric(sidecar, "sidecar_log_ship_requests_total", outcome="server_error") >= 2
        ),
        what="pushes failing and retried",
    )
    (pipeline,) = sidecar.shipping.pipelines  # type: ignore[union-attr]
    await harness.eventually(
        lambda: len(pipeline.batcher.inflight) >= 2, what="a batch queued behind the one sent"
    )
    stop.set()
    await asyncio.wait_for(task, timeout=10)  # the deadline, not Loki, bounds shutdown
    assert harness.saved_offset() == 0  # nothing acknowledged, nothing skipped
    assert harness.loki.lines() == []
    # The queued batch was not counted as shipped either: it never left.
    assert harness.metric(sidecar, "sidecar_log_lines_shipped_total") == 0

    harness.loki.fail(None)
    async with harness.running(config):
        expected = sorted(f"line {n}" for n in range(60))
        await harness.eventually(lambda: _messages(harness) == expected, what="all 60 in Loki")
        await harness.eventually(
            lambda: harness.saved_offset() == path.stat().st_size,
            what="checkpoint at the end",
        )


async def test_a_batch_none_of_whose_entries_encodes_is_dropped_whole_without_a_push(
    harness, poison_refused
):
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1, note="poison") + harness.json_line(2, note="poison"))
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(
            lambda: harness.saved_offset() == path.stat().st_size,
            what="checkpoint past the batch",
        )
        assert (
            harness.metric(sidecar, "sidecar_log_lines_dropped_total", reason="encoding_error") == 2
        )
        assert harness.metric(sidecar, "sidecar_log_lines_shipped_total") == 0
        assert harness.loki.requests == []  # an empty push is not sent
        # A good line after it still goes out (the stream was not left blocked).
        with path.open("a") as handle:
            handle.write(harness.json_line(3))
        await harness.eventually(lambda: _messages(harness) == ["line 3"], what="line 3")


async def test_a_push_that_raises_unexpectedly_is_retried_and_its_lines_delivered(
    harness, monkeypatch, caplog
):
    real = LokiClient.attempt
    raised = threading.Event()

    # Stands in for a bug in the client (it turns every transport error into an
    # outcome, so no real failure makes it raise): the first push raises.
    async def raises_once(self, body):  # type: ignore[no-untyped-def]
        if not raised.is_set():
            raised.set()
            raise RuntimeError("a bug in the push client")
        return await real(self, body)

    monkeypatch.setattr(LokiClient, "attempt", raises_once)
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1) + harness.json_line(2))
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(
            lambda: _messages(harness) == ["line 1", "line 2"], what="both lines in Loki"
        )
        await harness.eventually(
            lambda: harness.saved_offset() == path.stat().st_size,
            what="checkpoint at the end",
        )
        assert harness.metric(sidecar, "sidecar_log_ship_requests_total", outcome="error") == 1
        assert harness.metric(sidecar, "sidecar_log_lines_shipped_total") == 2
    assert raised.is_set()
    logged = [r for r in caplog.records if r.getMessage().startswith("push raised unexpectedly")]
    assert len(logged) == 1
    assert "a bug in the push client" in logged[0].error


async def test_shipping_that_cannot_start_leaves_the_sidecar_not_ready_and_says_why(
    harness, caplog
):
    caplog.set_level(logging.INFO, logger="sidecar.app")
    blocker = harness.tmp_path / "state"
    blocker.write_text("a file where the positions directory should be")
    config = harness.config(shipping={"positions_file": str(blocker / "positions.json")})
    sidecar = Sidecar(config)
    stop = asyncio.Event()
    task = asyncio.create_task(sidecar.run(stop))
    await harness.eventually(
        lambda: any(r.getMessage() == "log shipping stopped with an error" for r in caplog.records),
        what="the failure logged",
    )
    await harness.eventually(lambda: sidecar.server.started, what="serving")
    assert not sidecar.ready()
    (failure,) = [r for r in caplog.records if r.getMessage().startswith("log shipping stopped")]
    assert failure.exc_info is not None
    assert str(blocker) in str(failure.exc_info[1])
    stop.set()
    await asyncio.wait_for(task, timeout=10)  # the whole sidecar stops, without raising
    assert any(r.getMessage() == "sidecar stopped" for r in caplog.records)


async def test_a_shipping_loop_that_ends_makes_the_sidecar_not_ready_and_is_logged(
    harness, monkeypatch, caplog
):
    die = threading.Event()

    # Stands in for a bug: no input or failure makes a shipping loop end (a failed
    # checkpoint write is logged and retried), so the checkpoint loop ends on command.
    async def ends_on_command(self, interval):  # type: ignore[no-untyped-def]
        while not die.is_set():
            await asyncio.sleep(0.01)
        raise RuntimeError("a bug in a shipping loop")

    monkeypatch.setattr(Checkpointer, "run", ends_on_command)
    async with harness.running(harness.config()) as sidecar:
        assert sidecar.ready()
        die.set()
        await harness.eventually(lambda: not sidecar.ready(), what="not ready")
        await harness.eventually(
            lambda: any(r.getMessage() == "a shipping loop ended" for r in caplog.records),
            what="the end logged",
        )
    (ended,) = [r for r in caplog.records if r.getMessage() == "a shipping loop ended"]
    assert ended.exc_info is not None
    assert "a bug in a shipping loop" in str(ended.exc_info[1])


async def test_a_file_released_while_the_read_loop_yields_is_not_read_through_its_closed_fd(
    harness,
):
    config = harness.config(shipping={"rotate_wait_seconds": 0})
    (source,) = config.sources
    client = LokiClient(config.loki)
    registry = CollectorRegistry()

    async def save_anchors() -> None:
        return None

    pipeline = SourcePipeline(
        source,
        config.shipping,
        config.loki,
        client,
        BufferBudget(config.shipping.buffer_max_bytes),
        ShippingMetrics(registry),
        {},
        save_anchors,
        SelfGuard(),
    )
    path = harness.logs / "app.log"
    path.write_bytes(b"\n" * 10)  # blank lines: dropped, so the file is acknowledged at once
    pipeline.scan()
    assert [t.path for t in pipeline.tailers.values()] == [str(path)]
    path.unlink()
    # The read loop yields after its chunk (the whole file); the scan that runs then
    # finds the file deleted, read and acknowledged, and releases it (closes its fd).
    read = asyncio.create_task(pipeline.reader.round())
    asyncio.get_running_loop().call_soon(pipeline.scan)
    assert await read is True
    assert pipeline.tailers == {}
    dropped = registry.get_sample_value(
        "sidecar_log_lines_dropped_total",
        {"service_name": "svc", "source": "app", "reason": "empty_line"},
    )
    assert dropped == 10
    await client.close()
