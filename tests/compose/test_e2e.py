"""End to end, with no .env at all: `docker compose up --build --wait` of the subset that
runs here, then drive it.

Grafana and the Collector have no image on these machines, so the stack runs
without them: sample_service (exporting its traces straight to Tempo), sidecar,
prometheus, alertmanager, loki, tempo and oncall, the stack's alert inbox and
runbooks (tests/compose/compose.e2e.yaml only lets the test inject faults and
shortens Prometheus's intervals). No GF_ADMIN_PASSWORD, no ALERT_WEBHOOK_URL: only
free ports are chosen. The tests run in file order against one stack:

1. Grafana's admin password file exists on its volume, where Grafana's environment
   points (Grafana itself cannot run here: the wiring is what is checked);
2. traffic: every Prometheus target of the subset is up, recording rules have data;
3. the service's log lines are in Loki with the service_name label and trace_id
   metadata, and the trace_id of one of them opens its trace in Tempo;
4. an injected fault (100% errors) becomes a page in the inbox, and that
   notification is a log record in Loki;
5. every alert's runbook_url answers 200;
6. with Loki stopped the sidecar stays healthy and reports its backlog, and once
   Loki is back what was logged meanwhile arrives;
7. `docker compose down -v` leaves no container, volume or network behind.
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

SUBSET = ["sample_service", "sidecar", "prometheus", "alertmanager", "loki", "tempo", "oncall"]
SUBSET_JOBS = {"sample_service", "sidecar", "prometheus", "alertmanager", "loki", "tempo", "oncall"}
ABSENT = {"grafana", "otel-collector"}
SERVICE = "sample-service"
PORTS = [
    "SAMPLE_SERVICE_PORT",
    "SIDECAR_PORT",
    "PROMETHEUS_PORT",
    "ALERTMANAGER_PORT",
    "ONCALL_PORT",
    "LOKI_PORT",
    "TEMPO_PORT",
    # Not started, but given free ports anyway so nothing is ever bound to a default.
    "GRAFANA_PORT",
    "OTLP_GRPC_PORT",
    "OTLP_HTTP_PORT",
]
# The page an outage of every request makes (severity critical: the `page` receiver).
PAGE = "AvailabilityBudgetBurn"


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
    # Ports (so that runs beside each other do not collide) and the test override's
    # two inputs: nothing a user would put in .env.
    compose = project(
        workdir,
        ["docker-compose.yml", "tests/compose/compose.e2e.yaml"],
        {
            **{name: str(port) for name, port in ports.items()},
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


def test_grafana_s_password_file_exists_where_its_environment_points(stack: Stack) -> None:
    compose = stack.compose
    assert not {"GF_ADMIN_PASSWORD", "ALERT_WEBHOOK_URL"} & set(compose.env)
    assert compose.env_file is not None
    assert compose.env_file.read_text() == ""
    grafana = compose.config()["services"]["grafana"]
    path = grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in grafana["environment"]
    volume = next(v for v in grafana["volumes"] if path.startswith(v["target"] + "/"))
    assert (volume["type"], volume["source"], volume["read_only"]) == (
        "volume",
        "grafana-admin",
        True,
    )
    # The one-shot Grafana waits on (its `--wait` would fail on the exited job, so not
    # with the subset) writes the password there, and says how to read it.
    init = compose.run("up", "grafana-password", timeout=300)
    assert init.returncode == 0, init.stderr
    logs = compose.run("logs", "--no-color", "grafana-password").stdout
    assert "docker compose run --rm grafana-password show" in logs
    shown = compose.run("run", "--rm", "-T", "grafana-password", "show")
    assert shown.returncode == 0, shown.stderr
    password = shown.stdout.strip()
    assert len(password) >= 24
    assert password not in logs
    # The same bytes at exactly the path Grafana reads, on the volume Grafana mounts.
    read = compose.run(
        "run",
        "--rm",
        "-T",
        "--entrypoint",
        "python",
        "grafana-password",
        "-c",
        f"print(open({path!r}).read().strip())",
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == password


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


def _page(notifications: list[dict[str, Any]]) -> dict[str, Any] | None:
    for notification in notifications:
        if (
            notification.get("status") == "firing"
            and notification.get("alertname") == PAGE
            and notification.get("alert_service_name") == SERVICE
            and notification.get("severity") == "critical"
        ):
            return notification
    return None


def test_an_injected_fault_pages_into_the_inbox_and_the_page_is_in_loki(
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
        inbox = stack.url("ONCALL_PORT", "/api/notifications")
        page = eventually(
            lambda: _page(httpx.get(inbox, timeout=5).json()),
            300,
            f"a {PAGE} page for {SERVICE} in the inbox",
            every=3,
        )
    finally:
        httpx.delete(stack.url("SAMPLE_SERVICE_PORT", "/admin/faults"), headers=headers, timeout=5)
    stack.timings["fault -> page in the inbox"] = time.monotonic() - started
    (alert,) = [a for a in page["alerts"] if a["labels"]["alertname"] == PAGE]
    for annotation in ("summary", "description", "runbook_url", "dashboard_url"):
        assert alert["annotations"].get(annotation), f"the page lacks {annotation}"
    assert page["receiver"] == "page"
    # The inbox wrote it as a log record, which the sidecar shipped to Loki.
    selector = f'{{service_name="oncall", source="inbox"}} |= "{page["request_id"]}"'
    records = eventually(
        lambda: stack.loki.query_range(selector, now_ns() - 900 * 10**9, now_ns()),
        60,
        "the page's record in Loki",
    )
    assert len(records) == 1
    record = json.loads(records[0].line)
    assert (record["alertname"], record["alert_service_name"]) == (PAGE, SERVICE)
    stack.timings["fault -> page in Loki"] = time.monotonic() - started


def test_every_alert_s_runbook_url_answers(stack: Stack) -> None:
    response = httpx.get(f"{stack.prometheus}/api/v1/rules", params={"type": "alert"}, timeout=5)
    rules = [rule for group in response.json()["data"]["groups"] for rule in group["rules"]]
    assert len(rules) >= 17
    urls = {rule["name"]: rule["annotations"]["runbook_url"] for rule in rules}
    oncall = stack.url("ONCALL_PORT", "/runbooks/")
    with httpx.Client(timeout=10) as client:
        for name, url in sorted(urls.items()):
            assert url == f"{oncall}{name}.md", url
            answer = client.get(url)
            assert answer.status_code == 200, f"{name}: {url} -> {answer.status_code}"
            assert answer.headers["content-type"].startswith("text/html")
            assert name in answer.text


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
