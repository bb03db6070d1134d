"""Logs: volume by level, error lines, and every line of one trace (Loki)."""

from __future__ import annotations

from grafana.dashgen.contract import HEALTH_UID, LOG_MESSAGES, LOGS_UID, OVERVIEW_UID, STACK_UID
from grafana.dashgen.dashboard import Dashboard, Row, TextVariable
from grafana.dashgen.panels import Datasource, Link, Query, logs, timeseries
from grafana.dashgen.promql import SERVICE, rate, sum_by

PROM = Datasource("prometheus", "prometheus_datasource")
LOKI = Datasource("loki", "loki_datasource")
STREAM = '{service_name="$service_name"}'
ERROR_LEVELS = 'level=~"error|critical"'
# trace_id is structured metadata, not a stream label: filter after the selector.
# Any service may have logged for the trace, so the selector takes them all.
TRACE_LINES = '{service_name=~".+"} | trace_id != "" | trace_id = "$trace_id"'

TRACE_ID = TextVariable(
    "trace_id",
    "Trace ID",
    "Hex trace ID; Tempo's trace-to-logs and links with var-trace_id=<id> fill it in.",
)


def build() -> Dashboard:
    rows = (
        Row(
            "Volume",
            (
                timeseries(
                    "Log volume by level (Loki)",
                    "Lines stored in Loki per level, counted over Grafana's automatic interval.",
                    "short",
                    LOKI,
                    Query(
                        f"sum by (level) (count_over_time({STREAM}[$__auto]))",
                        legend="{{level}}",
                    ),
                ),
                timeseries(
                    "Lines read by level (sidecar)",
                    "Lines per second the sidecar read from the service's log file, per "
                    "level; compare with Loki's volume to spot lines not yet shipped.",
                    "cps",
                    PROM,
                    Query(sum_by(("level",), rate(LOG_MESSAGES, SERVICE)), legend="{{level}}"),
                    links=(Link("Shipping health", STACK_UID),),
                ),
            ),
        ),
        Row(
            "Lines",
            (
                logs(
                    "Error logs",
                    "Lines at level error or critical. Open a line to follow its trace_id "
                    "to the trace in Tempo.",
                    LOKI,
                    Query(f'{{service_name="$service_name", {ERROR_LEVELS}}}'),
                    links=(Link("Service overview", OVERVIEW_UID), Link("Health", HEALTH_UID)),
                ),
                logs(
                    "Logs of trace $trace_id",
                    "Every line of any service carrying the trace_id in the Trace ID "
                    "variable, oldest first so the request reads in order.",
                    LOKI,
                    Query(TRACE_LINES),
                    oldest_first=True,
                ),
            ),
        ),
    )
    return Dashboard(
        uid=LOGS_UID,
        title="Service logs",
        description="Log volume per level, error lines and the lines of one trace, "
        "from Loki (the sidecar ships them) with trace_id linking to Tempo.",
        service_source=LOG_MESSAGES,
        service_datasource=PROM,
        rows=rows,
        extra_variables=(TRACE_ID,),
    )
