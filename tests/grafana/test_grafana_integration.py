"""Every Prometheus panel query returns data from a real Prometheus fed by the real stack.

The stack (tests/grafana/live_stack.py) runs the project's prometheus.yml and
rule files through the named transform `local_fast_run` (1s scrape and
evaluation, alerts' `for` zeroed, local addresses), with the real sample
service under traffic (30% of /api/v1/items failing by fault injection, some
404s), the real sidecar, the real Alertmanager delivering to the real alert
inbox, and the real Loki and Tempo (scraped too). Grafana's variables are
substituted as Grafana would for that setup: $__rate_interval = max($__interval
+ scrape interval, 4 x scrape interval) = 4s.

Windows longer than the run (the 1h..3d SLO ratios, the 5m recording rules)
still produce data: rate() over a window needs two samples in it, not a full
window, so their values are young but present.

Panels that have no data here by nature, checked to be exactly these:
- for the access-log-derived service (a second service_name the sidecar
  derives from the same access log, listed in the services file with logs
  only), the active-requests panels: an access log records finished requests
  only, and the telemetry contract gives that source no gauge. Its SLO and alert panels
  have data: its objectives come from the services file like any service's.
- OTLP-pushed metrics are not run at all: Debian's Prometheus build has no
  OTLP receiver. The panels select by service_name and read the same metric
  names prometheus.yml's OTLP translation produces, which
  test_grafana_promql.py checks for every query.
"""

from __future__ import annotations

import math
import re
import time

import httpx
import pytest

from grafana.dashgen.contract import (
    LOKI_STREAM_LABELS,
    RULE_ERROR_RATIO,
    RULE_P95,
    RULE_REQUESTS,
    SLO_OBJECTIVE,
    SLOS,
    slo_error_ratio_rule,
)
from tests.grafana.live_stack import ACCESS_LOG_SERVICE, SERVICE, LiveStack
from tests.grafana.model import Target, datasource_provisioning, substitute, targets
from tests.grafana.promql_ast import metric_names, parse
from tests.support.loki import LogEntry, now_ns

pytestmark = pytest.mark.integration

SCRAPE_SECONDS = 1
RATE_INTERVAL = f"{max(1 + SCRAPE_SECONDS, 4 * SCRAPE_SECONDS)}s"
RANGE_SECONDS = 20
WAIT_SECONDS = 60

PROMETHEUS_TARGETS = targets("prometheus")
# Scrape jobs of prometheus.yml whose service cannot run on this machine.
THIRD_PARTY_JOBS = {"otel-collector", "grafana"}
# What a service listed in the services file with an access log and no /metrics has.
ACCESS_LOG_SERVICE_SOURCES = {
    "http_server_request_duration_seconds_bucket",
    "http_server_request_duration_seconds_count",
    "http_server_request_duration_seconds_sum",
    RULE_REQUESTS,
    "service_name_http_route:http_server_requests:rate5m",
    RULE_ERROR_RATIO,
    "service_name_http_route:http_server_request_errors:ratio_rate5m",
    RULE_P95,
    # The SLO panels: the generic SLO rules and the objectives of the services file.
    SLO_OBJECTIVE,
    *(slo_error_ratio_rule(slo, window) for slo in SLOS for window in ("5m", "1h", "6h", "3d")),
    "ALERTS",
}


def _values(service: str) -> dict[str, str]:
    return {
        "__rate_interval": RATE_INTERVAL,
        "__interval": f"{SCRAPE_SECONDS}s",
        "__range": "5m",
        "service_name": service,
    }


def _finite_points(prometheus: str, target: Target, service: str) -> int:
    expr = substitute(target.expr, _values(service))
    now = time.time()
    if target.instant:
        response = httpx.get(
            f"{prometheus}/api/v1/query", params={"query": expr, "time": now}, timeout=10
        )
        series = response.json()["data"]["result"]
        points = [s["value"] for s in series]
    else:
        params = {"query": expr, "start": now - RANGE_SECONDS, "end": now, "step": "1s"}
        response = httpx.get(f"{prometheus}/api/v1/query_range", params=params, timeout=10)
        points = [p for s in response.json()["data"]["result"] for p in s["values"]]
    assert response.status_code == 200, response.text
    return sum(1 for _, value in points if math.isfinite(float(value)))


def _wait_for_data(prometheus: str, target: Target, service: str) -> int:
    deadline = time.monotonic() + WAIT_SECONDS
    while (points := _finite_points(prometheus, target, service)) == 0:
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    return points


@pytest.mark.parametrize("target", PROMETHEUS_TARGETS, ids=str)
def test_every_prometheus_panel_query_returns_data(live: LiveStack, target: Target) -> None:
    assert _wait_for_data(live.prometheus.url, target, SERVICE) > 0, str(target)


def _access_log_panels(parser: str) -> list[Target]:
    return [
        t
        for t in targets("prometheus")
        if t.dashboard == "obs-service-overview"
        and metric_names(parse(parser, substitute(t.expr, _values("x"))))
        <= ACCESS_LOG_SERVICE_SOURCES
    ]


def test_service_overview_works_for_access_log_derived_metrics(
    live: LiveStack, promql_parser: str
) -> None:
    panels = _access_log_panels(promql_parser)
    overview = {t.panel for t in targets("prometheus") if t.dashboard == "obs-service-overview"}
    # Exactly the documented exceptions are left out (module docstring).
    left_out = overview - {t.panel for t in panels}
    assert left_out == {"Active requests", "Active requests by method"}
    empty = [
        str(t) for t in panels if _wait_for_data(live.prometheus.url, t, ACCESS_LOG_SERVICE) == 0
    ]
    assert empty == []


def test_the_run_had_the_traffic_the_panels_need(live: LiveStack) -> None:
    # Guards the guard: successes, injected 500s and 404s all happened, and only
    # jobs of services that cannot run here were left out of the scrape config.
    wanted = {200: 50, 500: 5, 404: 5}
    deadline = time.monotonic() + WAIT_SECONDS
    while not all(live.responses.get(code, 0) > n for code, n in wanted.items()):
        assert time.monotonic() < deadline, f"traffic so far: {live.responses}"
        time.sleep(0.5)
    assert set(live.dropped_jobs) <= THIRD_PARTY_JOBS


def test_latency_heatmap_exemplars_carry_trace_ids(live: LiveStack) -> None:
    (heatmap,) = [t for t in PROMETHEUS_TARGETS if t.panel == "Latency heatmap (with exemplars)"]
    expr = substitute(heatmap.expr, _values(SERVICE))
    deadline = time.monotonic() + WAIT_SECONDS
    exemplars: list[dict] = []
    while not exemplars and time.monotonic() < deadline:
        now = time.time()
        params = {"query": expr, "start": now - 60, "end": now}
        body = httpx.get(f"{live.prometheus.url}/api/v1/query_exemplars", params=params).json()
        exemplars = [e for series in body["data"] for e in series["exemplars"]]
        time.sleep(1)
    assert exemplars, "no exemplars on the heatmap's series"
    # The label the prometheus datasource opens in Tempo is the one the service sets.
    (link,) = _provisioned("prometheus")["exemplarTraceIdDestinations"]
    assert all(re.fullmatch(r"[0-9a-f]{32}", e["labels"][link["name"]]) for e in exemplars)


def _provisioned(uid: str) -> dict:
    (datasource,) = [ds for ds in datasource_provisioning() if ds["uid"] == uid]
    return dict(datasource["jsonData"])


def _wait_for_error_lines(live: LiveStack) -> list[LogEntry]:
    deadline = time.monotonic() + WAIT_SECONDS
    query = f'{{service_name="{SERVICE}", level=~"error|critical"}}'
    entries: list[LogEntry] = []
    while not entries and time.monotonic() < deadline:
        entries = live.loki.query_range(query, now_ns() - 600 * 10**9, now_ns())
        time.sleep(0.5)
    return entries


def test_stored_streams_have_the_labels_and_metadata_the_logql_reads(live: LiveStack) -> None:
    # The "Error logs" panel's level=~"error|critical" finds the injected 500s' lines.
    errors = _wait_for_error_lines(live)
    assert errors, "no error line of the service in Loki"
    ours = live.loki.query_range(f'{{service_name="{SERVICE}"}}', now_ns() - 600 * 10**9, now_ns())
    # Stream labels: the low-cardinality set the dashboards select on, nothing more.
    assert all(set(e.labels) == set(LOKI_STREAM_LABELS) for e in ours)
    # The "Logs of trace" panel and Loki's derived field read trace_id as structured
    # metadata, under the name the loki datasource links to Tempo.
    (field,) = _provisioned("loki")["derivedFields"]
    key = field["matcherRegex"]
    assert any(re.fullmatch(r"[0-9a-f]{32}", e.metadata.get(key, "")) for e in ours)
