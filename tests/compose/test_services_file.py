"""services.yaml and compose/sidecar.yaml describe the sample service the same way.

Until the sidecar reads the services file itself (issue 12, phase B), the
sample service's log source and health checks are written twice: in
services.yaml (which Prometheus's targets and objectives come from) and in
compose/sidecar.yaml (which the sidecar reads). This keeps the two equal.
"""

from __future__ import annotations

import yaml
from sidecar.services.loader import load

from sidecar.config import load_config
from tests.compose.compose_cli import REPO


def test_services_yaml_and_the_sidecar_config_agree_on_the_sample_service() -> None:
    (service,) = load(REPO / "services.yaml").services
    sidecar = load_config(REPO / "compose" / "sidecar.yaml")
    sources = [s for s in sidecar.sources if s.service_name == service.name]
    assert [(s.name, s.paths, s.format) for s in sources] == [
        (name, log.paths, log.format)
        for name, log in zip(service.source_names(), service.logs, strict=True)
    ]
    checks = [c for c in sidecar.health.checks if c.service_name == service.name]
    expected = [check.sidecar_check(service.name) for check in service.health]
    assert [c.model_dump() for c in checks] == [c.model_dump() for c in expected]


def test_the_sample_service_is_scraped_where_compose_runs_it() -> None:
    (service,) = load(REPO / "services.yaml").services
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert service.metrics is not None
    host, port = service.metrics.target.split(":")
    assert host in compose["services"]
    assert compose["services"][host]["environment"]["PORT"] == port
    assert compose["services"][host]["environment"]["SERVICE_NAME"] == service.name
