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


async def test_reason_and_outcome_counters_exist_at_zero_before_any_event(harness):
    from prometheus_client.parser import text_string_to_metric_families

    config = harness.config(
        sources=[
            {"name": "app", "service_name": "svc", "paths": [str(harness.logs / "*.log")]},
            {
                "name": "containers",
                "service_name": "svc",
                "format": "docker",
                "paths": [str(harness.logs / "*-json.log")],
            },
        ]
    )
    async with harness.running(config), httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{config.server.port}/metrics")).text
    series: dict[str, dict[str, dict[str, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            label = sample.labels.get("reason") or sample.labels.get("outcome")
            if label is not None and sample.name.endswith("_total"):
                per_source = series.setdefault(sample.name, {})
                per_source.setdefault(sample.labels["source"], {})[label] = sample.value

    outcomes = {"success", "rejected", "rate_limited", "server_error", "client_error", "error"}
    dropped = {"empty_line", "out_of_order", "line_too_long", "too_far_behind", "rejected"}
    for source, malformed in (
        ("app", {"nul_bytes", "invalid_utf8", "truncated", "not_json", "bad_timestamp"}),
        ("containers", {"nul_bytes", "invalid_utf8", "truncated", "not_docker_json"}),
    ):
        requests = series["sidecar_log_ship_requests_total"][source]
        assert requests == dict.fromkeys(outcomes, 0.0)
        drops = series["sidecar_log_lines_dropped_total"][source]
        assert dropped <= drops.keys(), drops
        assert set(drops.values()) == {0.0}, drops
        bad = series["sidecar_log_lines_malformed_total"][source]
        assert malformed <= bad.keys(), bad
        assert set(bad.values()) == {0.0}, bad
