"""Attach mode end to end: two services a user already runs, described in one services file.

The stand-ins (tests/compose/existing_service, compose.attach-e2e.yaml) write their
logs under the host directory ATTACH_LOG_DIR:
- orders-api has no /metrics: its nginx-style access log must become
  http_server_request_duration_seconds (telemetry_source="access_log");
- billing-api has its own /metrics, and a text log with a Python traceback per
  failed request, which must reach Loki as one entry per traceback.

The stack starts with only orders-api in the file (SERVICES_FILE, as a user sets
it). The tests then run in file order against that one stack:
1. billing-api is added with one edit of the file and `docker compose up -d`: the
   sidecar is not restarted, yet probes it and ships its log; Prometheus scrapes it;
2. both get request series, health series and their recording rules;
3. both page into the inbox (their error ratios burn the 99.9% objective);
4. their log lines reach Loki, a traceback as one entry;
5. a bad edit fails `up` naming the service and field, and the sidecar keeps the
   last good services while reporting the error; fixing the file clears it;
6. no sample service runs, and `down -v` leaves nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compose.compose_cli import Compose, fast_prometheus_config, project, running
from tests.compose.stack_probe import eventually, metric_values, query
from tests.support import free_port
from tests.support.loki import LokiClient, now_ns

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

ORDERS, BILLING = "orders-api", "billing-api"
SUBSET = ["orders", "billing", "sidecar", "prometheus", "alertmanager", "loki", "oncall"]
PORTS = [
    "E2E_ORDERS_PORT",
    "E2E_BILLING_PORT",
    "SIDECAR_PORT",
    "PROMETHEUS_PORT",
    "ALERTMANAGER_PORT",
    "LOKI_PORT",
    "ONCALL_PORT",
    "SAMPLE_SERVICE_PORT",
    "GRAFANA_PORT",
    "TEMPO_PORT",
    "OTLP_GRPC_PORT",
    "OTLP_HTTP_PORT",
]
PAGE = "AvailabilityBudgetBurn"
# The sidecar's image under a tag of this run's own: other runs on the same engine build
# obs-stack/sidecar:0.1.0 from their own trees, and a tag moved under a running stack
# makes `up -d` recreate the sidecar (compose.attach-e2e.yaml).
IMAGE_TAG = f"e2e-{uuid.uuid4().hex[:10]}"
SIDECAR_IMAGE = f"obs-stack/sidecar:{IMAGE_TAG}"
SERVICE_ENTRIES = {
    ORDERS: {
        "name": ORDERS,
        "logs": [
            {
                "source": "orders-access",
                "paths": ["/var/log/attached/orders/access.log"],
                "format": "text",
                "access_log": {"format": "combined", "routes": ["/orders/{id}", "/healthz"]},
            }
        ],
        "health": [{"name": "live", "url": "http://orders:8080/healthz", "interval_seconds": 2}],
    },
    BILLING: {
        "name": BILLING,
        "logs": [
            {
                "paths": ["/var/log/attached/billing/app.log"],
                "format": "text",
                "text": {
                    "level_pattern": r"^\S+ (?P<level>[A-Z]+) ",
                    "timestamp_pattern": r"^(?P<timestamp>\S+Z) ",
                },
                "multiline": {"start": r"^\d{4}-\d{2}-\d{2}T"},
            }
        ],
        "health": [{"name": "live", "url": "http://billing:8080/healthz", "interval_seconds": 2}],
        "metrics": {"target": "billing:8080"},
    },
}


@dataclass
class Attached:
    compose: Compose
    ports: dict[str, int]
    services_file: Path

    def url(self, port: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[port]}{path}"

    @property
    def prometheus(self) -> str:
        return self.url("PROMETHEUS_PORT")

    def write_services(self, *names: str, text: str | None = None) -> None:
        """Save the services file as an editor would: a new file renamed over the old."""
        if text is None:
            text = json.dumps({"services": [SERVICE_ENTRIES[n] for n in names]}, indent=1)
        temporary = self.services_file.with_suffix(".swp")
        temporary.write_text(text)
        temporary.chmod(0o644)
        os.replace(temporary, self.services_file)

    def up(self) -> subprocess.CompletedProcess[str]:
        return self.compose.run("up", "-d", "--wait", "--wait-timeout", "120", *SUBSET, timeout=300)

    def sidecar_container(self) -> dict[str, Any]:
        container = self.compose.run("ps", "-q", "sidecar").stdout.strip()
        inspected = subprocess.run(
            [self.compose.docker, "inspect", container], capture_output=True, text=True, timeout=30
        )
        state: dict[str, Any] = json.loads(inspected.stdout)[0]
        return {
            "id": state["Id"],
            "started": state["State"]["StartedAt"],
            "restarts": state["RestartCount"],
            "health": state["State"]["Health"]["Status"],
        }

    def sidecar_metric(self, name: str) -> float:
        text = httpx.get(self.url("SIDECAR_PORT", "/metrics"), timeout=5).text
        return sum(metric_values(text, name))


class Traffic(threading.Thread):
    """Requests to both stand-ins, ids counting up (every 7th order, 5th invoice fails)."""

    def __init__(self, attached: Attached) -> None:
        super().__init__(name="traffic", daemon=True)
        self.attached = attached
        self.stop = threading.Event()

    def run(self) -> None:
        number = 0
        with httpx.Client(timeout=5) as client:
            while not self.stop.is_set():
                number += 1
                for port, path in (("E2E_ORDERS_PORT", "orders"), ("E2E_BILLING_PORT", "invoices")):
                    with contextlib.suppress(httpx.HTTPError):
                        client.get(self.attached.url(port, f"/{path}/{number}"))
                time.sleep(0.1)


@pytest.fixture(scope="module")
def attached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Attached]:
    workdir = tmp_path_factory.mktemp("compose-attach")
    log_dir = workdir / "logs"
    for name in ("orders", "billing"):
        (log_dir / name).mkdir(parents=True)
        (log_dir / name).chmod(0o777)  # the stand-ins run as uid 10001
    ports = {name: free_port() for name in PORTS}
    services_file = workdir / "my-services.yaml"
    # What a user of attach mode sets (README.md, "Attach mode"), and free ports.
    compose = project(
        workdir,
        ["docker-compose.yml", "compose.attach.yaml", "tests/compose/compose.attach-e2e.yaml"],
        {
            **{name: str(port) for name, port in ports.items()},
            "SERVICES_FILE": str(services_file),
            "ATTACH_LOG_DIR": str(log_dir),
            "E2E_PROMETHEUS_CONFIG": str(fast_prometheus_config(workdir)),
            "E2E_IMAGE_TAG": IMAGE_TAG,
        },
        runs=True,
    )
    stack = Attached(compose, ports, services_file)
    stack.write_services(ORDERS)
    traffic = Traffic(stack)
    try:
        with running(compose, SUBSET) as seconds:
            print(f"\nattach e2e: up --build --wait took {seconds:.1f}s")
            traffic.start()
            yield stack
            traffic.stop.set()
    finally:
        traffic.stop.set()
        subprocess.run(
            [compose.docker, "image", "rm", SIDECAR_IMAGE], capture_output=True, timeout=60
        )


def _sidecar_checks(attached: Attached) -> set[str]:
    return set(httpx.get(attached.url("SIDECAR_PORT", "/health"), timeout=5).json()["checks"])


def test_a_service_is_added_with_one_edit_and_up_without_restarting_the_sidecar(
    attached: Attached,
) -> None:
    started = time.monotonic()
    before = attached.sidecar_container()
    assert _sidecar_checks(attached) == {f"{ORDERS}-live"}
    attached.write_services(ORDERS, BILLING)
    result = attached.up()
    assert result.returncode == 0, result.stderr
    eventually(
        lambda: _sidecar_checks(attached) == {f"{ORDERS}-live", f"{BILLING}-live"},
        60,
        "the sidecar probes the added service",
    )
    after = attached.sidecar_container()
    assert {k: after[k] for k in ("id", "started", "restarts")} == {
        k: before[k] for k in ("id", "started", "restarts")
    }, "the sidecar was restarted"
    assert attached.sidecar_metric("sidecar_services_file_last_reload_successful") == 1
    eventually(
        lambda: query(attached.prometheus, f'up{{job="{BILLING}",service_name="{BILLING}"}} == 1'),
        60,
        "Prometheus scrapes the added service",
    )
    print(f"attach e2e: edit + up -d -> applied in {time.monotonic() - started:.1f}s")


def test_both_services_get_request_and_health_series(attached: Attached) -> None:
    def outcomes(selector: str) -> set[str]:
        series = query(
            attached.prometheus, f"http_server_request_duration_seconds_count{{{selector}}}"
        )
        return {s["metric"]["http_response_status_code"] for s in series}

    access = f'service_name="{ORDERS}",telemetry_source="access_log"'
    own = f'service_name="{BILLING}",job="{BILLING}"'
    for selector in (access, own):
        eventually(
            lambda s=selector: {"200", "500"} <= outcomes(s), 120, f"200s and 500s of {selector}"
        )
    routes = {
        s["metric"]["http_route"]
        for s in query(
            attached.prometheus, f"http_server_request_duration_seconds_count{{{access}}}"
        )
    }
    assert routes <= {"/orders/{id}", "/healthz", "unmatched"}, routes
    error_ratio = "service_name:http_server_request_errors:ratio_rate5m"
    for service in (ORDERS, BILLING):
        eventually(
            lambda s=service: query(
                attached.prometheus, f'{error_ratio}{{service_name="{s}"}} > 0'
            ),
            60,
            f"the error-ratio recording rule for {service}",
        )
        up = eventually(
            lambda s=service: query(
                attached.prometheus, f'sidecar_health_check_up{{service_name="{s}"}} == 1'
            ),
            60,
            f"the passing health check of {service}",
        )
        assert [series["metric"]["check"] for series in up] == [f"{service}-live"]


def _pages(attached: Attached) -> dict[str, dict[str, Any]]:
    found = {}
    for notification in httpx.get(
        attached.url("ONCALL_PORT", "/api/notifications"), timeout=5
    ).json():
        if (
            notification.get("status") == "firing"
            and notification.get("alertname") == PAGE
            and notification.get("severity") == "critical"
        ):
            found[notification["alert_service_name"]] = notification
    return found


def test_both_services_page_into_the_inbox(attached: Attached) -> None:
    started = time.monotonic()
    pages = eventually(
        lambda: (found := _pages(attached)) and {ORDERS, BILLING} <= set(found) and found,
        300,
        f"{PAGE} pages for {ORDERS} and {BILLING} in the inbox",
        every=3,
    )
    for service in (ORDERS, BILLING):
        (alert,) = [a for a in pages[service]["alerts"] if a["labels"]["alertname"] == PAGE]
        assert alert["labels"]["service_name"] == service
        assert alert["annotations"]["runbook_url"].endswith(f"/runbooks/{PAGE}.md")
    print(f"attach e2e: traffic -> both pages in {time.monotonic() - started:.1f}s")


def test_their_logs_reach_loki_a_traceback_as_one_entry(attached: Attached) -> None:
    loki = LokiClient(attached.url("LOKI_PORT"))
    since = now_ns() - 900 * 10**9
    access = eventually(
        lambda: loki.query_range(
            f'{{service_name="{ORDERS}", source="orders-access"}}', since, now_ns()
        ),
        120,
        "the access log of orders-api in Loki",
    )
    assert any('"GET /orders/' in entry.line for entry in access)
    tracebacks = eventually(
        lambda: loki.query_range(f'{{service_name="{BILLING}"}} |= "Traceback"', since, now_ns()),
        120,
        "billing-api's tracebacks in Loki",
    )
    for entry in tracebacks:
        assert entry.labels["level"] == "error"
        first, *rest = entry.line.split("\n")
        assert " ERROR existing-service: GET /invoices/" in first
        assert rest[0] == "Traceback (most recent call last):"
        assert rest[-1].startswith("StoreUnavailable: invoices store unavailable for ")


def test_a_bad_edit_fails_up_and_the_sidecar_keeps_its_last_good_services(
    attached: Attached,
) -> None:
    before = attached.sidecar_container()
    good = attached.services_file.read_text()
    bad = good.replace("http://billing:8080/healthz", 'http://billing:8080/he\\"althz')
    assert bad != good
    attached.write_services(text=bad)
    result = attached.up()
    where = f"services[1] ({BILLING}): health[0].url: contains a double quote"
    assert result.returncode != 0
    assert where in attached.compose.run("logs", "--no-color", "stack-config").stdout
    # The sidecar sees the file too: it keeps running what it had and says why.
    eventually(
        lambda: attached.sidecar_metric("sidecar_services_file_last_reload_successful") == 0,
        60,
        "the sidecar reports the bad file",
    )
    ready = httpx.get(attached.url("SIDECAR_PORT", "/health/ready"), timeout=5)
    assert (ready.status_code, ready.json()["status"]) == (200, "warn")
    (entry,) = ready.json()["checks"]["config:services-file"]
    assert where in entry["output"]
    assert _sidecar_checks(attached) == {f"{ORDERS}-live", f"{BILLING}-live"}
    logs = attached.compose.run("logs", "--no-color", "sidecar").stdout
    assert "services file not applied; the last good one stays in force" in logs
    after = attached.sidecar_container()
    assert (after["id"], after["started"], after["health"]) == (
        before["id"],
        before["started"],
        "healthy",
    )

    attached.write_services(text=good)
    result = attached.up()
    assert result.returncode == 0, result.stderr
    eventually(
        lambda: attached.sidecar_metric("sidecar_services_file_last_reload_successful") == 1,
        60,
        "the fixed file applied",
    )
    assert httpx.get(attached.url("SIDECAR_PORT", "/health/ready"), timeout=5).json() == {
        "status": "pass"
    }


def test_attach_mode_runs_no_sample_service(attached: Attached) -> None:
    assert "sample_service" not in attached.compose.run("ps", "--services").stdout.split()


def test_attach_mode_down_leaves_nothing_behind(attached: Attached) -> None:
    assert attached.compose.down().returncode == 0
    assert attached.compose.leftovers() == {}
