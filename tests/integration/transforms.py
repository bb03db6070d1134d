"""Named transforms that make the production alerting config fast enough for a test.

The committed rules and routing are never copied and edited by hand: a test
loads them, applies one of these functions, and runs the result. Each keeps
every rule, name, label, threshold and route; only durations change.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
# PromQL ranges ("[5m]", "[1h:1m]") and offsets ("offset 5m").
_RANGE = re.compile(r"\[(\w+)(?::(\w*))?\]")
_OFFSET = re.compile(r"\boffset\s+(\w+)")


def parse_duration(text: str) -> float:
    """A Prometheus duration ("1h30m", "500ms") in seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(number) * _UNITS[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """Seconds as a Prometheus duration, to the millisecond."""
    millis = max(1, round(seconds * 1000))
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def _scaled(text: str, factor: float, floor: float) -> str:
    return format_duration(max(parse_duration(text) / factor, floor))


def scale_promql_durations(expr: str, factor: float, min_range: float) -> str:
    """Divide every range and offset in `expr` by `factor` (ranges at least `min_range` s)."""

    def _range(match: re.Match[str]) -> str:
        window = _scaled(match.group(1), factor, min_range)
        if match.group(2) is None:
            return f"[{window}]"
        step = _scaled(match.group(2), factor, 0.001) if match.group(2) else ""
        return f"[{window}:{step}]"

    expr = _RANGE.sub(_range, expr)
    return _OFFSET.sub(lambda m: f"offset {_scaled(m.group(1), factor, 0.001)}", expr)


def compress_rule_time(rules: dict[str, Any], factor: float, min_range: float) -> dict[str, Any]:
    """The rule file `rules` running `factor` times faster.

    Every `for:` and every PromQL range and offset is divided by `factor`;
    ranges are kept at least `min_range` seconds so they still hold a few
    scrapes. Record names keep their production windows ("rate1h"), so the
    alert expressions that read them are unchanged.
    """
    out: dict[str, Any] = {"groups": []}
    for group in rules["groups"]:
        new_rules = []
        for rule in group["rules"]:
            rule = dict(rule)
            rule["expr"] = scale_promql_durations(str(rule["expr"]), factor, min_range)
            if "for" in rule:
                rule["for"] = _scaled(rule["for"], factor, 0.001)
            new_rules.append(rule)
        out["groups"].append({**group, "rules": new_rules})
    return out


def compress_rule_files(src_dir: Path, dest_dir: Path, factor: float, min_range: float) -> None:
    """Apply compress_rule_time to every *.rules.yml of `src_dir`, writing to `dest_dir`."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(src_dir.glob("*.rules.yml")):
        rules = yaml.safe_load(path.read_text())
        compressed = compress_rule_time(rules, factor, min_range)
        (dest_dir / path.name).write_text(yaml.safe_dump(compressed, sort_keys=False))


def loopback_prometheus_config(
    config: dict[str, Any],
    targets: dict[str, str],
    alertmanager: str,
    rule_glob: str,
    interval: str,
    file_sd_jobs: Collection[str] = (),
) -> dict[str, Any]:
    """The project's prometheus.yml with its jobs pointed at loopback ports.

    Jobs named in `targets` (job -> host:port) keep all their settings
    (honor_labels, service_name) with only the address changed; jobs named in
    `file_sd_jobs` are kept as they are (their files, relative to the config,
    are the test's to write); the others (components not running in the test)
    are dropped. Scrape and evaluation intervals become `interval`.
    """
    out = dict(config)
    out["global"] = {
        **config["global"],
        "scrape_interval": interval,
        "evaluation_interval": interval,
        "scrape_timeout": interval,
    }
    out["rule_files"] = [rule_glob]
    out["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in file_sd_jobs:
            jobs.append(job)
            continue
        if job["job_name"] not in targets:
            continue
        static = [
            {**static_config, "targets": [targets[job["job_name"]]]}
            for static_config in job["static_configs"]
        ]
        jobs.append({**job, "static_configs": static})
    missing = (set(targets) | set(file_sd_jobs)) - {job["job_name"] for job in jobs}
    if missing:
        raise ValueError(f"prometheus.yml has no job named {sorted(missing)}")
    out["scrape_configs"] = jobs
    return out


def fast_alertmanager_timings(config_text: str, group_wait: str, group_interval: str) -> str:
    """The rendered alertmanager.yml with every group_wait and group_interval replaced.

    Routes, receivers, grouping and inhibitions are untouched; repeat_interval
    stays (a test never waits for a repeat).
    """
    config = yaml.safe_load(config_text)

    def _walk(route: dict[str, Any]) -> None:
        route["group_wait"] = group_wait
        route["group_interval"] = group_interval
        for child in route.get("routes", []):
            _walk(child)

    _walk(config["route"])
    return yaml.safe_dump(config, sort_keys=False)
