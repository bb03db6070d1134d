"""Loki failing: retries, refusals, backpressure, and shutting down with work in flight."""

from __future__ import annotations

import asyncio
import subprocess

import httpx
from sidecar.app import Sidecar
from sidecar.shipping.encoding import encode_protobuf
from sidecar.shipping.loki_client import LokiClient

from sidecar.config import LokiConfig
from tests.support import require_binary
from tests.support.loki_double import LokiDouble


async def test_500_and_429_are_retried_until_accepted(harness):
    (harness.logs / "app.log").write_text(harness.json_line(1) + harness.json_line(2))
    harness.loki.fail(500, count=2)
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="2 lines")
        harness.loki.fail(429, retry_after="0", count=1)
        with (harness.logs / "app.log").open("a") as handle:
            handle.write(harness.json_line(3))
        await harness.eventually(lambda: len(harness.loki.lines()) == 3, what="line 3")

        def outcome(name: str) -> float:
            return harness.metric(sidecar, "sidecar_log_ship_requests_total", outcome=name)

        # The double stores before the sidecar reads its answer: wait for the count.
        await harness.eventually(lambda: outcome("success") == 2, what="2 successes")
        assert outcome("server_error") == 2
        assert outcome("rate_limited") == 1
        assert harness.metric(sidecar, "sidecar_log_lines_dropped_total", reason="rejected") == 0


async def test_400_is_not_retried_and_refused_entries_are_counted_by_reason(harness, caplog):
    harness.loki.max_line_size = 300  # smaller than the sidecar's own limit
    path = harness.logs / "app.log"
    path.write_text(
        harness.json_line(1) + harness.json_line(2, padding="p" * 400) + harness.json_line(3)
    )
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(
            lambda: (
                harness.metric(sidecar, "sidecar_log_lines_dropped_total", reason="line_too_long")
                == 1
            ),
            what="drop counted",
        )
        # Loki wrote the valid part of the refused batch; it is counted as shipped.
        assert len(harness.loki.lines()) == 2
        assert harness.metric(sidecar, "sidecar_log_lines_shipped_total") == 2
        assert harness.metric(sidecar, "sidecar_log_ship_requests_total", outcome="rejected") == 1
        assert len(harness.loki.requests) == 1  # not retried
        refusals = [r for r in caplog.records if r.getMessage().startswith("Loki refused")]
        assert len(refusals) == 1  # logged once for the batch, not once per entry
        # The checkpoint moves past the refused batch: it would be refused again.
        await harness.eventually(
            lambda: harness.saved_offset() == path.stat().st_size, what="checkpoint advanced"
        )


async def test_400_body_listing_entries_counts_each_reason(harness):
    (harness.logs / "app.log").write_text("".join(harness.json_line(n) for n in (1, 2, 3)))
    harness.loki.fail(
        400,
        body=(
            "entry with timestamp 2026-11-25 10:00:01 ignored, reason: 'entry out of order',\n"
            'total ignored: 1 out of 3 for stream: {level="info"}\n'
        ),
        count=1,
    )
    async with harness.running(harness.config(loki={"batch_max_wait_seconds": 0.3})) as sc:
        await harness.eventually(
            lambda: (
                harness.metric(sc, "sidecar_log_lines_dropped_total", reason="out_of_order") == 1
            ),
            what="drop counted",
        )
        assert harness.metric(sc, "sidecar_log_lines_shipped_total") == 2


async def test_loki_down_pauses_reading_keeps_checkpoint_and_stays_healthy(harness):
    harness.loki.fail(500)
    path = harness.logs / "app.log"
    total = 3000
    path.write_text("".join(harness.json_line(n, padding="x" * 300) for n in range(total)))
    limit = 64 * 1024
    config = harness.config(
        shipping={"buffer_max_bytes": limit, "read_chunk_bytes": 16 * 1024},
        loki={"batch_max_bytes": 16 * 1024, "max_in_flight": 2},
    )
    async with harness.running(config) as sidecar:
        base = f"http://127.0.0.1:{config.server.port}"
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_backlog_bytes") == path.stat().st_size,
            what="backlog reported",
        )
        await asyncio.sleep(0.5)
        read = harness.metric(sidecar, "sidecar_log_lines_read_total")
        assert 0 < read < total  # reading paused once the buffer filled
        assert sidecar.shipping.budget.used <= limit + 16 * 1024
        assert harness.metric(sidecar, "sidecar_log_lines_dropped_total", reason="rejected") == 0
        assert max(harness.saved_offset(), 0) == 0
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{base}/health/live")).status_code == 200
            assert (await client.get(f"{base}/health/ready")).status_code == 200
            metrics = (await client.get(f"{base}/metrics")).text
        assert 'sidecar_log_backlog_bytes{service_name="svc",source="app"}' in metrics
        harness.loki.fail(None)
        await harness.eventually(
            lambda: len(harness.loki.lines()) == total, timeout=30, what="all lines"
        )
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_backlog_bytes") == 0, what="no backlog"
        )


async def test_shutdown_flushes_pending_lines_then_checkpoints(harness):
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1) + harness.json_line(2))
    config = harness.config(loki={"batch_max_wait_seconds": 30})  # only the flush sends
    async with harness.running(config) as sidecar:
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_lines_read_total") == 2, what="read"
        )
        assert harness.loki.lines() == []
    assert len(harness.loki.lines()) == 2
    assert harness.saved_offset() == path.stat().st_size


async def test_shutdown_with_loki_down_meets_the_deadline_and_keeps_lines(harness):
    harness.loki.fail(500)
    path = harness.logs / "app.log"
    path.write_text(harness.json_line(1))
    config = harness.config(shipping={"shutdown_deadline_seconds": 0.5})
    sidecar = Sidecar(config)
    stop = asyncio.Event()
    task = asyncio.create_task(sidecar.run(stop))
    await harness.eventually(
        lambda: harness.metric(sidecar, "sidecar_log_ship_requests_total", outcome="server_error"),
        what="a failed push",
    )
    stop.set()
    await asyncio.wait_for(task, timeout=5)  # the deadline, not Loki, bounds shutdown
    assert harness.saved_offset() == 0  # nothing acknowledged, nothing skipped


async def test_tls_is_verified_by_default(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            require_binary("openssl", "apt-get install openssl"),
            *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    body = encode_protobuf([('{a="b"}', {"a": "b"}, [(1, "x", None)])])
    loki = LokiDouble()
    loki.serve_tls(str(cert), str(key))
    with loki:
        untrusted = LokiClient(LokiConfig(url=loki.url))
        attempt, _ = await untrusted.attempt(body)
        await untrusted.close()
        assert attempt.outcome == "error"
        assert "CERTIFICATE_VERIFY_FAILED" in attempt.body
        trusted = LokiClient(LokiConfig(url=loki.url, tls={"ca_file": str(cert)}))
        attempt, _ = await trusted.attempt(body)
        await trusted.close()
        assert attempt.outcome == "success"
    assert loki.lines() == ["x"]
