"""Health: the sidecar's aggregate and per-check view of a watched service."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from grafana.dashgen.contract import (
    HEALTH_CHECK_DURATION,
    HEALTH_CHECK_STATUS,
    HEALTH_CHECK_UP,
    HEALTH_STATUS,
    HEALTH_UID,
    LOGS_UID,
    OVERVIEW_UID,
)
from grafana.dashgen.promql import SERVICE, sel, sum_by
from grafana.dashgen.sdk_frame import Row, dashboard
from grafana.dashgen.sdk_panels import (
    datasource,
    link,
    promql,
    stat,
    state_timeline,
    table,
    thresholds,
    timeseries,
    value_map,
)

PROM = datasource("prometheus", "datasource")
CHECK = ("check",)

# pass / warn / fail folded into one number per check, so one timeline row shows all three.
STATUS_MAPPINGS: list[dm.ValueMapping] = [
    value_map(2, "pass", "green"),
    value_map(1, "warn", "orange"),
    value_map(0, "fail", "red"),
]


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


def build() -> dm.Dashboard:
    aggregate = Row(
        "Aggregate",
        (
            stat(
                "Aggregate status",
                "The service's health as the sidecar aggregates it: fail if a critical "
                "check fails, warn if any other check is not passing, else pass.",
                "none",
                PROM,
            )
            .with_target(promql(_status_code((), HEALTH_STATUS), instant=True))
            .mappings(STATUS_MAPPINGS)
            .thresholds(thresholds("red", (1, "orange"), (2, "green")))
            .span(8)
            .links([link("Service overview", OVERVIEW_UID)]),
            stat(
                "Checks passing",
                "Checks currently up (pass or warn) out of all checks of the service.",
                "percentunit",
                PROM,
            )
            .with_target(promql(f"avg({sel(HEALTH_CHECK_UP, SERVICE)})", instant=True))
            .thresholds(thresholds("red", (0.5, "orange"), (1, "green")))
            .span(8),
            stat("Failing checks", "Number of checks failing right now.", "short", PROM)
            # up is 0 or 1 per check, so the failing count is the sum of (1 - up).
            .with_target(promql(f"sum(1 - {sel(HEALTH_CHECK_UP, SERVICE)})", instant=True))
            .thresholds(thresholds("green", (1, "red")))
            .span(8)
            .links([link("Logs of this service", LOGS_UID)]),
        ),
    )
    checks = Row(
        "Checks",
        (
            state_timeline(
                "Status per check",
                "Each check's published status over time: pass, warn or fail.",
                "none",
                PROM,
            )
            .with_target(promql(_status_code(CHECK, HEALTH_CHECK_STATUS), "{{check}}"))
            .mappings(STATUS_MAPPINGS)
            .thresholds(thresholds("red", (1, "orange"), (2, "green")))
            .span(24),
            timeseries(
                "Check latency",
                "How long each check's latest run took (up to its timeout).",
                "s",
                PROM,
            ).with_target(
                promql(f"max by (check) ({sel(HEALTH_CHECK_DURATION, SERVICE)})", "{{check}}")
            ),
            table(
                "Time since last success",
                "Seconds since each check was last up, within the dashboard's time "
                "range; a check not up in the range shows no row.",
                "s",
                PROM,
            )
            .with_target(promql(_since_last_success(), instant=True, table=True))
            .thresholds(thresholds("green", (60, "orange"), (300, "red"))),
        ),
    )
    return dashboard(
        uid=HEALTH_UID,
        title="Service health",
        description="Health checks the sidecar runs against a watched service: aggregate "
        "status, per-check timeline, latency and time since last success.",
        service_source=HEALTH_STATUS,
        service_datasource=PROM,
        rows=(aggregate, checks),
    )
