"""prometheus/render.py: the services file becomes Prometheus's targets and objectives.

What the stack-config service runs at every `docker compose up`. Checked here:
the files it writes, the links it sets, that a bad services file or setting
writes nothing, and, with a real Prometheus running with auto-reload-config,
that adding a service to the file and rendering again is all it takes for a
new target and its objectives to appear (no restart, no generator by hand).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.integration.background import background
from tests.prometheus.rules import PROMETHEUS_DIR, SERVICES_FILE, render, rendered
from tests.support import free_port, require_binary, wait_http

SCRIPT = PROMETHEUS_DIR / "render.py"
ORDERS = """
  - name: orders-api
    logs:
      - paths: [/var/log/attached/orders/access.log]
        format: text
        access_log: {format: combined, routes: ["/orders/{id}"]}
    metrics: {target: "127.0.0.1:PORT", path: /internal/metrics}
    slo:
      availability: {objective: 0.995}
      latency: {objective: 0.99, threshold_seconds: 1}
"""


def run(services: Path, out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("RUNBOOK_BASE_URL", "GRAFANA_URL")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--services", str(services), "--out", str(out)],
        capture_output=True,
        text=True,
        env={**clean, **env},
        check=False,
    )


def test_the_default_services_file_renders_targets_and_objectives(tmp_path: Path) -> None:
    result = run(SERVICES_FILE, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "stack-config: sample-service: metrics sample_service:8000" in result.stdout
    targets = json.loads((tmp_path / render.TARGETS_FILE).read_text())
    assert targets == [
        {
            "targets": ["sample_service:8000"],
            "labels": {
                "service_name": "sample-service",
                "job": "sample_service",
                "__metrics_path__": "/metrics",
                "__scheme__": "http",
            },
        }
    ]
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {f"prometheus/rules/{p.name}" for p in (PROMETHEUS_DIR / "rules").glob("*.yml")}
    assert written == committed | {render.TARGETS_FILE, render.OBJECTIVES_FILE, render.SIDECAR_FILE}
    assert (tmp_path / render.SIDECAR_FILE).read_bytes() == SERVICES_FILE.read_bytes()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert path.stat().st_mode & 0o777 == 0o644, path  # Prometheus runs as another uid


def test_link_settings_point_every_alert_at_the_forge_and_grafana(tmp_path: Path) -> None:
    forge = "https://git.example.org/ops/stack/-/blob/main/docs/runbooks"
    result = run(SERVICES_FILE, tmp_path, RUNBOOK_BASE_URL=f"{forge}/", GRAFANA_URL="http://g:3001")
    assert result.returncode == 0, result.stderr
    assert f"runbooks {forge}/<Alert>.md, Grafana http://g:3001" in result.stdout
    alerts = 0
    for path in (tmp_path / "prometheus" / "rules").glob("*.rules.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    alerts += 1
                    annotations = rule["annotations"]
                    assert annotations["runbook_url"] == f"{forge}/{rule['alert']}.md"
                    assert annotations["dashboard_url"].startswith("http://g:3001/d/obs-")
                    assert "var-service_name=" in annotations["dashboard_url"]
    assert alerts >= 17


def test_without_settings_the_links_are_the_committed_defaults() -> None:
    committed = (PROMETHEUS_DIR / "rules" / "health.rules.yml").read_text()
    written = rendered()["prometheus/rules/health.rules.yml"]
    assert yaml.safe_load(written) == yaml.safe_load(committed)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("RUNBOOK_BASE_URL", "git.example.org/runbooks"),
        ("RUNBOOK_BASE_URL", 'https://x/"y'),
        ("GRAFANA_URL", "ftp://grafana"),
        ("GRAFANA_URL", "http://g:3000/\nx"),
    ],
)
def test_a_malformed_setting_writes_nothing(tmp_path: Path, setting: str, value: str) -> None:
    result = run(SERVICES_FILE, tmp_path, **{setting: value})
    assert result.returncode == 2
    assert f"{setting} must be an http:// or https:// URL" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_bad_services_file_keeps_the_last_good_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(SERVICES_FILE, out).returncode == 0
    before = {p: p.read_text() for p in out.rglob("*") if p.is_file()}
    bad = tmp_path / "services.yaml"
    bad.write_text(
        SERVICES_FILE.read_text().replace("target: sample_service:8000", "target: 'a\"b:1'")
    )
    result = run(bad, out)
    assert result.returncode == 2
    assert "services[0] (sample-service): metrics.target: contains a double quote" in result.stderr
    assert "nothing written for Prometheus, which keeps the last good files" in result.stderr
    assert "the sidecar keeps its last good services and reports this" in result.stderr
    assert "Traceback" not in result.stderr
    # The sidecar gets the file as it is: it reports what is wrong while it keeps running.
    after = {p: p.read_text() for p in out.rglob("*") if p.is_file()}
    assert after.pop(out / render.SIDECAR_FILE) == bad.read_text()
    before.pop(out / render.SIDECAR_FILE)
    assert after == before


def test_a_removed_service_and_a_removed_rule_file_leave_nothing_behind(tmp_path: Path) -> None:
    files = rendered()
    render.write(tmp_path, {**files, "prometheus/rules/retired.rules.yml": "groups: []\n"})
    assert (tmp_path / "prometheus/rules/retired.rules.yml").exists()
    render.write(tmp_path, files)
    assert not (tmp_path / "prometheus/rules/retired.rules.yml").exists()
    assert (tmp_path / render.OBJECTIVES_FILE).exists()


def test_a_service_without_metrics_gets_objectives_but_no_target_or_servicedown(
    tmp_path: Path,
) -> None:
    services = tmp_path / "services.yaml"
    services.write_text(
        "services:"
        + ORDERS.replace('    metrics: {target: "127.0.0.1:PORT", path: /internal/metrics}\n', "")
    )
    result = run(services, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out" / render.TARGETS_FILE).read_text()) == []
    rules = yaml.safe_load((tmp_path / "out" / render.OBJECTIVES_FILE).read_text())
    records = [rule["record"] for rule in rules["groups"][0]["rules"]]
    assert "slo:objective:ratio" in records
    assert "service:metrics_target:info" not in records
    # The latency objective of 99% pages on a complete outage only after 518s: said at start.
    assert "orders-api's latency objective 99% pages on a complete outage only after 518s" in (
        result.stdout
    )


class _Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, promql: str) -> list[dict]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        return response.json()["data"]["result"]

    def targets(self) -> list[dict]:
        response = httpx.get(f"{self.url}/api/v1/targets", timeout=5)
        return response.json()["data"]["activeTargets"]

    def wait(self, what: str, probe: Callable[[], Any], timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result := probe():
                return result
            time.sleep(0.2)
        pytest.fail(f"Prometheus: {what} not seen within {timeout}s")


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[_Prometheus, Path]]:
    binary = require_binary("prometheus")
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    (config_dir / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                **yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text()),
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "alerting": {},
                "scrape_configs": [
                    job
                    for job in yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())[
                        "scrape_configs"
                    ]
                    if job["job_name"] == "services"
                ],
            }
        )
    )
    port = free_port()
    cmd = [
        binary,
        f"--config.file={config_dir / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        # What docker-compose.yml passes, with a shorter interval.
        "--enable-feature=auto-reload-config",
        "--config.auto-reload-interval=1s",
    ]
    assert run(SERVICES_FILE, config_dir / "stack-config").returncode == 0
    with background(cmd, tmp_path / "prometheus.log"):
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/-/ready", timeout=30)
        yield _Prometheus(url), config_dir


@pytest.mark.integration
def test_adding_a_service_is_one_edit_and_a_render(
    prometheus: tuple[_Prometheus, Path], tmp_path: Path
) -> None:
    prom, config_dir = prometheus
    prom.wait(
        "the sample service's objective",
        lambda: prom.query('slo:objective:ratio{service_name="sample-service"}'),
    )
    assert not prom.query('slo:objective:ratio{service_name="orders-api"}')

    port = free_port()
    services = tmp_path / "services.yaml"
    services.write_text(SERVICES_FILE.read_text() + ORDERS.replace("PORT", str(port)))
    assert run(services, config_dir / "stack-config").returncode == 0

    objectives = prom.wait(
        "orders-api's objectives",
        lambda: (
            len(prom.query('slo:objective:ratio{service_name="orders-api"}')) == 2
            and prom.query('slo:objective:ratio{service_name="orders-api"}')
        ),
    )
    by_slo = {s["metric"]["slo"]: s for s in objectives}
    assert by_slo["availability"]["value"][1] == "0.995"
    assert by_slo["latency"]["metric"]["le"] == "1.0"
    target = prom.wait(
        "orders-api's scrape target",
        lambda: [t for t in prom.targets() if t["labels"].get("service_name") == "orders-api"],
    )
    (orders,) = target
    assert orders["labels"]["job"] == "orders-api"
    assert orders["scrapeUrl"] == f"http://127.0.0.1:{port}/internal/metrics"
    # Nothing listens there: ServiceDown's input is what a real outage gives.
    prom.wait(
        "up == 0 for orders-api",
        lambda: prom.query('up{service_name="orders-api"} == 0'),
    )
