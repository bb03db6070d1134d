"""The dashboard frame every generated dashboard shares, on grafana-foundation-sdk.

Variables, links, tags, refresh and layout are decided here once: a datasource
variable per datasource kind the panels use, a `service_name` variable, and
links to the other stack dashboards. The SDK builds the model; `finish` then
lays the panels out and numbers them, because the SDK's builders leave panel
ids and refIds unset and its layout lets a panel overflow the grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from grafana.dashgen.contract import LOKI_UID, PROMETHEUS_UID, SERVICE_LABEL, STACK_TAG

GRID_WIDTH = 24

# The provisioned default datasource of each kind (grafana/provisioning/datasources).
DEFAULT_DATASOURCE = {"prometheus": ("Prometheus", PROMETHEUS_UID), "loki": ("Loki", LOKI_UID)}


@dataclass(frozen=True)
class Row:
    title: str
    panels: Sequence[Builder[dm.Panel]]


def text_variable(name: str, label: str, description: str) -> db.TextBoxVariable:
    """A free-text variable, e.g. a trace ID pasted or passed in the URL (var-<name>=)."""
    return (
        db.TextBoxVariable(name)
        .label(label)
        .description(description)
        .default_value("")
        .current(dm.VariableOption(text="", value=""))
        .hide(dm.VariableHide.DONT_HIDE)
    )


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    service_source: str,
    service_datasource: cm.DataSourceRef,
    rows: Sequence[Row],
    extra_variables: Sequence[db.TextBoxVariable] = (),
) -> dm.Dashboard:
    """The dashboard, its panels flowed row by row; `service_source` fills the service picker."""
    built = [(row.title, [panel.build() for panel in row.panels]) for row in rows]
    datasources = _datasources_used(built, service_datasource)
    board = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([STACK_TAG])
        .readonly()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .timezone("utc")
        .time("now-1h", "now")
        .refresh("30s")
        .version(1)
        .link(
            db.DashboardLink("Observability stack")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags([STACK_TAG])
            .include_vars(True)
            .keep_time(True)
        )
        .variables(
            [
                *(_datasource_variable(ds, len(datasources)) for ds in datasources),
                _service_variable(service_source, service_datasource),
                *extra_variables,
            ]
        )
        .build()
    )
    board.panels = _layout(built)
    # The SDK marks every link `placement: inControlsMenu`, which moves a
    # dashboard link into Grafana's controls menu; unset, it shows above the panels.
    panel_links = [link for _, panels in built for panel in panels for link in panel.links or []]
    for link in [*(board.links or []), *panel_links]:
        link.placement = None  # type: ignore[assignment]
    return board


def _datasources_used(
    rows: list[tuple[str, list[dm.Panel]]], service_ds: cm.DataSourceRef
) -> list[cm.DataSourceRef]:
    seen = {(service_ds.type_val, service_ds.uid): service_ds}
    for _, panels in rows:
        for panel in panels:
            assert panel.datasource is not None
            seen.setdefault((panel.datasource.type_val, panel.datasource.uid), panel.datasource)
    return list(seen.values())


def _datasource_variable(ds: cm.DataSourceRef, count: int) -> db.DatasourceVariable:
    kind = str(ds.type_val)
    var = str(ds.uid).removeprefix("${").removesuffix("}")
    # dashboard-linter's naming: `datasource` when it is the only one, else `<kind>_datasource`.
    expected = "datasource" if count == 1 else f"{kind}_datasource"
    if var != expected:
        raise ValueError(f"datasource variable for {kind} must be named {expected!r}")
    text, uid = DEFAULT_DATASOURCE[kind]
    return (
        db.DatasourceVariable(var)
        .label("Data source" if count == 1 else f"{kind.capitalize()} data source")
        .type(kind)
        .current(dm.VariableOption(text=text, value=uid))
        .regex("")
        .hide(dm.VariableHide.DONT_HIDE)
    )


def _service_variable(source_metric: str, ds: cm.DataSourceRef) -> db.QueryVariable:
    query = f"label_values({source_metric}, {SERVICE_LABEL})"
    return (
        db.QueryVariable(SERVICE_LABEL)
        .label("Service")
        .description("The service_name label: the same for scraped, OTLP and log-derived series.")
        .datasource(ds)
        .query({"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"})
        .definition(query)
        # On time range change, so services that appear later are offered.
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .hide(dm.VariableHide.DONT_HIDE)
    )


def _layout(rows: list[tuple[str, list[dm.Panel]]]) -> list[dm.Panel | dm.RowPanel]:
    """Flow panels left to right, wrapping at the grid width, a row header before each row.

    Also numbers panels (`id`) and their targets (`refId`, with the panel's datasource).
    """
    out: list[dm.Panel | dm.RowPanel] = []
    y = 0
    for title, panels in rows:
        out.append(
            dm.RowPanel(title=title, id_val=len(out) + 1, grid_pos=dm.GridPos(1, GRID_WIDTH, 0, y))
        )
        y += 1
        x = 0
        line_height = 0
        for panel in panels:
            assert panel.grid_pos is not None
            width, height = panel.grid_pos.w, panel.grid_pos.h
            if x + width > GRID_WIDTH:
                y += line_height
                x = 0
                line_height = 0
            panel.grid_pos = dm.GridPos(height, width, x, y)
            panel.id_val = len(out) + 1
            for index, target in enumerate(panel.targets or []):
                target.ref_id = chr(ord("A") + index)  # type: ignore[attr-defined]
                target.datasource = panel.datasource  # type: ignore[attr-defined]
            out.append(panel)
            x += width
            line_height = max(line_height, height)
        y += line_height
    return out
