"""The compose-owned configs agree with the components they configure.

- Attach mode runs the stack's own Prometheus and sidecar configs: the services
  file, not a second config, says what to scrape, tail and probe; compose.attach.yaml
  gives the sidecar no environment of its own.
- compose/attach-services.yaml, attach mode's default services file, loads
  and lists no service, and its commented example is a valid services file.
- compose/sidecar.yaml loads with the sidecar's own loader.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from sidecar.services.derive import with_services
from sidecar.services.loader import load as load_services
from sidecar.services.loader import parse as parse_services

from sidecar.config import load_config
from tests.compose.compose_cli import REPO, project
from tests.prometheus.rules import prometheus_dir
from tests.support import require_binary


def test_the_default_attach_services_file_lists_no_service() -> None:
    assert load_services(REPO / "compose" / "attach-services.yaml").services == []


def test_the_example_in_the_attach_services_file_is_a_valid_services_file() -> None:
    text = (REPO / "compose" / "attach-services.yaml").read_text()
    example = "\n".join(
        line.removeprefix("# ").removeprefix("#")
        for line in text.splitlines()
        if line.startswith("# services:") or line.startswith("#   ")
    )
    (service,) = parse_services(example).services
    assert service.name == "orders-api"
    sidecar = with_services(
        load_config(REPO / "compose" / "sidecar.yaml"), parse_services(example), "x"
    )
    assert {s.name for s in sidecar.sources} == {"inbox", "orders-access", "orders-app"}
    assert all(p.startswith("/var/log/attached/") for s in sidecar.sources[1:] for p in s.paths)


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
    # Its own source is the inbox's; the services' come from the services file.
    assert [(s.name, s.service_name) for s in config.sources] == [("inbox", "oncall")]
    assert config.health.checks == []
    assert config.services_file is not None
    # Positions (and the last good services file) must live on the sidecar-state volume.
    assert str(config.shipping.positions_file).startswith("/var/lib/sidecar/")


def test_attach_mode_gives_the_sidecar_no_environment_of_its_own(tmp_path: Path) -> None:
    compose = project(
        tmp_path,
        ["docker-compose.yml", "compose.attach.yaml"],
        {"ATTACH_LOG_DIR": "/var/log/orders"},
    )
    sidecar = compose.config()["services"]["sidecar"]
    assert not [name for name in sidecar.get("environment", {}) if name.startswith("SIDECAR_")]
    default = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["sidecar"]
    assert sidecar["command"] == default["command"]
    mounts = {volume["target"]: volume for volume in sidecar["volumes"]}
    assert mounts["/var/log/attached"]["source"] == "/var/log/orders"
    assert mounts["/var/log/attached"]["read_only"] is True
    assert mounts["/etc/stack-config"]["read_only"] is True
