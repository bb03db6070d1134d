"""Reads the compose stack's own config files: the only inputs of the generator."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from sidecar.services.model import ServicesFile

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = REPO / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
PROMETHEUS_RULES = PROMETHEUS_DIR / "rules"
PROMETHEUS_RENDER = PROMETHEUS_DIR / "render.py"
DATASOURCES = REPO / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
DASHBOARD_PROVIDERS = REPO / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml"
DASHBOARD_DIR = REPO / "grafana" / "dashboards"
ALERTMANAGER_DIR = REPO / "alertmanager"
COMPOSE_FILE = REPO / "docker-compose.yml"


class SourceError(Exception):
    """A source the generator cannot translate; the message names the file and the field."""


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (SourceError naming the file otherwise)."""
    document = load_yaml(path)
    if not isinstance(document, dict):
        raise SourceError(f"{path}: expected a mapping at the top level")
    return document


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def prometheus_config() -> dict[str, Any]:
    return load_mapping(PROMETHEUS_CONFIG)


@functools.cache
def prometheus_render() -> ModuleType:
    """prometheus/render.py, the script compose's stack-config service runs: its functions
    write the rule files Prometheus loads, so the manifests carry the same ones."""
    spec = importlib.util.spec_from_file_location("prometheus_render", PROMETHEUS_RENDER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        raise SourceError(
            f"{PROMETHEUS_RENDER} cannot be loaded ({exc}): run the generator with the"
            " repository's .venv, which has the sidecar's services loader (./run-tests"
            " creates it)"
        ) from None
    return module


def load_services(path: Path) -> ServicesFile:
    """A services file, through the loader stack-config uses (same schema, same errors)."""
    render = prometheus_render()
    try:
        services: ServicesFile = render.load(path)
    except render.ServicesFileError as exc:
        raise SourceError(str(exc)) from None
    return services


def rule_file_patterns() -> list[str]:
    """prometheus.yml's rule_files, relative to the directory of prometheus.yml."""
    return list(prometheus_config().get("rule_files", []))


def stack_config_mount() -> PurePosixPath:
    """Where compose mounts the stack-config volume (render.py's output), relative to the
    directory of the config file Prometheus runs with: the prefix of what it loads."""
    service = load_yaml(COMPOSE_FILE)["services"]["prometheus"]
    config_files = [
        flag.partition("=")[2] for flag in service["command"] if flag.startswith("--config.file=")
    ]
    mounts = [
        volume.split(":")[1] for volume in service["volumes"] if volume.startswith("stack-config:")
    ]
    if len(config_files) != 1 or len(mounts) != 1:
        raise SourceError(
            f"{COMPOSE_FILE}: services.prometheus: expected one --config.file flag and one"
            f" stack-config volume, found {config_files} and {mounts}"
        )
    mount, config_dir = PurePosixPath(mounts[0]), PurePosixPath(config_files[0]).parent
    if not mount.is_relative_to(config_dir):
        raise SourceError(
            f"{COMPOSE_FILE}: services.prometheus: the stack-config volume ({mount}) is not"
            f" below {config_dir}, where prometheus.yml's rule_files are resolved"
        )
    return mount.relative_to(config_dir)


def scrape_job(name: str) -> dict[str, Any]:
    jobs: list[dict[str, Any]] = prometheus_config()["scrape_configs"]
    for job in jobs:
        if job["job_name"] == name:
            return job
    raise SourceError(f"{PROMETHEUS_CONFIG}: no scrape job named {name!r}")


def scrape_jobs() -> list[str]:
    return [job["job_name"] for job in prometheus_config()["scrape_configs"]]


def job_service_name(name: str) -> str:
    """The service_name target label a scrape job sets (the telemetry contract: every job
    sets one)."""
    job = scrape_job(name)
    values = {
        group.get("labels", {}).get("service_name") for group in job.get("static_configs", [])
    }
    if len(values) != 1 or None in values:
        raise SourceError(
            f"{PROMETHEUS_CONFIG}: job {name!r} must set exactly one service_name label,"
            f" found {sorted(map(str, values))}"
        )
    return str(values.pop())


def prometheus_flags() -> list[str]:
    """The command-line flags docker-compose.yml starts Prometheus with."""
    compose = load_yaml(COMPOSE_FILE)
    return list(compose["services"]["prometheus"]["command"])


def datasources() -> dict[str, Any]:
    return load_mapping(DATASOURCES)


def dashboard_folder() -> str:
    providers = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    if len(providers) != 1:
        raise SourceError(f"{DASHBOARD_PROVIDERS}: expected one provider, found {len(providers)}")
    return str(providers[0]["folder"])


def dashboards() -> list[Path]:
    return sorted(DASHBOARD_DIR.glob("*.json"))


def alertmanager_config() -> dict[str, Any]:
    return load_mapping(ALERTMANAGER_DIR / "alertmanager.yml")


def alertmanager_templates() -> list[Path]:
    return sorted((ALERTMANAGER_DIR / "templates").glob("*.tmpl"))
