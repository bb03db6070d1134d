"""PrometheusRule objects: one per rule file prometheus.yml loads, its groups unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy.kubernetes.generator import cluster, sources

# Where a PrometheusRule came from, so a test can write its groups back to that file name
# and run the promtool unit tests of prometheus/tests/ against them.
SOURCE_ANNOTATION = "obs-stack/source"


def rule_name(path: Path) -> str:
    stem = path.name.removesuffix(".yml").removesuffix(".yaml").removesuffix(".rules")
    return f"obs-stack-{stem.replace('_', '-').replace('.', '-')}"


def prometheus_rule(path: Path) -> dict[str, Any]:
    groups = sources.load_yaml(path)["groups"]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": rule_name(path),
            "namespace": cluster.MONITORING_NAMESPACE,
            "labels": {**cluster.PART_OF, **cluster.PROMETHEUS_SELECTOR_LABELS},
            "annotations": {SOURCE_ANNOTATION: str(path.relative_to(sources.REPO))},
        },
        "spec": {"groups": groups},
    }


def prometheus_rules() -> list[dict[str, Any]]:
    return [prometheus_rule(path) for path in sources.rule_files()]
