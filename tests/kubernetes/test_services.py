"""The example's services file: what it generates (a ServiceMonitor per metrics target,
the objectives' PrometheusRule) and how it agrees with compose.

On Kubernetes the example overlay has a services file of its own
(examples/sample-service/services.yaml), read by the loader compose's stack-config
uses. Its metrics targets are Service addresses in the cluster; its logs and health
are as the sidecar in the pod sees them, and that sidecar reads them from the file
itself (test_workload.py checks them against the pod).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from sidecar.services.loader import load

from deploy.kubernetes.generator import __main__ as generator
from deploy.kubernetes.generator import monitors, overlay, sources
from tests.kubernetes.manifests import EXAMPLE, REPO, by_kind, load_documents
from tests.prometheus.rules import render

PROMETHEUS_CONFIG = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
SERVICES = load(overlay.SERVICES_FILE)


def _monitors() -> dict[str, dict[str, Any]]:
    objects = by_kind(load_documents(EXAMPLE / "servicemonitors.yaml"), "ServiceMonitor")
    return {obj["metadata"]["name"]: obj for obj in objects}


def _relabeled(endpoint: dict[str, Any]) -> dict[str, str]:
    assert all(r["action"] == "replace" for r in endpoint["relabelings"])
    return {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]}


def test_every_metrics_target_has_a_service_monitor_with_its_compose_labels() -> None:
    # render.py's file_sd target groups are what compose's `services` job scrapes.
    groups = render.targets(SERVICES)
    assert groups, "the example's services file has no metrics target"
    found = _monitors()
    assert sorted(found) == sorted(g["labels"]["service_name"] for g in groups)
    services_job = next(
        j for j in PROMETHEUS_CONFIG["scrape_configs"] if j["job_name"] == "services"
    )
    for group in groups:
        labels = group["labels"]
        (endpoint,) = found[labels["service_name"]]["spec"]["endpoints"]
        assert _relabeled(endpoint) == {k: v for k, v in labels.items() if not k.startswith("__")}
        assert endpoint["path"] == labels["__metrics_path__"]
        assert endpoint["scheme"] == labels["__scheme__"]
        assert endpoint["interval"] == PROMETHEUS_CONFIG["global"]["scrape_interval"]
        assert endpoint["scrapeTimeout"] == PROMETHEUS_CONFIG["global"]["scrape_timeout"]
        assert bool(endpoint.get("honorLabels")) == bool(services_job.get("honor_labels"))


def test_each_service_monitor_selects_the_service_its_target_names() -> None:
    services = by_kind(load_documents(EXAMPLE / "service.yaml"), "Service")
    for service in SERVICES.services:
        assert service.metrics is not None
        host, port = service.metrics.target.rsplit(":", 1)
        name, namespace = host.split(".")[:2]
        (k8s,) = [
            s
            for s in services
            if (s["metadata"]["name"], s["metadata"]["namespace"]) == (name, namespace)
        ]
        monitor = _monitors()[service.name]
        assert monitor["metadata"]["namespace"] == namespace
        assert monitor["spec"]["selector"]["matchLabels"] == k8s["metadata"]["labels"]
        (endpoint,) = monitor["spec"]["endpoints"]
        (named,) = [p for p in k8s["spec"]["ports"] if p["name"] == endpoint["port"]]
        assert named["port"] == int(port)


def test_the_example_service_has_the_objectives_of_compose() -> None:
    # The same sample service with the same alerts as under `docker compose up`.
    compose = {s.name: s for s in load(REPO / "services.yaml").services}
    for service in SERVICES.services:
        assert service.slo == compose[service.name].slo, service.name


# Generation refuses a services file it cannot place in the cluster, naming the field.
def _with_target(tmp_path: Path, target: str) -> Path:
    raw = yaml.safe_load(overlay.SERVICES_FILE.read_text())
    raw["services"][0]["metrics"]["target"] = target
    path = tmp_path / "services.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("sample_service:8000", "is not a Service's cluster address"),
        ("billing.sample-service.svc:8000", "names no Service of this overlay"),
        ("sample-service.sample-service.svc.cluster.local:9000", "has no named port 9000"),
    ],
)
def test_a_metrics_target_without_a_service_stops_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, message: str
) -> None:
    monkeypatch.setattr(overlay, "SERVICES_FILE", _with_target(tmp_path, target))
    with pytest.raises(sources.SourceError, match=message) as caught:
        generator.render_all()
    assert "services[0] (sample-service): metrics.target" in str(caught.value)


def test_the_cluster_domain_form_of_a_target_is_accepted(tmp_path: Path) -> None:
    path = _with_target(tmp_path, "sample-service.sample-service.svc.cluster.local:8000")
    (monitor,) = monitors.service_monitors(path, overlay.kubernetes_services())
    assert monitor == _monitors()["sample-service"]


def test_an_invalid_services_file_stops_generation_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = copy.deepcopy(yaml.safe_load(overlay.SERVICES_FILE.read_text()))
    raw["services"][0]["slo"]["availability"]["objective"] = 1.5
    path = tmp_path / "services.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(overlay, "SERVICES_FILE", path)
    assert generator.main(["--check"]) == 2
    assert "services[0] (sample-service): slo.availability.objective" in capsys.readouterr().err
