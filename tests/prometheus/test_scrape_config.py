"""prometheus.yml: every job labels its service, the sidecar keeps its labels, OTLP promotes."""

from __future__ import annotations

import yaml

from contract import current
from tests.prometheus.rules import PROMETHEUS_DIR

CONFIG = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
JOBS = {job["job_name"]: job for job in CONFIG["scrape_configs"]}


def test_every_component_is_scraped_with_a_service_name() -> None:
    assert set(JOBS) == {
        "services",
        "sidecar",
        "prometheus",
        "alertmanager",
        "otel-collector",
        "loki",
        "tempo",
        "oncall",
        "grafana",
    }
    for name, job in JOBS.items():
        for static in job.get("static_configs", []):
            assert static["labels"]["service_name"], name


def test_the_services_come_from_what_stack_config_renders() -> None:
    # render.py labels each target with its service_name (tests/prometheus/test_render.py).
    assert JOBS["services"]["file_sd_configs"] == [
        {"files": ["stack-config/prometheus/targets/*.json"]}
    ]
    assert "static_configs" not in JOBS["services"]
    assert CONFIG["rule_files"] == ["stack-config/prometheus/rules/*.rules.yml"]


def test_compose_targets() -> None:
    targets = {
        name: job["static_configs"][0]["targets"]
        for name, job in JOBS.items()
        if "static_configs" in job
    }
    ports = {key: component.port for key, component in current().components.items()}
    assert targets["sidecar"] == [f"sidecar:{ports['sidecar']}"]
    assert targets["otel-collector"] == ["otel-collector:8888"]
    assert targets["alertmanager"] == ["alertmanager:9093"]
    assert targets["oncall"] == [f"oncall:{ports['oncall']}"]


def test_only_the_sidecar_honors_labels() -> None:
    assert JOBS["sidecar"]["honor_labels"] is True
    assert all(not job.get("honor_labels") for name, job in JOBS.items() if name != "sidecar")


def test_otlp_promotes_service_name_and_keeps_the_rule_metric_names() -> None:
    assert CONFIG["otlp"]["promote_resource_attributes"] == ["service.name"]
    assert CONFIG["otlp"]["translation_strategy"] == "UnderscoreEscapingWithSuffixes"


def test_exemplars_are_kept_and_alerts_go_to_alertmanager() -> None:
    assert CONFIG["storage"]["exemplars"]["max_exemplars"] > 0
    alerting = CONFIG["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alerting == ["alertmanager:9093"]
