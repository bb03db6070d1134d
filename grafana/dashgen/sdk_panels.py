"""Panel builders on grafana-foundation-sdk: each one demands a title, a description and a unit.

They return the SDK's typed panel builders with the stack's visual defaults set,
so a dashboard module chains only what is particular to its panel (targets,
thresholds, mappings, links, size).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import heatmap as heatmap_builder
from grafana_foundation_sdk.builders import logs as logs_builder
from grafana_foundation_sdk.builders import loki, prometheus
from grafana_foundation_sdk.builders import stat as stat_builder
from grafana_foundation_sdk.builders import statetimeline as statetimeline_builder
from grafana_foundation_sdk.builders import table as table_builder
from grafana_foundation_sdk.builders import timeseries as timeseries_builder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.prometheus import PromQueryFormat


def datasource(kind: str, var: str) -> cm.DataSourceRef:
    """A datasource chosen through the dashboard variable `var` of plugin `kind`."""
    return cm.DataSourceRef(type_val=kind, uid=f"${{{var}}}")


def promql(
    expr: str,
    legend: str = "",
    *,
    instant: bool = False,
    table: bool = False,
    heatmap: bool = False,
    exemplar: bool = False,
) -> prometheus.Dataquery:
    """One Prometheus target; the frame fills in its refId and datasource."""
    query = prometheus.Dataquery().expr(expr).legend_format(legend or "__auto")
    query = query.instant() if instant else query.range()
    fmt = PromQueryFormat.TABLE if table else PromQueryFormat.HEATMAP if heatmap else None
    return query.exemplar(exemplar).format(fmt or PromQueryFormat.TIME_SERIES)


def logql(expr: str, *, instant: bool = False) -> loki.Dataquery:
    """One Loki target; the frame fills in its refId and datasource."""
    return (
        loki.Dataquery()
        .expr(expr)
        .legend_format("__auto")
        .query_type("instant" if instant else "range")
    )


def link(title: str, dashboard_uid: str) -> db.DashboardLink:
    """A panel link to another dashboard, carrying time range and variables."""
    query = "${__url_time_range}&${service_name:queryparam}"
    return db.DashboardLink(title).url(f"/d/{dashboard_uid}?{query}")


def thresholds(base: str = "green", *steps: tuple[float, str]) -> db.ThresholdsConfig:
    """Color steps: the base color, then (value, color) pairs ascending."""
    colors = [dm.Threshold(color=base, value=None)]
    colors += [dm.Threshold(color=color, value=value) for value, color in steps]
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(colors)


def value_map(value: int, text: str, color: str) -> dm.ValueMap:
    """A value mapping that shows `text` in `color` for the number `value`."""
    result = dm.ValueMappingResult(text=text, color=color, index=value)
    return dm.ValueMap(options={str(value): result})


def _legend() -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.LIST)
        .placement(cm.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def timeseries(
    title: str, description: str, unit: str, ds: cm.DataSourceRef
) -> timeseries_builder.Panel:
    return (
        timeseries_builder.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(ds)
        .span(12)
        .height(8)
        .thresholds(thresholds())
        .legend(_legend())
        .tooltip(
            cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING)
        )
        .draw_style(cm.GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(10)
        .span_nulls(False)
    )


def stat(title: str, description: str, unit: str, ds: cm.DataSourceRef) -> stat_builder.Panel:
    return (
        stat_builder.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(ds)
        .span(6)
        .height(5)
        .thresholds(thresholds())
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .text_mode(cm.BigValueTextMode.VALUE)
        .justify_mode(cm.BigValueJustifyMode.AUTO)
        .orientation(cm.VizOrientation.AUTO)
    )


def table(title: str, description: str, unit: str, ds: cm.DataSourceRef) -> table_builder.Panel:
    return (
        table_builder.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(ds)
        .span(12)
        .height(8)
        .thresholds(thresholds())
        .show_header(True)
        .cell_height(cm.TableCellHeight.SM)
        .align(cm.FieldTextAlignment.AUTO)
        .cell_options(cm.TableAutoCellOptions())
    )


def state_timeline(
    title: str, description: str, unit: str, ds: cm.DataSourceRef
) -> statetimeline_builder.Panel:
    return (
        statetimeline_builder.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(ds)
        .span(12)
        .height(8)
        .thresholds(thresholds())
        .show_value(cm.VisibilityMode.AUTO)
        .merge_values(True)
        .row_height(0.9)
        .legend(_legend())
        .line_width(0)
        .fill_opacity(80)
    )


def heatmap(title: str, description: str, unit: str, ds: cm.DataSourceRef) -> heatmap_builder.Panel:
    """A heatmap of pre-bucketed histogram rates; `unit` is the y axis (bucket bounds)."""
    return (
        heatmap_builder.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(ds)
        .span(12)
        .height(8)
        .thresholds(thresholds())
        .calculate(False)
        .y_axis(heatmap_builder.YAxisConfig().unit(unit).axis_placement(cm.AxisPlacement.LEFT))
        .rows_frame(heatmap_builder.RowsHeatmapOptions().layout(cm.HeatmapCellLayout.LE))
        .cell_values(heatmap_builder.CellValues().unit("reqps"))
        .color(
            heatmap_builder.HeatmapColorOptions()
            .mode(heatmap_builder.heatmap.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .steps(64)
        )
        .exemplars_color("rgba(255,0,255,0.7)")
        .tooltip(
            heatmap_builder.HeatmapTooltip().mode(cm.TooltipDisplayMode.SINGLE).y_histogram(True)
        )
        .show_legend()
    )


def logs(
    title: str, description: str, ds: cm.DataSourceRef, *, oldest_first: bool = False
) -> logs_builder.Panel:
    """A log list; its unit is "none" because the lines are text, not numbers."""
    return (
        logs_builder.Panel()
        .title(title)
        .description(description)
        .unit("none")
        .datasource(ds)
        .span(24)
        .height(10)
        .thresholds(thresholds())
        .show_time(True)
        .wrap_log_message(True)
        .enable_log_details(True)
        .sort_order(cm.LogsSortOrder.ASCENDING if oldest_first else cm.LogsSortOrder.DESCENDING)
        .dedup_strategy(cm.LogsDedupStrategy.NONE)
    )
