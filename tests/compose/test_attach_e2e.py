"""Attach mode end to end: a service with no /metrics gets request metrics from its access log,
and its log lines reach Loki.

The stand-in "existing service" (tests/compose/existing_service) writes an
nginx-style access log into a host directory and serves no /metrics. With
compose.attach.yaml and only the ATTACH_* variables a user would set, the
sidecar must turn that log into http_server_request_duration_seconds
(telemetry_source="access_log") that Prometheus scrapes and the stack's
recording rules aggregate, and must run the service's health checks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.compose.compose_cli import (
    Compose,
    fast_prometheus_config,
    project,
    random_secret,
    running,
)
from tests.compose.stack_probe import eventually, query
from tests.support import free_port
from tests.support.loki import LokiClient, now_ns

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

SERVICE = "orders-api"
SUBSET = ["orders", "sidecar", "prometheus", "alertmanager", "loki"]
PORTS = [
    "E2E_ORDERS_PORT",
    "SIDECAR_PORT",
    "PROMETHEUS_PORT",
    "ALERTMANAGER_PORT",
    "LOKI_PORT",
    "SAMPLE_SERVICE_PORT",
    "GRAFANA_PORT",
    "TEMPO_PORT",
    "OTLP_GRPC_PORT",
    "OTLP_HTTP_PORT",
]


@pytest.fixture(scope="module")
def attached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Compose, dict[str, int]]]:
    workdir = tmp_path_factory.mktemp("compose-attach")
    log_dir = workdir / "orders-logs"
    log_dir.mkdir()
    log_dir.chmod(0o777)  # the stand-in runs as uid 10001
    ports = {name: free_port() for name in PORTS}
    compose = project(
        workdir,
        ["docker-compose.yml", "compose.attach.yaml", "tests/compose/compose.attach-e2e.yaml"],
        {
            **{name: str(port) for name, port in ports.items()},
            "GF_ADMIN_PASSWORD": random_secret(),
            "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/unused",
            # What a user of attach mode writes in .env:
            "ATTACH_SERVICE_NAME": SERVICE,
            "ATTACH_LOG_DIR": str(log_dir),
            "ATTACH_LOG_FORMAT": "text",
            "ATTACH_ACCESS_LOG_FORMAT": "combined",
            "ATTACH_ROUTES": json.dumps(["/orders/{id}", "/healthz"]),
            "ATTACH_LIVE_URL": "http://orders:8080/healthz",
            "E2E_PROMETHEUS_CONFIG": str(
                fast_prometheus_config(workdir, "compose/prometheus.attach.yml")
            ),
        },
        runs=True,
    )
    with running(compose, SUBSET) as seconds:
        print(f"\nattach e2e: up --build --wait took {seconds:.1f}s")
        yield compose, ports


def test_access_log_metrics_of_a_service_without_metrics_reach_prometheus(
    attached: tuple[Compose, dict[str, int]],
) -> None:
    _, ports = attached
    started = time.monotonic()
    base = f"http://127.0.0.1:{ports['E2E_ORDERS_PORT']}"
    assert httpx.get(f"{base}/metrics", timeout=5).status_code == 404
    prometheus = f"http://127.0.0.1:{ports['PROMETHEUS_PORT']}"
    selector = f'service_name="{SERVICE}",telemetry_source="access_log"'

    def traffic_counted() -> list[dict[str, Any]]:
        with httpx.Client(timeout=5) as client:
            for order in range(1, 30):
                client.get(f"{base}/orders/{order}")
        series = query(prometheus, f"http_server_request_duration_seconds_count{{{selector}}}")
        statuses = {s["metric"]["http_response_status_code"] for s in series}
        # Both outcomes of the stand-in (ids divisible by 7 fail) must have arrived.
        return series if {"200", "500"} <= statuses else []

    series = eventually(traffic_counted, 120, "200 and 500 access-log series", every=2)
    routes = {s["metric"]["http_route"] for s in series}
    # Paths map to their templates, never raw ids; only the unknown /metrics
    # probed above (a 404) falls into "unmatched".
    assert "/orders/{id}" in routes, routes
    assert set(routes) <= {"/orders/{id}", "/healthz", "unmatched"}, routes
    assert all(
        s["metric"]["http_response_status_code"] == "404"
        for s in series
        if s["metric"]["http_route"] == "unmatched"
    )

    # The stack's recording rules aggregate them like any service's own metrics.
    error_ratio = "service_name:http_server_request_errors:ratio_rate5m"
    eventually(
        lambda: query(prometheus, f'{error_ratio}{{service_name="{SERVICE}"}} > 0'),
        60,
        "the error-ratio recording rule for the attached service",
    )
    # And the sidecar's health checks of the attached service are in Prometheus.
    up = eventually(
        lambda: query(prometheus, f'sidecar_health_check_up{{service_name="{SERVICE}"}} == 1'),
        60,
        "passing health checks of the attached service",
    )
    assert len(up) == 2  # live and ready
    print(f"attach e2e: traffic -> rules -> health took {time.monotonic() - started:.1f}s")


def test_the_attached_service_logs_reach_loki(
    attached: tuple[Compose, dict[str, int]],
) -> None:
    _, ports = attached
    base = f"http://127.0.0.1:{ports['E2E_ORDERS_PORT']}"
    loki = LokiClient(f"http://127.0.0.1:{ports['LOKI_PORT']}")
    httpx.get(f"{base}/orders/4242", timeout=5)
    selector = f'{{service_name="{SERVICE}", source="attached"}} |= "/orders/4242"'
    lines = eventually(
        lambda: loki.query_range(selector, now_ns() - 900 * 10**9, now_ns()),
        120,
        "the stand-in service's access log line in Loki",
    )
    assert lines[0].labels["service_name"] == SERVICE


def test_attach_mode_runs_no_sample_service(attached: tuple[Compose, dict[str, int]]) -> None:
    compose, _ = attached
    assert "sample_service" not in compose.run("ps", "--services").stdout.split()


def test_attach_mode_down_leaves_nothing_behind(attached: tuple[Compose, dict[str, int]]) -> None:
    compose, _ = attached
    assert compose.down().returncode == 0
    assert compose.leftovers() == {}
