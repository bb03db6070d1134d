"""In compose, services.yaml reaches the sidecar and describes what compose runs.

The sample service is described once, in services.yaml: stack-config renders
Prometheus's view of it and publishes the file for the sidecar, which takes its
sources and checks from there (no second copy in compose/sidecar.yaml). Checked
here: the sidecar reads the file where stack-config publishes it, through a
read-only mount of the same volume, after stack-config ran; and the file's paths
and target are where compose puts the sample service's logs and port.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import yaml
from sidecar.services.derive import with_services
from sidecar.services.loader import load

from sidecar.config import load_config
from tests.compose.compose_cli import REPO
from tests.prometheus.rules import render

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _mounts(service: str) -> dict[str, tuple[str, bool]]:
    """target -> (source, read_only) of a service's short-syntax volumes."""
    found = {}
    for volume in SERVICES[service]["volumes"]:
        source, target, *mode = volume.split(":")
        found[target] = (source, mode == ["ro"])
    return found


def _stack_config_out() -> str:
    command = SERVICES["stack-config"]["command"]
    (out,) = [part.removeprefix("--out=") for part in command if part.startswith("--out=")]
    return out


def test_the_sidecar_reads_the_services_file_stack_config_publishes() -> None:
    config = load_config(REPO / "compose" / "sidecar.yaml")
    assert config.services_file is not None
    published = PurePosixPath(config.services_file.path)
    # stack-config writes <out>/sidecar/services.yaml on the stack-config volume...
    out = _stack_config_out()
    assert _mounts("stack-config")[out] == ("stack-config", False)
    # ...which the sidecar mounts read-only where its config looks for the file.
    (target,) = [t for t, (source, _) in _mounts("sidecar").items() if source == "stack-config"]
    assert _mounts("sidecar")[target] == ("stack-config", True)
    assert published == PurePosixPath(target) / render.SIDECAR_FILE
    # And only once stack-config ran at this `up`.
    assert SERVICES["sidecar"]["depends_on"]["stack-config"] == {
        "condition": "service_completed_successfully"
    }


def test_the_sidecar_runs_the_sample_service_s_sources_and_checks_from_the_file() -> None:
    services = load(REPO / "services.yaml")
    config = with_services(load_config(REPO / "compose" / "sidecar.yaml"), services, "x")
    assert [(s.name, s.service_name) for s in config.sources] == [
        ("inbox", "oncall"),
        ("sample-service", "sample-service"),
    ]
    assert [c.name for c in config.health.checks] == [
        "sample-service-live",
        "sample-service-ready",
        "sample-service-otel-collector",
    ]


def _volume_at(service: str, path: str) -> str | None:
    for target, (source, _) in _mounts(service).items():
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return source
    return None


def test_the_sample_service_logs_where_the_sidecar_reads_its_paths() -> None:
    (service,) = load(REPO / "services.yaml").services
    written = SERVICES["sample_service"]["environment"]["LOG_FILE"]
    for log in service.logs:
        for pattern in log.paths:
            directory = str(PurePosixPath(pattern).parent)
            assert _volume_at("sidecar", directory) == _volume_at("sample_service", written)
            assert PurePosixPath(written).match(pattern) or pattern.endswith(".[0-9]")


def test_the_sample_service_is_scraped_where_compose_runs_it() -> None:
    (service,) = load(REPO / "services.yaml").services
    assert service.metrics is not None
    host, port = service.metrics.target.split(":")
    environment: dict[str, Any] = SERVICES[host]["environment"]
    assert environment["PORT"] == port
    assert environment["SERVICE_NAME"] == service.name
