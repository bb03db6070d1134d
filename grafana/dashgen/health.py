"""Health: the sidecar's aggregate and per-check view of a watched service."""

from __future__ import annotations

from grafana.dashgen.contract import (
    HEALTH_CHECK_DURATION,
    HEALTH_CHECK_STATUS,
    HEALTH_CHECK_UP,
    HEALTH_STATUS,
    HEALTH_UID,
    LOGS_UID,
    OVERVIEW_UID,
)
from grafana.dashgen.dashboard import Dashboard, Row
from grafana.dashgen.panels import (
    Datasource,
    Link,
    Query,
    Thresholds,
    stat,
    state_timeline,
    table,
    timeseries,
    value_map,
)
from grafana.dashgen.promql import SERVICE, sel, sum_by

PROM = Datasource("prometheus", "datasource")
CHECK = ("check",)

# pass / warn / fail folded into one number per check, so one timeline row shows all three.
STATUS_MAPPINGS = (
    value_map(2, "pass", "green"),
    value_map(1, "warn", "orange"),
    value_map(0, "fail", "red"),
)


def _status_code(by: tuple[str, ...], metric: str) -> str:
    """2 on pass, 1 on warn, 0 on fail, from the one-hot status gauges."""
    passing = sum_by(by, sel(metric, SERVICE, 'status="pass"'))
    warning = sum_by(by, sel(metric, SERVICE, 'status="warn"'))
    return f"2 * {passing} + {warning}"


def _since_last_success() -> str:
    # The sidecar exports no last-success timestamp, so find the newest moment the
    # check was up within the dashboard range; "No data" means not up in the range.
    up = sel(HEALTH_CHECK_UP, SERVICE)
    last_up = f"max_over_time(timestamp({up} == 1)[$__range:$__interval])"
    return f"time() - max by (check) ({last_up})"


def build() -> Dashboard:
    rows = (
        Row(
            "Aggregate",
            (
                stat(
                    "Aggregate status",
                    "The service's health as the sidecar aggregates it: fail if a critical "
                    "check fails, warn if any other check is not passing, else pass.",
                    "none",
                    PROM,
                    Query(_status_code((), HEALTH_STATUS), instant=True),
                    mappings=STATUS_MAPPINGS,
                    thresholds=Thresholds("red", ((1, "orange"), (2, "green"))),
                    width=8,
                    links=(Link("Service overview", OVERVIEW_UID),),
                ),
                stat(
                    "Checks passing",
                    "Checks currently up (pass or warn) out of all checks of the service.",
                    "percentunit",
                    PROM,
                    Query(f"avg({sel(HEALTH_CHECK_UP, SERVICE)})", instant=True),
                    thresholds=Thresholds("red", ((0.5, "orange"), (1, "green"))),
                    width=8,
                ),
                stat(
                    "Failing checks",
                    "Number of checks failing right now.",
                    "short",
                    PROM,
                    # up is 0 or 1 per check, so the failing count is the sum of (1 - up).
                    Query(f"sum(1 - {sel(HEALTH_CHECK_UP, SERVICE)})", instant=True),
                    thresholds=Thresholds("green", ((1, "red"),)),
                    width=8,
                    links=(Link("Logs of this service", LOGS_UID),),
                ),
            ),
        ),
        Row(
            "Checks",
            (
                state_timeline(
                    "Status per check",
                    "Each check's published status over time: pass, warn or fail.",
                    "none",
                    PROM,
                    Query(_status_code(CHECK, HEALTH_CHECK_STATUS), legend="{{check}}"),
                    mappings=STATUS_MAPPINGS,
                    thresholds=Thresholds("red", ((1, "orange"), (2, "green"))),
                    width=24,
                ),
                timeseries(
                    "Check latency",
                    "How long each check's latest run took (up to its timeout).",
                    "s",
                    PROM,
                    Query(
                        f"max by (check) ({sel(HEALTH_CHECK_DURATION, SERVICE)})",
                        legend="{{check}}",
                    ),
                ),
                table(
                    "Time since last success",
                    "Seconds since each check was last up, within the dashboard's time "
                    "range; a check not up in the range shows no row.",
                    "s",
                    PROM,
                    Query(_since_last_success(), instant=True, table=True),
                    thresholds=Thresholds("green", ((60, "orange"), (300, "red"))),
                ),
            ),
        ),
    )
    return Dashboard(
        uid=HEALTH_UID,
        title="Service health",
        description="Health checks the sidecar runs against a watched service: aggregate "
        "status, per-check timeline, latency and time since last success.",
        service_source=HEALTH_STATUS,
        service_datasource=PROM,
        rows=rows,
    )
