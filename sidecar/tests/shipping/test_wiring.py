"""How the shipping half meets the rest: access-log metrics, health routes, self metrics."""

from __future__ import annotations

import httpx
import orjson


async def test_access_log_source_feeds_request_metrics(harness):
    record = {
        "timestamp": "2026-11-25T10:00:00.000Z",
        "level": "info",
        "message": "request",
        "http_request_method": "GET",
        "http_route": "/api/v1/items",
        "url_path": "/api/v1/items",
        "http_response_status_code": 200,
        "duration_seconds": 0.02,
    }
    (harness.logs / "access.log").write_bytes(orjson.dumps(record) + b"\n")
    source = {
        "name": "app",
        "service_name": "svc",
        "paths": [str(harness.logs / "*.log")],
        "access_log": {"format": "json"},
    }
    async with harness.running(harness.config(sources=[source])) as sidecar:
        await harness.eventually(lambda: harness.loki.lines(), what="line shipped")
        count = sidecar.registry.get_sample_value(
            "http_server_request_duration_seconds_count",
            {
                "service_name": "svc",
                "telemetry_source": "access_log",
                "http_request_method": "GET",
                "http_route": "/api/v1/items",
                "http_response_status_code": "200",
            },
        )
    assert count == 1


async def test_http_server_serves_health_routes_and_labelled_process_metrics(harness):
    config = harness.config()
    async with harness.running(config), httpx.AsyncClient() as client:
        base = f"http://127.0.0.1:{config.server.port}"
        health = await client.get(f"{base}/health")
        metrics = (await client.get(f"{base}/metrics")).text
    assert health.status_code == 200
    assert health.headers["content-type"].startswith("application/health+json")
    assert 'process_cpu_seconds_total{service_name="sidecar"}' in metrics


async def test_unreachable_loki_keeps_the_sidecar_healthy_and_reports_backlog(harness):
    from tests.support import free_port

    (harness.logs / "app.log").write_text(harness.json_line(1))
    dead = f"http://127.0.0.1:{free_port()}/loki/api/v1/push"
    config = harness.config(loki={"url": dead})
    async with harness.running(config) as sidecar, httpx.AsyncClient() as client:
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_ship_requests_total", outcome="error"),
            what="a connection error",
        )
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_backlog_bytes") > 0, what="backlog"
        )
        base = f"http://127.0.0.1:{config.server.port}"
        assert (await client.get(f"{base}/health/live")).status_code == 200
        assert (await client.get(f"{base}/health/ready")).status_code == 200
