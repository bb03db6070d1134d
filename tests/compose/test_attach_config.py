"""The compose-owned configs agree with the components they configure.

- compose/prometheus.attach.yml is prometheus/prometheus.yml with only the
  sample_service job swapped for the `attached` job: anything else drifting
  apart would make attach mode a different Prometheus.
- compose/sidecar.yaml, and the attach-mode overrides compose.attach.yaml
  puts in the sidecar's environment, load with the sidecar's own loader.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar.config import load_config
from tests.compose.compose_cli import (
    REPO,
    Compose,
    empty_env_file,
    isolated_env,
    random_secret,
    require_docker,
)
from tests.support import require_binary


def _load(relative: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / relative).read_text())


def _jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_attach_prometheus_differs_from_the_stack_only_in_the_service_job() -> None:
    stack = _load("prometheus/prometheus.yml")
    attach = _load("compose/prometheus.attach.yml")
    assert {k: v for k, v in stack.items() if k != "scrape_configs"} == {
        k: v for k, v in attach.items() if k != "scrape_configs"
    }
    stack_jobs, attach_jobs = _jobs(stack), _jobs(attach)
    stack_jobs.pop("sample_service")
    attached = attach_jobs.pop("attached")
    assert stack_jobs == attach_jobs
    assert attached["file_sd_configs"] == [{"files": ["/etc/prometheus/attach/targets.json"]}]


def test_the_default_attach_targets_file_lists_no_target() -> None:
    assert json.loads((REPO / "compose" / "attach-targets.json").read_text()) == []


def test_promtool_accepts_the_attach_prometheus_config(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    shutil.copy(REPO / "compose" / "prometheus.attach.yml", tmp_path / "prometheus.yml")
    (tmp_path / "rules").symlink_to(REPO / "prometheus" / "rules")
    result = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"],
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
    assert [source.service_name for source in config.sources] == ["sample-service"]
    assert {check.service_name for check in config.health.checks} == {"sample-service"}
    # Positions and spool must live on the sidecar-state volume to survive restarts.
    assert str(config.shipping.positions_file).startswith("/var/lib/sidecar/")


def test_attach_mode_environment_reconfigures_the_sidecar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compose = Compose(
        docker=require_docker(),
        files=["docker-compose.yml", "compose.attach.yaml"],
        env=isolated_env(
            {
                "GF_ADMIN_PASSWORD": random_secret(),
                "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
                "ATTACH_SERVICE_NAME": "orders",
                "ATTACH_LOG_DIR": "/var/log/orders",
                "ATTACH_LOG_FORMAT": "text",
                "ATTACH_ACCESS_LOG_FORMAT": "combined",
                "ATTACH_ROUTES": '["/orders/{id}"]',
                "ATTACH_LIVE_URL": "http://host.docker.internal:8080/healthz",
            }
        ),
        env_file=empty_env_file(tmp_path),
    )
    environment = compose.config()["services"]["sidecar"]["environment"]
    for name, value in environment.items():
        if name.startswith("SIDECAR_"):
            monkeypatch.setenv(name, value)
    for name in [n for n in os.environ if n.startswith("SIDECAR_") and n not in environment]:
        monkeypatch.delenv(name)

    config = load_config(REPO / "compose" / "sidecar.yaml")

    (source,) = config.sources
    assert source.service_name == "orders"
    assert source.paths == ["/var/log/attached/*.log"]
    assert source.access_log is not None
    assert source.access_log.format == "combined"
    assert source.access_log.routes == ["/orders/{id}"]
    assert {check.service_name for check in config.health.checks} == {"orders"}
    assert {check.url for check in config.health.checks} == {  # type: ignore[union-attr]
        "http://host.docker.internal:8080/healthz"
    }
