"""Reads the compose stack's own config files: the only inputs of the generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = REPO / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
DATASOURCES = REPO / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
DASHBOARD_PROVIDERS = REPO / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml"
DASHBOARD_DIR = REPO / "grafana" / "dashboards"
ALERTMANAGER_DIR = REPO / "alertmanager"
COMPOSE_FILE = REPO / "docker-compose.yml"


class SourceError(Exception):
    """A source the generator cannot translate; the message names the file and the field."""


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def prometheus_config() -> dict[str, Any]:
    return load_yaml(PROMETHEUS_CONFIG)


def rule_files() -> list[Path]:
    """The rule files prometheus.yml loads, in a stable order (its globs, expanded)."""
    files: list[Path] = []
    for pattern in prometheus_config().get("rule_files", []):
        matches = sorted(PROMETHEUS_DIR.glob(pattern))
        if not matches:
            raise SourceError(f"{PROMETHEUS_CONFIG}: rule_files entry {pattern!r} matches no file")
        files.extend(path for path in matches if path not in files)
    return files


def scrape_job(name: str) -> dict[str, Any]:
    for job in prometheus_config()["scrape_configs"]:
        if job["job_name"] == name:
            return job
    raise SourceError(f"{PROMETHEUS_CONFIG}: no scrape job named {name!r}")


def scrape_jobs() -> list[str]:
    return [job["job_name"] for job in prometheus_config()["scrape_configs"]]


def job_service_name(name: str) -> str:
    """The service_name target label a scrape job sets (DESIGN.md: every job sets one)."""
    job = scrape_job(name)
    values = {
        group.get("labels", {}).get("service_name") for group in job.get("static_configs", [])
    }
    if len(values) != 1 or None in values:
        raise SourceError(
            f"{PROMETHEUS_CONFIG}: job {name!r} must set exactly one service_name label,"
            f" found {sorted(map(str, values))}"
        )
    return values.pop()


def prometheus_flags() -> list[str]:
    """The command-line flags docker-compose.yml starts Prometheus with."""
    compose = load_yaml(COMPOSE_FILE)
    return list(compose["services"]["prometheus"]["command"])


def datasources() -> dict[str, Any]:
    return load_yaml(DATASOURCES)


def dashboard_folder() -> str:
    providers = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    if len(providers) != 1:
        raise SourceError(f"{DASHBOARD_PROVIDERS}: expected one provider, found {len(providers)}")
    return str(providers[0]["folder"])


def dashboards() -> list[Path]:
    return sorted(DASHBOARD_DIR.glob("*.json"))


def alertmanager_config() -> dict[str, Any]:
    return load_yaml(ALERTMANAGER_DIR / "alertmanager.yml")


def alertmanager_templates() -> list[Path]:
    return sorted((ALERTMANAGER_DIR / "templates").glob("*.tmpl"))
