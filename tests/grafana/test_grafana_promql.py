"""Every PromQL expression of the dashboards, checked by the real Prometheus parser.

Grafana variables are substituted first (with distinctive durations), then the
dashboard-linter's PromQL rules are applied to the AST Prometheus returns:
target-promql-rule (it parses), target-rate-interval-rule (rates use
$__rate_interval), template-label-promql-rule (variable queries parse), plus
this stack's own rule that services are selected by service_name, never job.
"""

from __future__ import annotations

import pytest

from grafana.dashgen.contract import SIDECAR_SERVICE
from tests.grafana.model import LABEL_VALUES, Target, substitute, targets, variable_queries
from tests.grafana.promql_ast import (
    LINT_VALUES,
    RATE_INTERVAL_MS,
    ParseError,
    label_names,
    metric_names,
    parse,
    rate_ranges,
    selectors,
)

PROMETHEUS_TARGETS = targets("prometheus")
# Prometheus's, Alertmanager's and the alert inbox's own series, and the
# per-target series Prometheus synthesises, describe the stack, not a service:
# no service_name filter.
STACK_SERIES_PREFIXES = ("prometheus_", "alertmanager_", "oncall_", "up", "scrape_")
# The sidecar's own series (its shipping process, its services file), pinned to its own name.
OWN = {"name": "service_name", "type": "=", "value": SIDECAR_SERVICE}


def test_the_dashboards_have_prometheus_queries() -> None:
    assert len(PROMETHEUS_TARGETS) >= 40


@pytest.mark.parametrize("target", PROMETHEUS_TARGETS, ids=str)
def test_target_promql_rule_and_rate_interval_rule(promql_parser: str, target: Target) -> None:
    ast = parse(promql_parser, substitute(target.expr, LINT_VALUES))
    ranges = list(rate_ranges(ast))
    assert all(ms == RATE_INTERVAL_MS for _, ms in ranges), f"{target}: {ranges}"
    assert "job" not in label_names(ast)


@pytest.mark.parametrize("target", PROMETHEUS_TARGETS, ids=str)
def test_service_series_are_selected_by_service_name(promql_parser: str, target: Target) -> None:
    ast = parse(promql_parser, substitute(target.expr, LINT_VALUES))
    for selector in selectors(ast):
        if selector["name"].startswith(STACK_SERIES_PREFIXES) or OWN in selector["matchers"]:
            continue
        wanted = {"name": "service_name", "type": "=", "value": LINT_VALUES["service_name"]}
        assert wanted in selector["matchers"], f"{target}: {selector['name']}"


@pytest.mark.parametrize("variable", variable_queries(), ids=str)
def test_template_label_promql_rule(promql_parser: str, variable: Target) -> None:
    match = LABEL_VALUES.fullmatch(variable.expr)
    assert match is not None, variable
    assert metric_names(parse(promql_parser, match["metric"])) == {match["metric"]}


def test_the_parser_rejects_what_it_should(promql_parser: str) -> None:
    # Guards the guard: a broken expression and an unsubstituted variable both fail.
    with pytest.raises(ParseError, match="parse error"):
        parse(promql_parser, "sum(rate(x[5m])")
    with pytest.raises(ParseError):
        parse(promql_parser, "rate(x[$__rate_interval])")
    ast = parse(promql_parser, substitute("rate(x[5m])", LINT_VALUES))
    assert list(rate_ranges(ast)) == [("rate", 300_000)]
