"""End to end: `docker compose up --build --wait` of the subset that runs here, then drive it.

Grafana and the Collector have no image on these machines, so the stack runs
without them: sample_service (exporting its traces straight to Tempo), sidecar,
prometheus, alertmanager, loki, tempo and the test-only webhook receiver
(tests/compose/compose.e2e.yaml). The tests run in file order against one stack:

1. traffic: every Prometheus target of the subset is up, recording rules have data;
2. the service's log lines are in Loki with the service_name label and trace_id
   metadata, and the trace_id of one of them opens its trace in Tempo;
3. an injected fault (100% errors) becomes an alert at the webhook receiver;
4. with Loki stopped the sidecar stays healthy and reports its backlog, and once
   Loki is back what was logged meanwhile arrives;
5. `docker compose down -v` leaves no container, volume or network behind.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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
from tests.compose.stack_probe import (
    LoadGenerator,
    eventually,
    metric_values,
    query,
    targets_by_job,
)
from tests.support import free_port
from tests.support.loki import LokiClient, now_ns
from tests.support.tempo import Span, TempoClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

SUBSET = ["sample_service", "sidecar", "prometheus", "alertmanager", "loki", "tempo", "webhook"]
SUBSET_JOBS = {"sample_service", "sidecar", "prometheus", "alertmanager", "loki", "tempo"}
ABSENT = {"grafana", "otel-collector"}
SERVICE = "sample-service"
PORTS = [
    "SAMPLE_SERVICE_PORT",
    "SIDECAR_PORT",
    "PROMETHEUS_PORT",
    "ALERTMANAGER_PORT",
    "E2E_WEBHOOK_PORT",
    "LOKI_PORT",
    "TEMPO_PORT",
    # Not started, but given free ports anyway so nothing is ever bound to a default.
    "GRAFANA_PORT",
    "OTLP_GRPC_PORT",
    "OTLP_HTTP_PORT",
]
ERROR_ALERTS = {"AvailabilityBudgetBurn", "HighErrorRate"}


@dataclass
class Stack:
    compose: Compose
    ports: dict[str, int]
    fault_token: str
    timings: dict[str, float] = field(default_factory=dict)

    def url(self, port: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[port]}{path}"

    @property
    def prometheus(self) -> str:
        return self.url("PROMETHEUS_PORT")

    @property
    def loki(self) -> LokiClient:
        return LokiClient(self.url("LOKI_PORT"))

    @property
    def tempo(self) -> TempoClient:
        return TempoClient(self.url("TEMPO_PORT"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("compose-e2e")
    ports = {name: free_port() for name in PORTS}
    fault_token = random_secret()
    compose = project(
        workdir,
        ["docker-compose.yml", "tests/compose/compose.e2e.yaml"],
        {
            **{name: str(port) for name, port in ports.items()},
            "GF_ADMIN_PASSWORD": random_secret(),
            "ALERT_WEBHOOK_URL": "http://webhook:9000/alerts",
            "E2E_FAULT_ADMIN_TOKEN": fault_token,
            "E2E_PROMETHEUS_CONFIG": str(fast_prometheus_config(workdir)),
        },
        runs=True,
    )
    stack = Stack(compose, ports, fault_token)
    try:
        with running(compose, SUBSET) as seconds:
            stack.timings["up --build --wait"] = seconds
            yield stack
    finally:
        print(f"\ncompose e2e timings (s): {json.dumps(stack.timings)}")


@pytest.fixture(scope="module")
def load(stack: Stack) -> Iterator[LoadGenerator]:
    with LoadGenerator(stack.url("SAMPLE_SERVICE_PORT", "/api/v1/items")) as generator:
        yield generator


def _subset_targets_up(prometheus: str) -> dict[str, list[Any]] | None:
    jobs = targets_by_job(prometheus)
    down = {
        job: [t["lastError"] for t in jobs.get(job, []) if t["health"] != "up"] or "no target"
        for job in SUBSET_JOBS
        if not jobs.get(job) or any(t["health"] != "up" for t in jobs[job])
    }
    return None if down else jobs


def test_traffic_every_subset_target_up_and_recording_rules_produce_data(
    stack: Stack, load: LoadGenerator
) -> None:
    started = time.monotonic()
    eventually(lambda: _subset_targets_up(stack.prometheus), 60, "every subset target up")
    for rule in (
        "service_name:http_server_requests:rate5m",
        "service_name_http_route:http_server_requests:rate5m",
        "service_name:http_server_request_duration_seconds:p95_rate5m",
        "service_name:slo_availability_errors:ratio_rate5m",
    ):
        result = eventually(
            lambda rule=rule: query(stack.prometheus, f'{rule}{{service_name="{SERVICE}"}}'),
            90,
            f"recording rule {rule} for {SERVICE}",
        )
        assert float(result[0]["value"][1]) >= 0
    rate = query(
        stack.prometheus, f'service_name:http_server_requests:rate5m{{service_name="{SERVICE}"}}'
    )
    assert float(rate[0]["value"][1]) > 0, "the load generator's requests are not counted"
    assert load.statuses.get(200, 0) > 0, load.statuses
    stack.timings["targets up + rules"] = time.monotonic() - started


def test_service_logs_reach_loki_and_their_trace_id_opens_the_trace_in_tempo(
    stack: Stack, load: LoadGenerator
) -> None:
    started = time.monotonic()
    query = f'{{service_name="{SERVICE}"}} | trace_id != ""'
    lines = eventually(
        lambda: stack.loki.query_range(query, now_ns() - 900 * 10**9, now_ns()),
        120,
        f"{SERVICE} lines with trace_id in Loki",
    )
    line = lines[-1]
    assert set(line.labels) == {"service_name", "level", "source"}
    assert line.labels["service_name"] == SERVICE
    trace_id = line.metadata["trace_id"]

    def with_the_line_span() -> list[Span] | None:
        # Spans of one trace may reach Tempo in separate exports: wait for the span
        # the line was written in.
        spans = stack.tempo.trace(trace_id) or []
        return spans if line.metadata["span_id"] in {s.span_id for s in spans} else None

    spans = eventually(with_the_line_span, 120, f"trace {trace_id} with the line's span in Tempo")
    assert {span.trace_id for span in spans} == {trace_id}
    assert {span.service_name for span in spans} == {SERVICE}
    stack.timings["logs -> Loki -> trace in Tempo"] = time.monotonic() - started


def _error_alert(notifications: list[dict[str, Any]]) -> dict[str, Any] | None:
    for notification in notifications:
        for alert in notification.get("alerts", []):
            labels = alert.get("labels", {})
            if (
                alert.get("status") == "firing"
                and labels.get("alertname") in ERROR_ALERTS
                and labels.get("service_name") == SERVICE
            ):
                return alert
    return None


def test_an_injected_fault_reaches_the_webhook_as_an_alert(
    stack: Stack, load: LoadGenerator
) -> None:
    started = time.monotonic()
    # Alerts evaluated before Alertmanager is discovered would wait for a resend.
    eventually(
        lambda: httpx.get(f"{stack.prometheus}/api/v1/alertmanagers", timeout=5).json()["data"][
            "activeAlertmanagers"
        ],
        60,
        "Prometheus discovers Alertmanager",
    )
    headers = {"Authorization": f"Bearer {stack.fault_token}"}
    fault = {"error_rate": 1.0, "latency_seconds": 0, "route": "/api/v1/items"}
    response = httpx.put(
        stack.url("SAMPLE_SERVICE_PORT", "/admin/faults"), json=fault, headers=headers, timeout=5
    )
    assert response.status_code in (200, 204), response.text
    try:
        eventually(lambda: load.statuses.get(500, 0) > 0, 30, "the fault turns requests into 500s")
        webhook = stack.url("E2E_WEBHOOK_PORT", "/alerts")
        alert = eventually(
            lambda: _error_alert(httpx.get(webhook, timeout=5).json()),
            300,
            f"an error alert ({sorted(ERROR_ALERTS)}) for {SERVICE} at the webhook",
            every=3,
        )
    finally:
        httpx.delete(stack.url("SAMPLE_SERVICE_PORT", "/admin/faults"), headers=headers, timeout=5)
    assert alert["labels"]["severity"] in ("critical", "warning")
    for annotation in ("summary", "description", "runbook_url", "dashboard_url"):
        assert alert["annotations"].get(annotation), f"alert lacks {annotation}"
    stack.timings["fault -> webhook"] = time.monotonic() - started


def _sidecar_metric(stack: Stack, name: str) -> float:
    text = httpx.get(stack.url("SIDECAR_PORT", "/metrics"), timeout=5).text
    return sum(metric_values(text, name, service_name=SERVICE))


def test_with_loki_stopped_the_sidecar_stays_healthy_then_delivers_the_backlog(
    stack: Stack, load: LoadGenerator
) -> None:
    started = time.monotonic()
    running = set(stack.compose.run("ps", "--services").stdout.split())
    assert not running & ABSENT, f"{running & ABSENT} should not run in the subset"
    stopped = stack.compose.run("stop", "loki")
    assert stopped.returncode == 0, stopped.stderr
    marker = f"/loki-outage-{random_secret()[:12]}"
    try:
        # A request logged while Loki is away (a 404 is logged with its path).
        httpx.get(stack.url("SAMPLE_SERVICE_PORT", marker), timeout=5)

        ready = httpx.get(stack.url("SIDECAR_PORT", "/health/ready"), timeout=5)
        assert ready.status_code == 200, ready.text
        container = stack.compose.run("ps", "-q", "sidecar").stdout.strip()
        status = subprocess.run(
            [stack.compose.docker, "inspect", "--format", "{{.State.Health.Status}}", container],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert status.stdout.strip() == "healthy", status.stdout + status.stderr
        eventually(
            lambda: _sidecar_metric(stack, "sidecar_log_backlog_bytes") > 0,
            60,
            "sidecar_log_backlog_bytes > 0 on the sidecar",
        )
        # And Prometheus has it too: the backlog is visible where the alerts look.
        eventually(
            lambda: query(
                stack.prometheus, f'sidecar_log_backlog_bytes{{service_name="{SERVICE}"}} > 0'
            ),
            30,
            "the backlog in Prometheus",
        )
    finally:
        back = stack.compose.run("up", "--wait", "--wait-timeout", "120", "loki", timeout=300)
        assert back.returncode == 0, back.stderr
    # What was logged during the outage arrives, once.
    selector = f'{{service_name="{SERVICE}"}} |= "{marker}"'
    lines = eventually(
        lambda: stack.loki.query_range(selector, now_ns() - 900 * 10**9, now_ns()),
        120,
        "the line logged during the outage in Loki",
    )
    assert len(lines) == 1, [e.line for e in lines]
    stack.timings["loki outage -> backlog delivered"] = time.monotonic() - started


def test_down_leaves_nothing_behind(stack: Stack) -> None:
    started = time.monotonic()
    result = stack.compose.down()
    assert result.returncode == 0, result.stderr
    assert stack.compose.leftovers() == {}
    stack.timings["down -v"] = time.monotonic() - started
