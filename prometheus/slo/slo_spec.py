"""Load and validate prometheus/slo/slos.yaml; every error names the offending field."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Bucket boundaries of http_server_request_duration_seconds (DESIGN.md). A latency
# threshold between two boundaries cannot be measured from the histogram.
BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip


class SpecError(ValueError):
    """The spec is invalid; the message names the field."""


@dataclass(frozen=True)
class ServiceSLO:
    service_name: str
    availability_objective: float
    latency_objective: float
    latency_threshold_seconds: float
    high_error_rate: float
    high_latency_p99_seconds: float
    min_request_rate: float


@dataclass(frozen=True)
class Spec:
    window: str
    runbook_base_url: str
    grafana_url: str
    services: tuple[ServiceSLO, ...]


def _field(data: dict[str, Any], key: str, where: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise SpecError(f"{where}.{key}: missing")
    return data[key]


def _number(data: dict[str, Any], key: str, where: str, low: float, high: float) -> float:
    value = _field(data, key, where)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise SpecError(f"{where}.{key}: expected a number, got {value!r}")
    if not low < value < high:
        raise SpecError(f"{where}.{key}: {value} is outside ({low}, {high})")
    return float(value)


def _text(data: dict[str, Any], key: str, where: str) -> str:
    value = _field(data, key, where)
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value.rstrip("/")


def _service(data: dict[str, Any], where: str) -> ServiceSLO:
    name = _text(data, "service_name", where)
    availability = _field(data, "availability", where)
    latency = _field(data, "latency", where)
    threshold = _number(latency, "threshold_seconds", f"{where}.latency", 0, math.inf)
    if threshold not in BUCKETS:
        raise SpecError(
            f"{where}.latency.threshold_seconds: {threshold} is not a bucket boundary; "
            f"use one of {list(BUCKETS)}"
        )
    return ServiceSLO(
        service_name=name,
        availability_objective=_number(availability, "objective", f"{where}.availability", 0, 1),
        latency_objective=_number(latency, "objective", f"{where}.latency", 0, 1),
        latency_threshold_seconds=threshold,
        high_error_rate=_number(data, "high_error_rate", where, 0, 1),
        high_latency_p99_seconds=_number(data, "high_latency_p99_seconds", where, 0, math.inf),
        min_request_rate=_number(data, "min_request_rate", where, 0, math.inf),
    )


def load_spec(path: Path) -> Spec:
    """Parse and validate the spec at `path`."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level")
    if _field(data, "window", "spec") != "30d":
        raise SpecError("spec.window: only 30d is supported (the burn-rate factors assume it)")
    links = _field(data, "links", "spec")
    services = _field(data, "services", "spec")
    if not isinstance(services, list) or not services:
        raise SpecError("spec.services: expected a non-empty list")
    parsed = tuple(_service(item, f"spec.services[{i}]") for i, item in enumerate(services))
    names = [service.service_name for service in parsed]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SpecError(f"spec.services: service_name listed twice: {duplicates}")
    return Spec(
        window="30d",
        runbook_base_url=_text(links, "runbook_base_url", "spec.links"),
        grafana_url=_text(links, "grafana_url", "spec.links"),
        services=parsed,
    )
