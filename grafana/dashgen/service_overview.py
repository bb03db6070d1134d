"""Service overview: RED per route, latency heatmap with exemplars, SLO burn, firing alerts."""

from __future__ import annotations

from grafana.dashgen.contract import (
    HEALTH_UID,
    HTTP_ACTIVE,
    HTTP_DURATION,
    LOGS_UID,
    OVERVIEW_UID,
    RULE_ERROR_RATIO,
    RULE_P95,
    RULE_REQUESTS,
    SLO_OBJECTIVE,
    SLOS,
    slo_error_ratio_rule,
    slo_objective_matcher,
)
from grafana.dashgen.dashboard import Dashboard, Row
from grafana.dashgen.panels import (
    Datasource,
    Link,
    Query,
    Thresholds,
    heatmap,
    stat,
    table,
    timeseries,
)
from grafana.dashgen.promql import SERVER_ERROR, SERVICE, quantile, rate, ratio_or_zero, sel, sum_by

PROM = Datasource("prometheus", "datasource")
COUNT = f"{HTTP_DURATION}_count"
ROUTE = ("http_route",)
TO_LOGS = Link("Error logs of this service", LOGS_UID)
TO_HEALTH = Link("Health checks of this service", HEALTH_UID)

# Burn-rate windows shown: the fast-burn pair and the slow-burn pair of the alerts.
BURN_WINDOWS = ("5m", "1h", "6h", "3d")
# The window the error budget is accounted over: the longest recorded SLO window.
BUDGET_WINDOW = "3d"
QUANTILES = ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"))


def _error_ratio(by: tuple[str, ...]) -> str:
    errors = sum_by(by, rate(COUNT, SERVICE, SERVER_ERROR))
    total = sum_by(by, rate(COUNT, SERVICE))
    return ratio_or_zero(errors, total)


def _burn_rate(slo: str, window: str) -> str:
    # Burn rate = observed error ratio / error ratio the objective allows.
    observed = sel(slo_error_ratio_rule(slo, window), SERVICE)
    allowed = f"(1 - {sel(SLO_OBJECTIVE, SERVICE, slo_objective_matcher(slo))})"
    return f"{observed} / on (service_name) {allowed}"


def _budget_remaining(slo: str) -> str:
    return f"1 - ({_burn_rate(slo, BUDGET_WINDOW)})"


def _red_row() -> Row:
    return Row(
        "Requests, errors, duration",
        (
            stat(
                "Request rate",
                "Requests per second over the last 5 minutes (recording rule), all routes.",
                "reqps",
                PROM,
                Query(sel(RULE_REQUESTS, SERVICE), instant=True),
            ),
            stat(
                "Error ratio",
                "Share of responses with status >= 500 over the last 5 minutes (recording rule).",
                "percentunit",
                PROM,
                Query(sel(RULE_ERROR_RATIO, SERVICE), instant=True),
                thresholds=Thresholds("green", ((0.001, "orange"), (0.01, "red"))),
                links=(TO_LOGS,),
            ),
            stat(
                "p95 latency",
                "95th percentile request duration over the last 5 minutes (recording rule).",
                "s",
                PROM,
                Query(sel(RULE_P95, SERVICE), instant=True),
                thresholds=Thresholds("green", ((0.25, "orange"), (1.0, "red"))),
            ),
            stat(
                "Active requests",
                "Requests being served right now, summed over instances and methods.",
                "short",
                PROM,
                Query(f"sum({sel(HTTP_ACTIVE, SERVICE)})", instant=True),
                links=(TO_HEALTH,),
            ),
            timeseries(
                "Request rate per route",
                "Requests per second for each route template (never the raw path).",
                "reqps",
                PROM,
                Query(sum_by(ROUTE, rate(COUNT, SERVICE)), legend="{{http_route}}"),
            ),
            timeseries(
                "Error ratio per route",
                "Share of each route's responses with status >= 500; 0 while a route has "
                "traffic and no errors.",
                "percentunit",
                PROM,
                Query(_error_ratio(ROUTE), legend="{{http_route}}"),
                links=(TO_LOGS,),
                min=0,
            ),
            timeseries(
                "Latency p50 / p95 / p99 per route",
                "Request duration quantiles per route from the histogram buckets; bucket "
                "bounds limit their precision.",
                "s",
                PROM,
                *(
                    Query(
                        quantile(q, HTTP_DURATION, ROUTE, SERVICE),
                        legend=f"{name} {{{{http_route}}}}",
                    )
                    for q, name in QUANTILES
                ),
                width=24,
            ),
            heatmap(
                "Latency heatmap (with exemplars)",
                "Requests per second in each duration bucket. Exemplar dots carry a trace_id; "
                "click one to open the trace in Tempo.",
                "s",
                PROM,
                Query(
                    sum_by(("le",), rate(f"{HTTP_DURATION}_bucket", SERVICE)),
                    legend="{{le}}",
                    heatmap=True,
                    exemplar=True,
                ),
            ),
            table(
                "Top error routes",
                "The five routes serving the most status >= 500 responses per second now.",
                "reqps",
                PROM,
                Query(
                    f"topk(5, {sum_by(ROUTE, rate(COUNT, SERVICE, SERVER_ERROR))})",
                    instant=True,
                    table=True,
                ),
                links=(TO_LOGS,),
            ),
            timeseries(
                "Active requests by method",
                "In-flight requests per HTTP method; a rise without more traffic means "
                "requests are getting slower.",
                "short",
                PROM,
                Query(sum_by(("http_request_method",), sel(HTTP_ACTIVE, SERVICE))),
            ),
        ),
    )


def _slo_row() -> Row:
    budget = tuple(
        stat(
            f"{slo.capitalize()} error budget remaining ({BUDGET_WINDOW})",
            f"Share of the {slo} error budget left over the last {BUDGET_WINDOW}: 1 - "
            f"(error ratio / (1 - objective)). Below 0 the SLO is broken.",
            "percentunit",
            PROM,
            Query(_budget_remaining(slo), instant=True),
            thresholds=Thresholds("red", ((0.0, "orange"), (0.25, "green"))),
        )
        for slo in SLOS
    )
    burn = tuple(
        timeseries(
            f"{slo.capitalize()} burn rate",
            f"How fast the {slo} error budget burns per window (1 = exactly on budget). "
            "Fast-burn alerts look at 5m/1h, slow-burn at 6h/3d.",
            "short",
            PROM,
            *(Query(_burn_rate(slo, w), legend=w) for w in BURN_WINDOWS),
            thresholds=Thresholds("green", ((1.0, "orange"), (14.4, "red"))),
        )
        for slo in SLOS
    )
    objective = tuple(
        stat(
            f"{slo.capitalize()} objective",
            f"The {slo} SLO objective of the service, from the services file "
            "(services.yaml); empty for a service that is not listed there.",
            "percentunit",
            PROM,
            Query(sel(SLO_OBJECTIVE, SERVICE, slo_objective_matcher(slo)), instant=True),
            decimals=2,
            thresholds=Thresholds("blue"),
        )
        for slo in SLOS
    )
    return Row("SLO", (*objective, *budget, *burn))


def _alerts_row() -> Row:
    return Row(
        "Alerts",
        (
            table(
                "Firing alerts",
                "Alerts Prometheus is firing for this service now (the ALERTS series), with "
                "their severity; Alertmanager routes them.",
                "none",
                PROM,
                Query(sel("ALERTS", SERVICE, 'alertstate="firing"'), instant=True, table=True),
                width=24,
            ),
        ),
    )


def build() -> Dashboard:
    return Dashboard(
        uid=OVERVIEW_UID,
        title="Service overview",
        description="RED metrics, latency heatmap with exemplars, SLO status and firing alerts "
        "of one service, whatever the source of its HTTP metrics.",
        service_source=COUNT,
        service_datasource=PROM,
        rows=(_red_row(), _slo_row(), _alerts_row()),
    )
