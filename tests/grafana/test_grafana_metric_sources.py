"""Every metric a dashboard reads is produced by something that runs in the stack.

Producers, each read live or from the repository:
- the recording rules in prometheus/rules;
- the live /metrics of the real sample service, the real sidecar, the real alert
  inbox, and the real Prometheus and Alertmanager binaries, all running under
  traffic with injected errors (tests/grafana/live_stack.py), so labelled series
  exist;
- the series Prometheus synthesises itself (up, scrape_*, ALERTS), a documented list.
A name found nowhere is a typo or a metric nobody emits: the panel would be empty.
Labels a query matches or groups on must exist on the series it reads.
"""

from __future__ import annotations

import time

import pytest

from grafana.dashgen.contract import RULE_REQUESTS, SLO_OBJECTIVE
from tests.grafana.exposition import PROMETHEUS_SYNTHETIC, exposed, recorded
from tests.grafana.live_stack import LiveStack
from tests.grafana.model import LABEL_VALUES, Target, substitute, targets, variable_queries
from tests.grafana.promql_ast import LINT_VALUES, label_names, metric_names, parse
from tests.prometheus.rules import generate

Producers = dict[str, dict[str, set[str]]]
QUERIES = [*targets("prometheus"), *variable_queries()]
# service_name is a scrape-time target label; le comes with every histogram bucket.
IMPLICIT_LABELS = {"service_name", "le"}
# What the sidecar must have exported before its page is read (it works asynchronously).
SIDECAR_READY = {
    "sidecar_log_lines_shipped_total",
    "sidecar_log_ship_duration_seconds_bucket",
    "sidecar_health_status",
    "sidecar_health_check_duration_seconds",
    "sidecar_log_lines_dropped_total",
}


def _wait_for_sidecar(url: str, timeout: float = 30) -> dict[str, set[str]]:
    deadline = time.monotonic() + timeout
    metrics = exposed(url)
    while not set(metrics) >= SIDECAR_READY and time.monotonic() < deadline:
        time.sleep(0.2)
        metrics = exposed(url)
    return metrics


@pytest.fixture(scope="module")
def producers(live: LiveStack) -> Producers:
    return {
        "recording rules": recorded(),
        "sample service /metrics": exposed(live.service.url),
        "sidecar /metrics": _wait_for_sidecar(live.sidecar.url),
        "prometheus /metrics": exposed(live.prometheus.url),
        "alertmanager /metrics": exposed(live.alertmanager.url),
        "oncall /metrics": exposed(live.oncall.url),
        "synthesised by Prometheus": PROMETHEUS_SYNTHETIC,
    }


def _labels_of(name: str, producers: Producers) -> set[str] | None:
    """The label names any producer gives `name`; None if nothing produces it."""
    found = [series[name] for series in producers.values() if name in series]
    return set().union(*found) if found else None


@pytest.mark.integration
def test_every_metric_a_panel_reads_is_produced(promql_parser: str, producers: Producers) -> None:
    missing = [
        f"{target}: {name}"
        for target in QUERIES
        for name in sorted(metric_names(parse(promql_parser, _expr(target))))
        if _labels_of(name, producers) is None
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.integration
def test_every_label_a_query_uses_exists_on_its_series(
    promql_parser: str, producers: Producers
) -> None:
    wrong = []
    for target in QUERIES:
        ast = parse(promql_parser, _expr(target))
        available = set(IMPLICIT_LABELS)
        for name in metric_names(ast):
            available |= _labels_of(name, producers) or set()
        if unknown := label_names(ast) - available:
            wrong.append(f"{target}: {sorted(unknown)}")
    assert not wrong, "\n".join(wrong)


def test_every_rule_name_the_rule_generator_defines_is_recorded() -> None:
    # The names are defined once, in prometheus/generate.py: the dashboards build their
    # queries from them, slo.rules.yml is generated from them, and the hand-written
    # http.rules.yml has to record the http_server ones by the same names.
    windows = (*generate.RAW_WINDOWS, *generate.AVERAGED_WINDOWS)
    names = {
        generate.HTTP_REQUESTS_RULE,
        generate.HTTP_ERROR_RATIO_RULE,
        *(generate.http_latency_rule(q) for q in ("p50", "p95", "p99")),
        *(generate.slo_requests_rule(window) for window in windows),
        *(generate.slo_errors_rule(slo) for slo in generate.SLOS),
        *(generate.slo_error_ratio_rule(slo, w) for slo in generate.SLOS for w in windows),
        generate.OBJECTIVE,
    }
    assert sorted(names - set(recorded())) == []


@pytest.mark.integration
def test_producers_are_read_live(producers: Producers) -> None:
    # Guards the guard: each live source really answered with its own series.
    assert "http_server_request_duration_seconds_bucket" in producers["sample service /metrics"]
    assert "sidecar_log_lines_read_total" in producers["sidecar /metrics"]
    assert "prometheus_tsdb_head_series" in producers["prometheus /metrics"]
    assert "alertmanager_notifications_total" in producers["alertmanager /metrics"]
    assert RULE_REQUESTS in producers["recording rules"]
    assert SLO_OBJECTIVE in producers["recording rules"]
    assert "oncall_inbox_notifications_total" in producers["oncall /metrics"]


def _expr(target: Target) -> str:
    """A variable's label_values(metric, label) is checked through its metric."""
    match = LABEL_VALUES.fullmatch(target.expr)
    return match["metric"] if match else substitute(target.expr, LINT_VALUES)
