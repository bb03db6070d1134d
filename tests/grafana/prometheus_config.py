"""The project's Prometheus config and rules, made to run locally and fast.

One named transform, `local_fast_run`, so the integration test evaluates the
project's own rules and scrape jobs (with their service_name target labels and
honor_labels) rather than a config of its own, fed by what stack-config renders
from a services file.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests.grafana.model import ROOT
from tests.prometheus.rules import render, rendered

PROJECT_DIR = ROOT / "prometheus"
# Jobs whose targets come from the services file through file_sd.
FILE_SD_JOBS = ("services",)


def local_fast_run(
    addresses: dict[str, str],
    alertmanager: str,
    workdir: Path,
    services_file: Path,
    interval: str = "1s",
) -> tuple[dict[str, Any], list[str]]:
    """The project's prometheus.yml, written to `workdir`, with:
    - what stack-config renders from `services_file` beside it (targets, objectives);
    - scrape and evaluation intervals set to `interval` (rule groups lose their own);
    - each static job in `addresses` pointed at the local process; other static jobs
      (third-party services that cannot run here) dropped and returned by name;
    - rule files copied with every alert's `for` set to 0s, so an alert whose
      expression holds shows up in ALERTS within seconds (expressions untouched);
    - alerts sent to the local `alertmanager`.
    """
    render.write(workdir / "stack-config", rendered(services_file))
    config = yaml.safe_load((PROJECT_DIR / "prometheus.yml").read_text())
    config["global"].update(
        {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval}
    )
    rules_dir = workdir / "rules"
    rules_dir.mkdir(exist_ok=True)
    config["rule_files"] = [
        str(_accelerated(path, rules_dir))
        for pattern in config["rule_files"]
        for path in sorted(workdir.glob(pattern))
    ]
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    kept, dropped = [], []
    for job in config["scrape_configs"]:
        if job["job_name"] in FILE_SD_JOBS:
            kept.append(
                {k: v for k, v in job.items() if k not in ("scrape_interval", "scrape_timeout")}
            )
            continue
        if job["job_name"] not in addresses:
            dropped.append(job["job_name"])
            continue
        job = copy.deepcopy(job)
        for static in job["static_configs"]:
            static["targets"] = [addresses[job["job_name"]]]
        job.pop("scrape_interval", None)
        job.pop("scrape_timeout", None)
        kept.append(job)
    missing = set(addresses) - {job["job_name"] for job in kept}
    if missing:
        raise ValueError(f"prometheus.yml has no scrape job named {sorted(missing)}")
    config["scrape_configs"] = kept
    return config, dropped


def _accelerated(source: Path, rules_dir: Path) -> Path:
    rules = yaml.safe_load(source.read_text())
    for group in rules["groups"]:
        group.pop("interval", None)
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = "0s"
                rule.pop("keep_firing_for", None)
    target = rules_dir / source.name
    target.write_text(yaml.safe_dump(rules, sort_keys=False))
    return target
