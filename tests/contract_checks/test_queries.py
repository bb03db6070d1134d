"""Every metric and label the Prometheus rules and the dashboards read is the contract's.

Each query goes through the real Prometheus parser. A metric it reads must be one the
contract defines (or a histogram series of one), a series a rule records, one
prometheus/render.py writes from the services file, one Prometheus synthesises, or the
own series of a third-party component of the stack, by its prefix. On a contract metric,
a matcher may only name one of that metric's labels (or a target label Prometheus adds),
and an exact matcher on a label with a closed set of values only one of those values.
Labels a query groups or joins by must be contract labels or Prometheus's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from contract import current
from tests.grafana.exposition import PROMETHEUS_SYNTHETIC, recorded
from tests.grafana.model import LABEL_VALUES, Target, substitute, targets, variable_queries
from tests.grafana.promql_ast import LINT_VALUES, Node, parse, selectors, walk
from tests.support.promql_parser import promql_parser as running_parser

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "prometheus" / "rules"
CONTRACT = current()
# Series of the stack's third-party components (Prometheus, Alertmanager, Tempo's
# metrics-generator, Loki), named by the prefixes their projects use.
THIRD_PARTY_PREFIXES = ("prometheus_", "alertmanager_", "traces_", "loki_", "tempo_")
# Target labels Prometheus adds to every scraped series, the buckets' `le`, and the
# labels of the third-party series the queries read (Alertmanager's `integration`,
# Prometheus's `rule_group`; Tempo's service graph `client`/`server`).
PROMETHEUS_LABELS = {"job", "instance", "le", "alertname", "alertstate"}
THIRD_PARTY_LABELS = {"integration", "rule_group", "client", "server"}
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")

BY_NAME = {metric.name: key for key, metric in CONTRACT.metrics.items()}
CONTRACT_LABELS = {label.name for label in CONTRACT.labels.values()}


def _rule_queries() -> list[tuple[str, str]]:
    out = []
    for path in sorted(RULES_DIR.glob("*.rules.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule["record"]
                out.append((f"prometheus/rules/{path.name}: {name}", rule["expr"]))
    return out


def _dashboard_query(target: Target) -> str:
    match = LABEL_VALUES.fullmatch(target.expr)
    return match["metric"] if match else substitute(target.expr, LINT_VALUES)


QUERIES = [
    *_rule_queries(),
    *((str(t), _dashboard_query(t)) for t in (*targets("prometheus"), *variable_queries())),
]


@pytest.fixture(scope="module")
def asts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Node]]:
    with running_parser(tmp_path_factory.mktemp("promql-parser")) as url:
        yield {where: parse(url, expr) for where, expr in QUERIES}


def _contract_metric(name: str) -> tuple[str, bool] | None:
    """(contract key, whether the series is a histogram bucket) of a series name."""
    if name in BY_NAME:
        return BY_NAME[name], False
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and base in BY_NAME and CONTRACT.metrics[BY_NAME[base]].type == "histogram":
            return BY_NAME[base], suffix == "_bucket"
    return None


def _known_elsewhere(name: str) -> bool:
    return (
        name in recorded()
        or name in PROMETHEUS_SYNTHETIC
        or name.startswith(THIRD_PARTY_PREFIXES)
        or name.startswith(CONTRACT.runtime_metric_prefixes)
    )


def test_the_queries_are_read() -> None:
    assert len(_rule_queries()) > 50
    assert len(QUERIES) > len(_rule_queries()) + 50


def test_every_metric_a_query_reads_is_defined(asts: dict[str, Node]) -> None:
    unknown = [
        f"{where}: {node['name']}"
        for where, ast in asts.items()
        for node in selectors(ast)
        if node.get("name")
        and _contract_metric(node["name"]) is None
        and not _known_elsewhere(node["name"])
    ]
    assert unknown == []


def test_matchers_on_a_contract_metric_name_its_labels_and_values(asts: dict[str, Node]) -> None:
    wrong = []
    for where, ast in asts.items():
        for node in selectors(ast):
            found = _contract_metric(node.get("name") or "")
            if found is None:
                continue
            key, bucket = found
            metric = CONTRACT.metrics[key]
            ids = {label for c in metric.emitted_by for label in metric.extra_labels.get(c, ())}
            ids |= set(metric.labels)
            allowed = {CONTRACT.label(i): CONTRACT.labels[i] for i in ids}
            allowed[CONTRACT.label("service")] = CONTRACT.labels["service"]
            skip = {"__name__", "job", "instance", *(["le"] if bucket else [])}
            for matcher in node.get("matchers", []):
                label, value = matcher["name"], matcher["value"]
                if label in skip:
                    continue
                if label not in allowed:
                    wrong.append(f"{where}: {node['name']} has no label {label}")
                    continue
                closed = allowed[label].values
                if matcher["type"] in {"=", "!="} and closed and value not in closed:
                    wrong.append(f"{where}: {label}={value!r} is not one of its values")
    assert wrong == []


def test_every_label_a_query_groups_or_joins_by_is_defined(asts: dict[str, Node]) -> None:
    known = CONTRACT_LABELS | PROMETHEUS_LABELS | THIRD_PARTY_LABELS
    unknown = []
    for where, ast in asts.items():
        for node, _ in walk(ast):
            names = set(node.get("grouping") or [])
            names |= set((node.get("matching") or {}).get("labels") or [])
            unknown += [f"{where}: {name}" for name in sorted(names - known)]
    assert unknown == []


def test_a_misspelt_metric_label_or_value_would_be_found(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # The checks above see what they should: a query with a typo in each place.
    with running_parser(tmp_path_factory.mktemp("promql-parser")) as url:
        ast = parse(
            url,
            'sum by (sevice_name) (sidecar_health_status{status="passing", chek="x"})'
            " + sidecar_log_lines_red_total",
        )
    names = [node["name"] for node in selectors(ast)]
    assert [n for n in names if _contract_metric(n) is None and not _known_elsewhere(n)] == [
        "sidecar_log_lines_red_total"
    ]
    health = next(node for node in selectors(ast) if node["name"] == "sidecar_health_status")
    labels = CONTRACT.metric_labels(BY_NAME["sidecar_health_status"], "sidecar")
    assert [m["name"] for m in health["matchers"] if m["name"] not in {"__name__", *labels}] == [
        "chek"
    ]
    assert "passing" not in CONTRACT.labels["health_status"].values
    grouping = {name for node, _ in walk(ast) for name in node.get("grouping") or []}
    assert grouping - CONTRACT_LABELS == {"sevice_name"}
