"""The compose-owned configs agree with the components they configure.

- Attach mode runs the stack's own Prometheus config: the services file, not a
  second config, says what to scrape. compose/prometheus.attach.yml is a link
  to prometheus/prometheus.yml, kept for tests/compose/test_attach_e2e.py
  until the attach end-to-end test is rewritten (issue 12, phase B).
- compose/attach-services.yaml, attach mode's default services file, loads
  and lists no service.
- compose/sidecar.yaml, and the attach-mode overrides compose.attach.yaml
  puts in the sidecar's environment, load with the sidecar's own loader.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sidecar.services.loader import load as load_services

from sidecar.config import load_config
from tests.compose.compose_cli import REPO, project, random_secret
from tests.prometheus.rules import prometheus_dir
from tests.support import require_binary


def test_attach_mode_runs_the_stack_s_prometheus_config() -> None:
    link = REPO / "compose" / "prometheus.attach.yml"
    assert link.is_symlink()
    assert link.resolve() == (REPO / "prometheus" / "prometheus.yml").resolve()


def test_the_default_attach_services_file_lists_no_service() -> None:
    assert load_services(REPO / "compose" / "attach-services.yaml").services == []


def test_promtool_accepts_the_config_with_the_attach_services_file(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    config = prometheus_dir(tmp_path, REPO / "compose" / "attach-services.yaml")
    result = subprocess.run(
        [promtool, "check", "config", config.name],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_sidecar_config_loads_with_the_sidecar_loader() -> None:
    config = load_config(REPO / "compose" / "sidecar.yaml")
    assert config.server.host == "0.0.0.0"
    assert config.loki.url.startswith("http://loki:3100/")
    assert [source.service_name for source in config.sources] == ["sample-service", "oncall"]
    assert {check.service_name for check in config.health.checks} == {"sample-service"}
    # Positions and spool must live on the sidecar-state volume to survive restarts.
    assert str(config.shipping.positions_file).startswith("/var/lib/sidecar/")


def test_attach_mode_environment_reconfigures_the_sidecar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compose = project(
        tmp_path,
        ["docker-compose.yml", "compose.attach.yaml"],
        {
            "GF_ADMIN_PASSWORD": random_secret(),
            "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
            "ATTACH_SERVICE_NAME": "orders",
            "ATTACH_LOG_DIR": "/var/log/orders",
            "ATTACH_LOG_FORMAT": "text",
            "ATTACH_ACCESS_LOG_FORMAT": "combined",
            "ATTACH_ROUTES": '["/orders/{id}"]',
            "ATTACH_LIVE_URL": "http://host.docker.internal:8080/healthz",
        },
    )
    environment = compose.config()["services"]["sidecar"]["environment"]
    for name, value in environment.items():
        if name.startswith("SIDECAR_"):
            monkeypatch.setenv(name, value)
    for name in [n for n in os.environ if n.startswith("SIDECAR_") and n not in environment]:
        monkeypatch.delenv(name)

    config = load_config(REPO / "compose" / "sidecar.yaml")

    source, inbox = config.sources
    assert (inbox.name, inbox.service_name) == ("inbox", "oncall")
    assert source.service_name == "orders"
    assert source.paths == ["/var/log/attached/*.log"]
    assert source.access_log is not None
    assert source.access_log.format == "combined"
    assert source.access_log.routes == ["/orders/{id}"]
    assert {check.service_name for check in config.health.checks} == {"orders"}
    assert {check.url for check in config.health.checks} == {  # type: ignore[union-attr]  # health is set in this config
        "http://host.docker.internal:8080/healthz"
    }
