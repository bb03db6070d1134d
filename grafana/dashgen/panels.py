"""Panel builders: each one demands a title, a description and a unit.

A panel is a plain dict in Grafana's dashboard JSON model; `gridPos` and `id`
are filled in by the dashboard layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class Datasource:
    """A datasource chosen through a dashboard variable named `var` of plugin `kind`."""

    kind: str
    var: str

    @property
    def ref(self) -> Json:
        return {"type": self.kind, "uid": f"${{{self.var}}}"}


@dataclass(frozen=True)
class Query:
    """One target. `instant` for tables and stats of the current value."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False
    heatmap: bool = False
    exemplar: bool = False


@dataclass(frozen=True)
class Link:
    """A panel link to another dashboard, carrying time range and variables."""

    title: str
    dashboard_uid: str

    def json(self) -> Json:
        query = "${__url_time_range}&${service_name:queryparam}"
        return {"title": self.title, "url": f"/d/{self.dashboard_uid}?{query}"}


@dataclass(frozen=True)
class Thresholds:
    """Color steps: the base color, then (value, color) pairs ascending."""

    base: str = "green"
    steps: tuple[tuple[float, str], ...] = ()

    def json(self) -> Json:
        colors: list[Json] = [{"color": self.base, "value": None}]
        colors += [{"color": color, "value": value} for value, color in self.steps]
        return {"mode": "absolute", "steps": colors}


@dataclass(frozen=True)
class Panel:
    """What every panel must say about itself, plus its visualisation specifics."""

    kind: str
    title: str
    description: str
    unit: str
    datasource: Datasource
    queries: tuple[Query, ...]
    width: int = 12
    height: int = 8
    links: tuple[Link, ...] = ()
    thresholds: Thresholds = Thresholds()
    mappings: tuple[Json, ...] = ()
    options: Json = field(default_factory=dict)
    custom: Json = field(default_factory=dict)
    decimals: int | None = None
    min: float | None = None
    max: float | None = None

    def json(self) -> Json:
        defaults: Json = {
            "unit": self.unit,
            "thresholds": self.thresholds.json(),
            "mappings": list(self.mappings),
            "custom": self.custom,
        }
        for key in ("decimals", "min", "max"):
            if getattr(self, key) is not None:
                defaults[key] = getattr(self, key)
        return {
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": self.datasource.ref,
            "targets": [_target(q, i, self.datasource) for i, q in enumerate(self.queries)],
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": self.options,
            "links": [link.json() for link in self.links],
            "gridPos": {"h": self.height, "w": self.width},
        }


def _target(query: Query, index: int, datasource: Datasource) -> Json:
    target: Json = {
        "refId": chr(ord("A") + index),
        "datasource": datasource.ref,
        "expr": query.expr,
        "legendFormat": query.legend or "__auto",
    }
    if datasource.kind == "prometheus":
        target["instant"] = query.instant
        target["range"] = not query.instant
        target["exemplar"] = query.exemplar
        target["format"] = "table" if query.table else "heatmap" if query.heatmap else "time_series"
    else:
        target["queryType"] = "instant" if query.instant else "range"
    return target


LEGEND = {"displayMode": "list", "placement": "bottom", "showLegend": True}
TOOLTIP = {"mode": "multi", "sort": "desc"}


def timeseries(
    title: str, description: str, unit: str, ds: Datasource, *queries: Query, **kw: Any
) -> Panel:
    return Panel(
        "timeseries",
        title,
        description,
        unit,
        ds,
        queries,
        options={"legend": LEGEND, "tooltip": TOOLTIP},
        custom={"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "spanNulls": False},
        **kw,
    )


def stat(
    title: str, description: str, unit: str, ds: Datasource, *queries: Query, **kw: Any
) -> Panel:
    text_mode = kw.pop("text_mode", "value")
    return Panel(
        "stat",
        title,
        description,
        unit,
        ds,
        queries,
        width=kw.pop("width", 6),
        height=kw.pop("height", 5),
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": text_mode,
            "justifyMode": "auto",
            "orientation": "auto",
        },
        **kw,
    )


def table(
    title: str, description: str, unit: str, ds: Datasource, *queries: Query, **kw: Any
) -> Panel:
    return Panel(
        "table",
        title,
        description,
        unit,
        ds,
        queries,
        options={"showHeader": True, "cellHeight": "sm"},
        custom={"align": "auto", "cellOptions": {"type": "auto"}},
        **kw,
    )


def heatmap(
    title: str, description: str, unit: str, ds: Datasource, *queries: Query, **kw: Any
) -> Panel:
    """A heatmap of pre-bucketed histogram rates; `unit` is the y axis (bucket bounds)."""
    return Panel(
        "heatmap",
        title,
        description,
        unit,
        ds,
        queries,
        options={
            "calculate": False,
            "yAxis": {"unit": unit, "axisPlacement": "left"},
            "rowsFrame": {"layout": "le"},
            "cellValues": {"unit": "reqps"},
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
            "tooltip": {"mode": "single", "yHistogram": True},
            "legend": {"show": True},
        },
        **kw,
    )


def state_timeline(
    title: str, description: str, unit: str, ds: Datasource, *queries: Query, **kw: Any
) -> Panel:
    return Panel(
        "state-timeline",
        title,
        description,
        unit,
        ds,
        queries,
        options={"showValue": "auto", "mergeValues": True, "rowHeight": 0.9, "legend": LEGEND},
        custom={"lineWidth": 0, "fillOpacity": 80},
        **kw,
    )


def logs(
    title: str,
    description: str,
    ds: Datasource,
    *queries: Query,
    oldest_first: bool = False,
    **kw: Any,
) -> Panel:
    """A log list; its unit is "none" because the lines are text, not numbers."""
    return Panel(
        "logs",
        title,
        description,
        "none",
        ds,
        queries,
        width=kw.pop("width", 24),
        height=kw.pop("height", 10),
        options={
            "showTime": True,
            "wrapLogMessage": True,
            "enableLogDetails": True,
            "sortOrder": "Ascending" if oldest_first else "Descending",
            "dedupStrategy": "none",
        },
        **kw,
    )


def value_map(value: int, text: str, color: str) -> Json:
    """A value mapping that shows `text` in `color` for the number `value`."""
    return {
        "type": "value",
        "options": {str(value): {"text": text, "color": color, "index": value}},
    }
