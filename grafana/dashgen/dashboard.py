"""The dashboard frame every generated dashboard shares.

Variables, links, tags, refresh and layout are decided here once: a datasource
variable per datasource kind the panels use, a `service_name` variable, and
links to the other stack dashboards.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana.dashgen.contract import LOKI_UID, PROMETHEUS_UID, SERVICE_LABEL, STACK_TAG
from grafana.dashgen.panels import Datasource, Json, Panel

GRID_WIDTH = 24
SCHEMA_VERSION = 39

# The provisioned default datasource of each kind (grafana/provisioning/datasources).
DEFAULT_DATASOURCE = {"prometheus": ("Prometheus", PROMETHEUS_UID), "loki": ("Loki", LOKI_UID)}


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]
    collapsed: bool = False


@dataclass(frozen=True)
class TextVariable:
    """A free-text variable, e.g. a trace ID pasted or passed in the URL (var-<name>=)."""

    name: str
    label: str
    description: str

    def json(self) -> Json:
        return {
            "type": "textbox",
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "query": "",
            "current": {"text": "", "value": ""},
            "hide": 0,
        }


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    # The series whose service_name values fill the service picker.
    service_source: str
    service_datasource: Datasource
    rows: tuple[Row, ...]
    extra_variables: tuple[TextVariable, ...] = ()

    def json(self) -> Json:
        panels = _layout(self.rows)
        datasources = _datasources_used(self.rows, self.service_datasource)
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": [STACK_TAG],
            "editable": False,
            "graphTooltip": 1,
            "timezone": "utc",
            "time": {"from": "now-1h", "to": "now"},
            "refresh": "30s",
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "links": [_stack_links()],
            "annotations": {"list": []},
            "templating": {
                "list": [
                    *(_datasource_variable(ds, len(datasources)) for ds in datasources),
                    _service_variable(self.service_source, self.service_datasource),
                    *(variable.json() for variable in self.extra_variables),
                ]
            },
            "panels": panels,
        }


def _datasources_used(rows: tuple[Row, ...], service_ds: Datasource) -> list[Datasource]:
    seen = {service_ds: None}
    for row in rows:
        for panel in row.panels:
            seen.setdefault(panel.datasource, None)
    return list(seen)


def _datasource_variable(ds: Datasource, count: int) -> Json:
    # dashboard-linter's naming: `datasource` when it is the only one, else `<kind>_datasource`.
    expected = "datasource" if count == 1 else f"{ds.kind}_datasource"
    if ds.var != expected:
        raise ValueError(f"datasource variable for {ds.kind} must be named {expected!r}")
    text, uid = DEFAULT_DATASOURCE[ds.kind]
    label = "Data source" if count == 1 else f"{ds.kind.capitalize()} data source"
    return {
        "type": "datasource",
        "name": ds.var,
        "label": label,
        "query": ds.kind,
        "current": {"text": text, "value": uid},
        "regex": "",
        "hide": 0,
        "refresh": 1,
        "options": [],
    }


def _service_variable(source_metric: str, ds: Datasource) -> Json:
    query = f"label_values({source_metric}, {SERVICE_LABEL})"
    return {
        "type": "query",
        "name": SERVICE_LABEL,
        "label": "Service",
        "description": "The service_name label: the same for scraped, OTLP and log-derived series.",
        "datasource": ds.ref,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "definition": query,
        # 2 = on time range change, so services that appear later are offered.
        "refresh": 2,
        "sort": 1,
        "multi": False,
        "includeAll": False,
        "current": {},
        "options": [],
        "hide": 0,
    }


def _stack_links() -> Json:
    return {
        "type": "dashboards",
        "title": "Observability stack",
        "tags": [STACK_TAG],
        "asDropdown": False,
        "includeVars": True,
        "keepTime": True,
        "targetBlank": False,
    }


def _layout(rows: tuple[Row, ...]) -> list[Json]:
    """Flow panels left to right, wrapping at the grid width, a row header before each row."""
    out: list[Json] = []
    y = 0
    next_id = 1
    for row in rows:
        out.append(
            {
                "type": "row",
                "id": next_id,
                "title": row.title,
                "collapsed": row.collapsed,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        next_id += 1
        y += 1
        x = 0
        line_height = 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                y += line_height
                x = 0
                line_height = 0
            body = panel.json()
            body["id"] = next_id
            body["gridPos"].update({"x": x, "y": y})
            out.append(body)
            next_id += 1
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return out
