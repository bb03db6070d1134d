"""`python -m deploy.kubernetes.generator [--check]`: write (or verify) the generated manifests."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from deploy.kubernetes.generator import (
    chart_values,
    cluster,
    grafana,
    monitors,
    overlay,
    render,
    rules,
    sources,
)

DEPLOY_DIR = Path(__file__).resolve().parents[1]
PROG = "deploy.kubernetes.generator"


def _prometheus_rules() -> str:
    return render.documents(
        rules.prometheus_rules(),
        "prometheus/rules/ through prometheus/render.py, as prometheus/prometheus.yml loads them",
    )


def _dashboards() -> str:
    return render.documents(
        grafana.dashboard_config_maps(),
        "grafana/dashboards/*.json and grafana/provisioning/dashboards/dashboards.yaml",
    )


def _datasources() -> str:
    return render.documents(
        [grafana.datasource_config_map()], "grafana/provisioning/datasources/datasources.yaml"
    )


def _sidecar_pod_monitor() -> str:
    return render.documents(
        [monitors.sidecar_pod_monitor()], "prometheus/prometheus.yml (job sidecar)"
    )


def _example_service_monitors() -> str:
    return render.documents(
        monitors.service_monitors(overlay.SERVICES_FILE, overlay.kubernetes_services()),
        f"deploy/kubernetes/{overlay.NAME}/services.yaml (metrics), its Services and"
        " prometheus/prometheus.yml (job services)",
    )


def _example_objectives() -> str:
    return render.documents(
        rules.objectives_rule(overlay.SERVICES_FILE, cluster.SAMPLE_NAMESPACE),
        f"deploy/kubernetes/{overlay.NAME}/services.yaml (slo) through prometheus/render.py",
    )


def _chart_values() -> str:
    document, secret_keys = chart_values.values()
    return render.single(
        document,
        "prometheus/prometheus.yml, docker-compose.yml (Prometheus flags) and alertmanager/",
        chart_values.preamble(secret_keys),
    )


OUTPUTS: dict[str, Callable[[], str]] = {
    "base/prometheus-rules.yaml": _prometheus_rules,
    "base/grafana-dashboards.yaml": _dashboards,
    "base/grafana-datasources.yaml": _datasources,
    "base/sidecar-podmonitor.yaml": _sidecar_pod_monitor,
    f"{overlay.NAME}/servicemonitors.yaml": _example_service_monitors,
    f"{overlay.NAME}/slo-objectives.yaml": _example_objectives,
    "kube-prometheus-stack-values.yaml": _chart_values,
}


def render_all() -> dict[Path, str]:
    monitors.check_every_job_placed()
    return {DEPLOY_DIR / name: build() for name, build in OUTPUTS.items()}


def stale() -> list[Path]:
    return [
        path
        for path, text in render_all().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = stale()
            for path in problems:
                print(f"stale: {path.relative_to(sources.REPO)} (run: python -m {PROG})")
            return 1 if problems else 0
        for path, text in render_all().items():
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(sources.REPO)}")
    except (sources.SourceError, monitors.UnplacedJobError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
