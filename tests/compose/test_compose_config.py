"""`docker compose config` accepts the stack in both modes with no .env at all, and what
it resolves is safe and wired: the Grafana password from its one-shot, alerts to the
inbox, runbook links to the stack's own runbooks, Prometheus fed by stack-config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compose.compose_cli import REPO, Compose, project, random_secret
from tests.compose.policy import check_compose

DEFAULT = ["docker-compose.yml"]
ATTACH = ["docker-compose.yml", "compose.attach.yaml"]
# What a user of attach mode sets besides SERVICES_FILE (README.md, "Attach mode").
ATTACH_SETTINGS = {"ATTACH_LOG_DIR": "/var/log/orders"}
VARIABLE = re.compile(r"\$\{(\w+)")


@pytest.fixture
def compose(tmp_path: Path) -> Compose:
    """No .env and no variable set: what a fresh clone runs with."""
    return project(tmp_path, DEFAULT, {})


@pytest.fixture
def attach(tmp_path: Path) -> Compose:
    """Attach mode with only what its user must set."""
    return project(tmp_path, ATTACH, ATTACH_SETTINGS)


def _policy_violations(compose: Compose) -> list[str]:
    return [str(v) for v in check_compose(compose.config(), REPO, interpolated=True)]


def test_default_mode_validates_and_passes_the_policy(compose: Compose) -> None:
    # With no variable set and an empty env file: a fresh clone's `docker compose up -d`.
    assert not _variables_used() & set(compose.env)
    result = compose.run("config", "--quiet")
    assert result.returncode == 0, result.stderr
    assert _policy_violations(compose) == []


def test_the_e2e_subset_passes_the_policy(compose: Compose, tmp_path: Path) -> None:
    compose.files = [*DEFAULT, "tests/compose/compose.e2e.yaml"]
    compose.env.update(
        {
            "E2E_FAULT_ADMIN_TOKEN": random_secret(),
            "E2E_PROMETHEUS_CONFIG": str(tmp_path / "prometheus.yml"),
        }
    )
    assert _policy_violations(compose) == []


def _mounts(config: dict[str, Any], service: str) -> dict[str, dict[str, Any]]:
    return {v["target"]: v for v in config["services"][service].get("volumes", [])}


def test_grafana_reads_the_password_file_its_one_shot_writes(compose: Compose) -> None:
    config = compose.config()
    grafana, init = config["services"]["grafana"], config["services"]["grafana-password"]
    environment = grafana["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in environment
    path = Path(environment["GF_SECURITY_ADMIN_PASSWORD__FILE"])
    # The same named volume: written by the one-shot, read-only in Grafana.
    written = _mounts(config, "grafana-password")[str(path.parent)]
    read = _mounts(config, "grafana")[str(path.parent)]
    assert (written["type"], read["type"]) == ("volume", "volume")
    assert written["source"] == read["source"]
    assert read["read_only"] is True
    assert not written.get("read_only")
    assert grafana["depends_on"]["grafana-password"]["condition"] == (
        "service_completed_successfully"
    )
    # Grafana's uid writes it, so only Grafana can read it; no value unless .env has one.
    assert init["user"].split(":")[0] == grafana["user"].split(":")[0] == "472"
    assert init["environment"]["GF_ADMIN_PASSWORD"] == ""
    assert init["restart"] == "no"


def test_a_grafana_password_in_env_reaches_the_one_shot(compose: Compose) -> None:
    password = random_secret()
    compose.env["GF_ADMIN_PASSWORD"] = password
    init = compose.config()["services"]["grafana-password"]
    assert init["environment"]["GF_ADMIN_PASSWORD"] == password


def test_without_a_webhook_alerts_go_to_the_inbox(compose: Compose) -> None:
    config = compose.config()
    environment = config["services"]["alertmanager"]["environment"]
    assert environment["ALERT_WEBHOOK_URL"] == ""
    assert environment["INBOX_URL"] == "http://oncall:9095"
    assert environment["INBOX_PUBLIC_URL"] == "http://127.0.0.1:9095/"
    oncall = config["services"]["oncall"]
    assert [(p["host_ip"], p["published"], p["target"]) for p in oncall["ports"]] == [
        ("127.0.0.1", "9095", 9095)
    ]
    # Its records reach the sidecar (read-only), which ships them to Loki.
    written = _mounts(config, "oncall")["/var/log/oncall"]
    read = _mounts(config, "sidecar")["/var/log/oncall"]
    assert written["source"] == read["source"]
    assert read["read_only"] is True
    runbooks = _mounts(config, "oncall")["/srv/runbooks"]
    assert (runbooks["type"], runbooks["read_only"]) == ("bind", True)
    assert runbooks["source"] == str(REPO / "docs" / "runbooks")


def test_a_webhook_in_env_still_wins(compose: Compose) -> None:
    compose.env["ALERT_WEBHOOK_URL"] = "https://hooks.example.org/pager"
    environment = compose.config()["services"]["alertmanager"]["environment"]
    assert environment["ALERT_WEBHOOK_URL"] == "https://hooks.example.org/pager"


def test_runbook_links_default_to_the_stack_and_follow_the_settings(compose: Compose) -> None:
    environment = compose.config()["services"]["stack-config"]["environment"]
    assert environment["RUNBOOK_BASE_URL"] == "http://127.0.0.1:9095/runbooks"
    assert environment["GRAFANA_URL"] == "http://127.0.0.1:3000"
    compose.env.update({"ONCALL_PORT": "9999", "GRAFANA_PORT": "3333"})
    environment = compose.config()["services"]["stack-config"]["environment"]
    assert environment["RUNBOOK_BASE_URL"] == "http://127.0.0.1:9999/runbooks"
    assert environment["GRAFANA_URL"] == "http://127.0.0.1:3333"
    forge = "https://git.example.org/ops/stack/-/blob/main/docs/runbooks"
    compose.env["RUNBOOK_BASE_URL"] = forge
    assert compose.config()["services"]["stack-config"]["environment"]["RUNBOOK_BASE_URL"] == forge


def test_prometheus_reads_what_stack_config_renders_from_the_services_file(
    compose: Compose,
) -> None:
    config = compose.config()
    prometheus, renderer = config["services"]["prometheus"], config["services"]["stack-config"]
    assert prometheus["depends_on"]["stack-config"]["condition"] == (
        "service_completed_successfully"
    )
    read = _mounts(config, "prometheus")["/etc/prometheus/stack-config"]
    written = _mounts(config, "stack-config")["/var/lib/sidecar"]
    assert read["source"] == written["source"]
    assert read["read_only"] is True
    assert "/etc/prometheus/rules" not in _mounts(config, "prometheus")
    assert "--enable-feature=auto-reload-config" in prometheus["command"]
    assert "--web.enable-lifecycle" not in prometheus["command"]
    services = _mounts(config, "stack-config")["/etc/stack-config/services.yaml"]
    assert services["source"] == str(REPO / "services.yaml")
    assert services["read_only"] is True
    assert renderer["command"][:2] == ["python", "/etc/stack-config/prometheus/render.py"]
    # render.py reads the telemetry contract from beside prometheus/, as in the repository.
    for folder in ("prometheus", "contract"):
        mount = _mounts(config, "stack-config")[f"/etc/stack-config/{folder}"]
        assert (mount["source"], mount["read_only"]) == (str(REPO / folder), True)
    compose.env["SERVICES_FILE"] = "/srv/mine.yaml"
    services = _mounts(compose.config(), "stack-config")["/etc/stack-config/services.yaml"]
    assert services["source"] == "/srv/mine.yaml"


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


def test_attach_mode_validates_and_passes_the_policy(attach: Compose) -> None:
    result = attach.run("config", "--quiet")
    assert result.returncode == 0, result.stderr
    assert _policy_violations(attach) == []


def test_attach_mode_renders_a_services_file_without_the_sample_service(
    attach: Compose,
) -> None:
    services = _mounts(attach.config(), "stack-config")["/etc/stack-config/services.yaml"]
    assert services["source"] == str(REPO / "compose" / "attach-services.yaml")
    attach.env["SERVICES_FILE"] = "/srv/mine.yaml"
    services = _mounts(attach.config(), "stack-config")["/etc/stack-config/services.yaml"]
    assert services["source"] == "/srv/mine.yaml"


def test_attach_mode_leaves_the_sample_service_out(attach: Compose) -> None:
    services = attach.run("config", "--services").stdout.split()
    assert "sample_service" not in services
    assert {"sidecar", "prometheus", "alertmanager", "grafana"} <= set(services)


def test_attach_mode_mounts_the_target_logs_read_only(attach: Compose) -> None:
    volumes = attach.config()["services"]["sidecar"]["volumes"]
    mounted = [v for v in volumes if v.get("source") == ATTACH_SETTINGS["ATTACH_LOG_DIR"]]
    assert mounted
    assert mounted[0]["read_only"] is True


def test_attach_mode_names_the_setting_it_lacks(attach: Compose) -> None:
    del attach.env["ATTACH_LOG_DIR"]
    result = attach.run("config", "--quiet")
    assert result.returncode != 0
    assert "ATTACH_LOG_DIR" in result.stderr


def _variables_used() -> set[str]:
    used: set[str] = set()
    for name in ("docker-compose.yml", "compose.attach.yaml"):
        used |= set(VARIABLE.findall((REPO / name).read_text()))
    return used


def test_env_example_documents_every_variable_and_nothing_else() -> None:
    used = _variables_used()
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
