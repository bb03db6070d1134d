"""PromQL through the real Prometheus parser (GET /api/v1/parse_query) and walks of its AST.

promtool has no "parse this expression" command, so the tests start a real
Prometheus and ask its API; the JSON AST it returns is walked here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

Node = dict[str, Any]

# Grafana variables replaced by durations nothing else in a dashboard uses, so
# the AST shows which ranges came from which variable.
RATE_INTERVAL_MS = 7331
LINT_VALUES = {
    "__rate_interval": f"{RATE_INTERVAL_MS}ms",
    "__interval": "4241ms",
    "__range": "3371s",
    "service_name": "__dashboard_service__",
}


class ParseError(Exception):
    pass


def parse(base_url: str, expr: str) -> Node:
    """The AST of `expr`, or ParseError with Prometheus's own message."""
    response = httpx.get(f"{base_url}/api/v1/parse_query", params={"query": expr}, timeout=10)
    body = response.json()
    if body["status"] != "success":
        raise ParseError(body.get("error", response.text))
    return dict(body["data"])


def walk(node: Node, parents: tuple[Node, ...] = ()) -> Iterator[tuple[Node, tuple[Node, ...]]]:
    """Every AST node with its ancestors, depth first."""
    yield node, parents
    for value in node.values():
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, dict) and "type" in child:
                yield from walk(child, (*parents, node))


def selectors(ast: Node) -> Iterator[Node]:
    for node, _ in walk(ast):
        if node["type"] in {"vectorSelector", "matrixSelector"}:
            yield node


def metric_names(ast: Node) -> set[str]:
    return {node["name"] for node in selectors(ast) if node.get("name")}


def rate_ranges(ast: Node) -> Iterator[tuple[str, int]]:
    """(function, range in ms) of every range vector fed to rate, irate or increase."""
    for node, parents in walk(ast):
        if node["type"] == "matrixSelector" and parents and parents[-1]["type"] == "call":
            function = parents[-1]["func"]["name"]
            if function in {"rate", "irate", "increase"}:
                yield function, int(node["range"])


def label_names(ast: Node) -> set[str]:
    """Every label a query matches on or groups/joins by."""
    names: set[str] = set()
    for node, _ in walk(ast):
        names |= {m["name"] for m in node.get("matchers", []) if m["name"] != "__name__"}
        names |= set(node.get("grouping") or [])
        matching = node.get("matching") or {}
        names |= set(matching.get("labels") or [])
    return names
