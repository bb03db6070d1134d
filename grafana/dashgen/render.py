"""Renders every dashboard to its committed JSON file, or checks the files are current."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from grafana.dashgen import health, logs, service_overview, stack
from grafana.dashgen.dashboard import Dashboard

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboards"
BUILDERS: tuple[Callable[[], Dashboard], ...] = (
    service_overview.build,
    health.build,
    logs.build,
    stack.build,
)


def rendered() -> dict[str, str]:
    """File name -> JSON text, for every dashboard, in a stable form (sorted keys, newline)."""
    out: dict[str, str] = {}
    for build in BUILDERS:
        dashboard = build().json()
        out[f"{dashboard['uid']}.json"] = json.dumps(dashboard, indent=2, sort_keys=True) + "\n"
    return out


def stale(directory: Path = DASHBOARD_DIR) -> list[str]:
    """Names of dashboard files that are missing, differ from the generator, or are extra."""
    want = rendered()
    problems = [
        name
        for name, text in want.items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]
    problems += sorted(p.name for p in directory.glob("*.json") if p.name not in want)
    return problems


def write(directory: Path = DASHBOARD_DIR) -> list[str]:
    """Write every dashboard and remove JSON files no builder produces; return the names written."""
    directory.mkdir(parents=True, exist_ok=True)
    want = rendered()
    for name, text in want.items():
        (directory / name).write_text(text)
    for orphan in directory.glob("*.json"):
        if orphan.name not in want:
            orphan.unlink()
    return sorted(want)
