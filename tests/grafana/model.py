"""Reading the committed Grafana files the way Grafana does, for the grafana tests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from contract import current

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
PROVISIONING = GRAFANA / "provisioning"
DASHBOARD_UIDS = {dashboard.uid for dashboard in current().grafana.dashboards.values()}
DATASOURCE_UIDS = {datasource.uid for datasource in current().grafana.datasources.values()}

Json = dict[str, Any]
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class Target:
    """One query of one panel, with the datasource kind its variable resolves to."""

    dashboard: str
    panel: str
    kind: str
    expr: str
    instant: bool

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel}: {self.expr}"


def dashboards() -> dict[str, Json]:
    """uid -> dashboard JSON, for every file in grafana/dashboards."""
    out: dict[str, Json] = {}
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text())
        out[dashboard["uid"]] = dashboard
    return out


def datasource_provisioning() -> list[Json]:
    out: list[Json] = []
    for path in sorted((PROVISIONING / "datasources").glob("*.y*ml")):
        out += yaml.safe_load(path.read_text())["datasources"]
    return out


def panels(dashboard: Json) -> Iterator[Json]:
    """Every panel but row headers, including panels nested in collapsed rows."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def variables(dashboard: Json) -> dict[str, Json]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def datasource_kind(dashboard: Json, ref: Json) -> str:
    """The plugin type a datasource reference resolves to, through a variable if templated."""
    uid = ref["uid"]
    match = VARIABLE.fullmatch(uid)
    if match is None:
        return str(ref["type"])
    name = match.group(1) or match.group(2)
    return str(variables(dashboard)[name]["query"])


def targets(kind: str | None = None) -> list[Target]:
    """Every query of every panel (optionally only of one datasource kind)."""
    out = []
    for dashboard in dashboards().values():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                resolved = datasource_kind(dashboard, target.get("datasource", panel["datasource"]))
                if kind is None or resolved == kind:
                    out.append(
                        Target(
                            dashboard["uid"],
                            panel["title"],
                            resolved,
                            target["expr"],
                            bool(target.get("instant")),
                        )
                    )
    return out


def variable_queries() -> list[Target]:
    """The label_values(...) queries of the query variables, as Prometheus targets."""
    out = []
    for dashboard in dashboards().values():
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                kind = datasource_kind(dashboard, variable["datasource"])
                name = f"${variable['name']}"
                out.append(Target(dashboard["uid"], name, kind, variable["definition"], True))
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace Grafana variables ($x, ${x}, ${x:fmt}); an unknown variable is an error."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for Grafana variable ${name} in: {expr}")
        return values[name]

    return VARIABLE.sub(one, expr)


LABEL_VALUES = re.compile(r"label_values\((?P<metric>.+),\s*(?P<label>\w+)\)")
