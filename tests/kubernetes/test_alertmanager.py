"""Alertmanager routing in the kube-prometheus-stack values: alertmanager/alertmanager.yml's
routes and inhibitions unchanged, accepted by the real amtool, receivers reading the
operator-mounted Secret."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.kubernetes.generator import cluster
from tests.kubernetes.manifests import DEPLOY, REPO
from tests.support import require_binary

VALUES = DEPLOY / "kube-prometheus-stack-values.yaml"
SOURCE = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())


def _values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())


def _file_fields(node: Any) -> list[str]:
    """Every `*_file` path in a receivers tree, in order."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("_file") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_file_fields(value))
    elif isinstance(node, list):
        for child in node:
            found.extend(_file_fields(child))
    return found


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """The values' config as Alertmanager would see it, with the mounts moved under tmp_path:
    templateFiles in config/, the receivers Secret's keys in secrets/."""
    values = _values()["alertmanager"]
    config = values["config"]
    (tmp_path / "config").mkdir()
    for name, text in values["templateFiles"].items():
        (tmp_path / "config" / name).write_text(text)
    assert config["templates"] == [cluster.ALERTMANAGER_TEMPLATES_GLOB]
    config["templates"] = [str(tmp_path / "config" / "*.tmpl")]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    text = yaml.safe_dump(config)
    for path in _file_fields(config["receivers"]):
        key = Path(path).name
        (secrets / key).write_text("http://127.0.0.1:9/alerts")
        text = text.replace(path, str(secrets / key))
    (tmp_path / "config" / "alertmanager.yaml").write_text(text)
    return tmp_path / "config"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = require_binary("amtool")
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False)


def test_routes_and_inhibitions_are_the_compose_ones() -> None:
    config = _values()["alertmanager"]["config"]
    assert config["route"] == SOURCE["route"]
    assert config["inhibit_rules"] == SOURCE["inhibit_rules"]
    assert config["global"] == SOURCE["global"]
    assert [r["name"] for r in config["receivers"]] == [r["name"] for r in SOURCE["receivers"]]


def test_receivers_read_the_operator_mounted_secret() -> None:
    values = _values()["alertmanager"]
    files = _file_fields(values["config"]["receivers"])
    assert files == [
        f"{cluster.ALERTMANAGER_SECRETS_DIR}/{Path(path).name}"
        for path in _file_fields(SOURCE["receivers"])
    ]
    assert values["alertmanagerSpec"]["secrets"] == [cluster.ALERTMANAGER_SECRET]
    # The header's `kubectl create secret` names every key the receivers read.
    command = next(line for line in VALUES.read_text().splitlines() if "create secret" in line)
    assert sorted(re.findall(r"--from-literal=(\w+)=", command)) == sorted(
        {Path(path).name for path in files}
    )


def test_templates_are_the_committed_ones() -> None:
    template_files = _values()["alertmanager"]["templateFiles"]
    committed = sorted((REPO / "alertmanager" / "templates").glob("*.tmpl"))
    assert template_files == {path.name: path.read_text() for path in committed}


def test_values_config_passes_amtool_check_config(config_dir: Path) -> None:
    result = amtool("check-config", str(config_dir / "alertmanager.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 inhibit rules" in result.stdout
    assert f"{len(SOURCE['receivers'])} receivers" in result.stdout
    templates = len(_values()["alertmanager"]["templateFiles"])
    assert f"{templates} templates" in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=ServiceDown", "service_name=svc"], "page"),
        (["severity=warning", "alertname=HighErrorRate", "service_name=svc"], "ticket"),
        (["severity=info", "alertname=SomethingInformational", "service_name=svc"], "null"),
        (["severity=info", "alertname=Watchdog", "service_name=prometheus"], "deadmans-switch"),
        (["alertname=Unlabelled", "service_name=svc"], "ticket"),
    ],
)
def test_values_config_routes_each_severity(
    config_dir: Path, labels: list[str], receiver: str
) -> None:
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={config_dir / 'alertmanager.yaml'}",
        f"--verify.receivers={receiver}",
        *labels,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_chart_rules_that_would_misroute_are_off() -> None:
    # kube-prometheus-stack's own Watchdog would double the heartbeat, and its
    # InfoInhibitor (severity "none") would fall through the route tree to `ticket`.
    assert _values()["defaultRules"]["disabled"] == {"Watchdog": True, "InfoInhibitor": True}
