"""What the components actually expose: metric sample names and their label names."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.grafana.model import ROOT
from tests.prometheus.rules import render, rendered

# Series no /metrics page shows because Prometheus itself synthesises them,
# documented in the Prometheus docs ("Jobs and instances: automatically
# generated labels and time series"; "Alerting rules: inspecting alerts during runtime").
PROMETHEUS_SYNTHETIC = {
    "up": {"job", "instance", "service_name"},
    "scrape_duration_seconds": {"job", "instance", "service_name"},
    "scrape_samples_scraped": {"job", "instance", "service_name"},
    "ALERTS": {"alertname", "alertstate", "severity", "service_name"},
    "ALERTS_FOR_STATE": {"alertname", "severity", "service_name"},
}


def exposed(url: str) -> dict[str, set[str]]:
    """sample name -> label names seen on it, from a live /metrics page."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


# The aggregation level (the part before the first colon) of a rule name, by convention
# level:metric:operations, names the labels the rule keeps.
LEVEL_LABELS = {
    "service_name": {"service_name"},
    "service_name_http_route": {"service_name", "http_route"},
}


def recorded(rules_dir: Path = ROOT / "prometheus" / "rules") -> dict[str, set[str]]:
    """recording rule name -> the label names its level says it keeps; the committed
    rules and the per-service objectives stack-config renders from services.yaml."""
    out: dict[str, set[str]] = {}
    texts = [path.read_text() for path in sorted(rules_dir.glob("*.yml"))]
    texts.append(rendered()[render.OBJECTIVES_FILE])
    for text in texts:
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    level = rule["record"].split(":")[0]
                    out[rule["record"]] = LEVEL_LABELS.get(level, set()) | set(
                        rule.get("labels", {})
                    )
    return out
