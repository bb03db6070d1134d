"""`docker compose config` accepts the stack in both modes, and what it resolves is safe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.compose.compose_cli import (
    REPO,
    Compose,
    empty_env_file,
    isolated_env,
    random_secret,
    require_docker,
)
from tests.compose.policy import check_compose

DEFAULT = ["docker-compose.yml"]
ATTACH = ["docker-compose.yml", "compose.attach.yaml"]
# What a user of attach mode sets (README.md, "Attach mode").
ATTACH_SETTINGS = {
    "ATTACH_SERVICE_NAME": "orders",
    "ATTACH_LOG_DIR": "/var/log/orders",
    "ATTACH_LIVE_URL": "http://host.docker.internal:8080/healthz",
    "ATTACH_METRICS_TARGET": "host.docker.internal:8080",
}
VARIABLE = re.compile(r"\$\{(\w+)")


@pytest.fixture
def compose(tmp_path: Path) -> Compose:
    return Compose(
        docker=require_docker(),
        files=DEFAULT,
        env=isolated_env(
            {"GF_ADMIN_PASSWORD": random_secret(), "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook"}
        ),
        env_file=empty_env_file(tmp_path),
    )


def _policy_violations(compose: Compose) -> list[str]:
    return [str(v) for v in check_compose(compose.config(), REPO, interpolated=True)]


def test_default_mode_validates_and_passes_the_policy(compose: Compose) -> None:
    result = compose.run("config", "--quiet")
    assert result.returncode == 0, result.stderr
    assert _policy_violations(compose) == []


def test_the_e2e_subset_with_its_webhook_receiver_passes_the_policy(
    compose: Compose, tmp_path: Path
) -> None:
    compose.files = [*DEFAULT, "tests/compose/compose.e2e.yaml"]
    compose.env.update(
        {
            "E2E_FAULT_ADMIN_TOKEN": random_secret(),
            "E2E_PROMETHEUS_CONFIG": str(tmp_path / "prometheus.yml"),
            "E2E_WEBHOOK_PORT": "19000",
        }
    )
    assert _policy_violations(compose) == []


def test_the_stack_refuses_to_start_without_a_grafana_password(compose: Compose) -> None:
    del compose.env["GF_ADMIN_PASSWORD"]
    result = compose.run("config", "--quiet")
    assert result.returncode != 0
    assert "GF_ADMIN_PASSWORD" in result.stderr


def test_an_empty_grafana_password_is_refused_too(compose: Compose) -> None:
    compose.env["GF_ADMIN_PASSWORD"] = ""
    assert compose.run("config", "--quiet").returncode != 0


def test_the_stack_refuses_to_start_without_an_alert_webhook(compose: Compose) -> None:
    del compose.env["ALERT_WEBHOOK_URL"]
    result = compose.run("config", "--quiet")
    assert result.returncode != 0
    assert "ALERT_WEBHOOK_URL" in result.stderr


def test_default_mode_runs_the_sample_service(compose: Compose) -> None:
    services = compose.run("config", "--services").stdout.split()
    assert "sample_service" in services


def test_the_sidecar_reads_the_service_logs_read_only(compose: Compose) -> None:
    volumes = compose.config()["services"]["sidecar"]["volumes"]
    logs = [v for v in volumes if v["target"] == "/var/log/sample-service"]
    assert logs
    assert logs[0]["read_only"] is True
    writer = compose.config()["services"]["sample_service"]["volumes"]
    assert any(v["source"] == logs[0]["source"] and not v.get("read_only") for v in writer)


def test_attach_mode_validates_and_passes_the_policy(compose: Compose) -> None:
    compose.files = ATTACH
    compose.env.update(ATTACH_SETTINGS)
    result = compose.run("config", "--quiet")
    assert result.returncode == 0, result.stderr
    assert _policy_violations(compose) == []


def test_attach_mode_leaves_the_sample_service_out(compose: Compose) -> None:
    compose.files = ATTACH
    compose.env.update(ATTACH_SETTINGS)
    services = compose.run("config", "--services").stdout.split()
    assert "sample_service" not in services
    assert {"sidecar", "prometheus", "alertmanager", "grafana"} <= set(services)


def test_attach_mode_mounts_the_target_logs_read_only(compose: Compose) -> None:
    compose.files = ATTACH
    compose.env.update(ATTACH_SETTINGS)
    volumes = compose.config()["services"]["sidecar"]["volumes"]
    mounted = [v for v in volumes if v.get("source") == ATTACH_SETTINGS["ATTACH_LOG_DIR"]]
    assert mounted
    assert mounted[0]["read_only"] is True


@pytest.mark.parametrize("missing", ["ATTACH_SERVICE_NAME", "ATTACH_LOG_DIR", "ATTACH_LIVE_URL"])
def test_attach_mode_names_the_setting_it_lacks(compose: Compose, missing: str) -> None:
    compose.files = ATTACH
    compose.env.update({k: v for k, v in ATTACH_SETTINGS.items() if k != missing})
    result = compose.run("config", "--quiet")
    assert result.returncode != 0
    assert missing in result.stderr


def test_env_example_documents_every_variable_and_nothing_else() -> None:
    used: set[str] = set()
    for name in ("docker-compose.yml", "compose.attach.yaml"):
        used |= set(VARIABLE.findall((REPO / name).read_text()))
    documented = {
        line.split("=", 1)[0].strip()
        for line in (REPO / ".env.example").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    assert used - documented == set(), "used in compose files but not in .env.example"
    assert documented - used == set(), "in .env.example but read by no compose file"


def test_env_example_sets_no_secret() -> None:
    for line in (REPO / ".env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        if line.strip() and not line.startswith("#") and re.search("PASSWORD|TOKEN|SECRET", name):
            assert value.strip() == "", f"{name} has a value in .env.example"


def test_compose_files_are_plain_yaml_where_they_can_be() -> None:
    # The default file must stay readable by tools without Compose's YAML tags.
    yaml.safe_load((REPO / "docker-compose.yml").read_text())
