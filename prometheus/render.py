"""Render what Prometheus reads from the services file and the stack's settings.

    python prometheus/render.py --services services.yaml --out DIR

Run by the `stack-config` one-shot service at every `docker compose up` (in the
sidecar's image, which carries the services loader), and by the tests. Writes:

- DIR/prometheus/targets/services.json: a file_sd target per service with a
  `metrics:` target, labelled with its service_name (and job).
- DIR/prometheus/rules/services.rules.yml: per service, the series the generic
  SLO rules read: `slo:objective:ratio{slo="availability"|"latency"}` (the
  latency one carries the threshold as `le`), `slo:request_rate:min`,
  `symptom:error_ratio:max`, `symptom:latency_p99_seconds:max`, and
  `service:metrics_target:info` for ServiceDown.
- DIR/prometheus/rules/<name>.rules.yml: the committed prometheus/rules with
  runbook_url based at RUNBOOK_BASE_URL and dashboard_url at GRAFANA_URL.
- DIR/sidecar/services.yaml: the services file as given, for the sidecar, which
  follows it while running (it validates it itself, applies a good one and
  keeps and reports its last good one otherwise: sidecar/README.md).

Prometheus re-reads file_sd files on change and, with auto-reload-config, rule
files too, so an edited services file takes effect at the next `up` without a
restart. An invalid services file or setting writes nothing for Prometheus (the
last good files stay) and exits 2 with the service and field named.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import (
    DEFAULT_GRAFANA_URL,
    DEFAULT_RUNBOOK_BASE_URL,
    ERROR_RATIO_MAX,
    LATENCY_P99_MAX,
    METRICS_TARGET,
    MIN_REQUEST_RATE,
    OBJECTIVE,
    PAGE_BURNS,
    dump,
)
from sidecar.services.loader import FORBIDDEN, ServicesFileError, load, read
from sidecar.services.model import Service, ServicesFile

PROMETHEUS_DIR = Path(__file__).resolve().parent
TARGETS_FILE = "prometheus/targets/services.json"
OBJECTIVES_FILE = "prometheus/rules/services.rules.yml"
RULES_DIR = "prometheus/rules"
SIDECAR_FILE = "sidecar/services.yaml"
HEADER = "# WRITTEN by prometheus/render.py at start from {source}; edit that instead.\n"
_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$")


class SettingError(ValueError):
    """An environment setting render.py needs is malformed."""


def _le(seconds: float) -> str:
    # Prometheus 3 stores classic-histogram `le` values in OpenMetrics float form ("1.0").
    return repr(float(seconds))


def targets(services: ServicesFile) -> list[dict[str, Any]]:
    """Prometheus file_sd target groups, one per service with a metrics target."""
    groups = []
    for service in services.services:
        if service.metrics is None:
            continue
        labels = {
            "service_name": service.name,
            "job": service.metrics.job or service.name,
            "__metrics_path__": service.metrics.path,
            "__scheme__": service.metrics.scheme,
        }
        groups.append({"targets": [service.metrics.target], "labels": labels})
    return groups


def _constant(record: str, value: float, labels: dict[str, str]) -> dict[str, Any]:
    return {"record": record, "expr": f"vector({value!r})", "labels": labels}


def _service_series(service: Service) -> list[dict[str, Any]]:
    slo, name = service.slo, {"service_name": service.name}
    rules = [
        _constant(OBJECTIVE, slo.availability.objective, {**name, "slo": "availability"}),
        _constant(
            OBJECTIVE,
            slo.latency.objective,
            {**name, "slo": "latency", "le": _le(slo.latency.threshold_seconds)},
        ),
        _constant(MIN_REQUEST_RATE, slo.min_request_rate, name),
        _constant(ERROR_RATIO_MAX, slo.high_error_rate, name),
        _constant(LATENCY_P99_MAX, slo.high_latency_p99_seconds, name),
    ]
    if service.metrics is not None:
        rules.append(_constant(METRICS_TARGET, 1.0, name))
    return rules


def objective_rules(services: ServicesFile) -> dict[str, Any]:
    """The rule group of per-service objectives and thresholds."""
    rules = [rule for service in services.services for rule in _service_series(service)]
    return {"groups": [{"name": "services", "rules": rules}]} if rules else {"groups": []}


def with_links(rules: dict[str, Any], runbook_base: str, grafana_url: str) -> dict[str, Any]:
    """A rule file whose alerts link to runbooks under `runbook_base` and to `grafana_url`."""
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            annotations = rule["annotations"]
            annotations["runbook_url"] = f"{runbook_base}/{rule['alert']}.md"
            prefix, found, rest = annotations["dashboard_url"].partition("/d/")
            if not found:
                raise ValueError(f"{rule['alert']}: dashboard_url {prefix!r} has no /d/<uid>")
            annotations["dashboard_url"] = f"{grafana_url}/d/{rest}"
    return rules


def outage_page_seconds(objective: float) -> float:
    """Seconds of a complete outage before the fast burn's long window crosses its threshold."""
    factor, long_window, _ = PAGE_BURNS[0]
    assert long_window == "1h"
    return factor * (1 - objective) * 3600


def rule_files(
    services: ServicesFile, rules_dir: Path, runbook_base: str, grafana_url: str
) -> dict[str, dict[str, Any]]:
    """Relative path -> rule document of every rule file written: the objectives of
    `services`, then each committed rule file with its links (what Prometheus loads,
    and what deploy/kubernetes carries as PrometheusRule objects)."""
    documents = {OBJECTIVES_FILE: objective_rules(services)}
    for path in sorted(rules_dir.glob("*.rules.yml")):
        rules = with_links(yaml.safe_load(path.read_text()), runbook_base, grafana_url)
        documents[f"{RULES_DIR}/{path.name}"] = rules
    return documents


def render(
    services: ServicesFile, source: str, rules_dir: Path, runbook_base: str, grafana_url: str
) -> dict[str, str]:
    """Relative path -> content of every file Prometheus reads from the output directory."""
    files = {TARGETS_FILE: json.dumps(targets(services), indent=2) + "\n"}
    for relative, document in rule_files(services, rules_dir, runbook_base, grafana_url).items():
        committed = f"prometheus/rules/{Path(relative).name}"
        origin = source if relative == OBJECTIVES_FILE else committed
        files[relative] = HEADER.format(source=origin) + dump(document)
    return files


def _replace(target: Path, content: bytes) -> None:
    """Write `target` atomically, readable by other uids (Prometheus's, the sidecar's)."""
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)


def publish(services: Path, out: Path) -> bool:
    """Give the sidecar the services file as it is, valid or not: the sidecar validates
    it itself, and reports a bad one while its last good one runs on."""
    try:
        data = read(services)
    except ServicesFileError:
        return False
    _replace(out / SIDECAR_FILE, data)
    return True


def write(out: Path, files: dict[str, str]) -> None:
    """Write each file atomically (readable by Prometheus's uid); drop ones no longer rendered."""
    for relative, content in files.items():
        _replace(out / relative, content.encode())
    for directory, pattern in ((RULES_DIR, "*.rules.yml"), (Path(TARGETS_FILE).parent, "*.json")):
        for stale in (out / directory).glob(pattern):
            if str(stale.relative_to(out)) not in files:
                stale.unlink()


def link_base(name: str, value: str) -> str:
    """`value` as a base for alert links, without a trailing slash; SettingError naming
    `name` unless it is a plain http(s) URL (it ends up inside YAML and Go templates)."""
    if not _URL.fullmatch(value) or FORBIDDEN.search(value):
        raise SettingError(f"{name} must be an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def _setting(name: str, default: str) -> str:
    return link_base(name, os.environ.get(name, "").strip() or default)


def _summary(services: ServicesFile) -> list[str]:
    lines = []
    for service in services.services:
        slo = service.slo
        parts = [
            f"metrics {service.metrics.target}" if service.metrics else "no metrics target",
            f"availability {slo.availability.objective * 100:g}%",
            f"latency {slo.latency.objective * 100:g}% within {slo.latency.threshold_seconds:g}s",
        ]
        lines.append(f"stack-config: {service.name}: " + ", ".join(parts))
        for kind, objective in (
            ("availability", slo.availability.objective),
            ("latency", slo.latency.objective),
        ):
            seconds = outage_page_seconds(objective)
            if seconds > 60:
                lines.append(
                    f"stack-config: note: {service.name}'s {kind} objective {objective * 100:g}% "
                    f"pages on a complete outage only after {seconds:.0f}s of it (the fast "
                    "burn needs 2% of the monthly budget); objectives of 99.9% and above "
                    "page within a minute of such an outage."
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=Path, required=True, help="the services file")
    parser.add_argument("--rules", type=Path, default=PROMETHEUS_DIR / "rules")
    parser.add_argument("--out", type=Path, required=True, help="the directory Prometheus reads")
    args = parser.parse_args(argv)
    try:
        runbook_base = _setting("RUNBOOK_BASE_URL", DEFAULT_RUNBOOK_BASE_URL)
        grafana_url = _setting("GRAFANA_URL", DEFAULT_GRAFANA_URL)
    except SettingError as exc:
        print(f"stack-config: {exc}", file=sys.stderr)
        print("stack-config: nothing written; the last good files stay", file=sys.stderr)
        return 2
    published = publish(args.services, args.out)
    try:
        services = load(args.services)
        files = render(services, args.services.name, args.rules, runbook_base, grafana_url)
    except ServicesFileError as exc:
        print(f"stack-config: {exc}", file=sys.stderr)
        print(
            "stack-config: nothing written for Prometheus, which keeps the last good files"
            + ("; the sidecar keeps its last good services and reports this" if published else ""),
            file=sys.stderr,
        )
        return 2
    write(args.out, files)
    print(f"stack-config: {len(services.services)} service(s) from {args.services}")
    for line in _summary(services):
        print(line)
    print(f"stack-config: alert links: runbooks {runbook_base}/<Alert>.md, Grafana {grafana_url}")
    print(f"stack-config: wrote {len(files)} files under {args.out}/prometheus")
    print(f"stack-config: the sidecar follows {args.out}/{SIDECAR_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
