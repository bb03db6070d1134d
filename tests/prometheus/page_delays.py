"""The worst case from a fault to a page, computed from the rules and timings that run.

One model, fed two ways: with the committed production settings it gives the
figures in prometheus/README.md ("Time from fault to page") and the 2m30s bound
tests/prometheus/test_page_delays.py holds every page to; with the compressed
rules and timings of tests/integration it gives the bound the measured delays
of the real binaries are checked against.

Every term is a worst case of its own (a fault just after a scrape, an
evaluation just before the data arrives); the model ignores the milliseconds
of HTTP and process scheduling between the parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.integration.transforms import parse_duration
from tests.prometheus.rules import generate

# Recording and alert rules read a window through one range selector each.
_RANGE = re.compile(r"\[(\w+)\]")


@dataclass(frozen=True)
class Timings:
    scrape: float  # Prometheus scrape interval
    evaluation: float  # rule evaluation interval
    group_wait: float  # Alertmanager group_wait of the `page` route
    check_interval: float  # the sidecar health check's interval
    failure_threshold: int  # consecutive failed runs before the sidecar publishes fail


@dataclass(frozen=True)
class Delay:
    page: str
    fault: str
    seconds: float
    how: str


def _rules(rule_files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for data in rule_files for group in data["groups"] for rule in group["rules"]]


def _alert(rules: list[dict[str, Any]], name: str, severity: str = "critical") -> dict[str, Any]:
    return next(r for r in rules if r.get("alert") == name and r["labels"]["severity"] == severity)


def _for(rule: dict[str, Any]) -> float:
    return parse_duration(rule["for"]) if "for" in rule else 0.0


def _window(expr: str, function: str) -> float:
    """The range of `function(...[range])` in `expr`."""
    match = re.search(rf"{function}\([^\[]*\[(\w+)\]\)", expr)
    if match is None:
        raise ValueError(f"no {function}(...[range]) in {expr!r}")
    return parse_duration(match[1])


def _raw_window(rules: list[dict[str, Any]], record: str) -> float | None:
    """The range a ratio is computed over from the raw histogram; None for a ratio
    averaged from recorded 5m rates (those lag a fault by minutes more)."""
    rule = next(r for r in rules if r.get("record") == record)
    expr = str(rule["expr"])
    if "avg_over_time" in expr:
        return None
    ranges = _RANGE.findall(expr)
    if ranges:
        return parse_duration(ranges[0])
    # A ratio of recorded rates: the window of the request rate it divides by.
    return _raw_window(rules, re.findall(r"service_name:slo_requests:rate\w+", expr)[-1])


def _burn_seconds(rules: list[dict[str, Any]], kind: str, objective: float, bad: float) -> float:
    """Time for the fastest page branch to cross its threshold with `bad` of requests bad."""
    fastest = float("inf")
    for factor, long, short in generate.PAGE_BURNS:
        if bad <= factor * (1 - objective):
            continue  # this branch never crosses at this fault size
        windows = [
            _raw_window(rules, f"service_name:slo_{kind}_errors:ratio_rate{window}")
            for window in (long, short)
        ]
        if None in windows:
            continue  # not modelled; it is the slower branch of the faults modelled here
        fastest = min(fastest, max(factor * (1 - objective) * w / bad for w in windows))  # type: ignore[operator]  # None windows were skipped above
    if fastest == float("inf"):
        raise ValueError(f"no raw-window page branch of {kind} crosses at {bad:.0%} bad")
    return fastest


def page_delays(
    rule_files: list[dict[str, Any]],
    timings: Timings,
    objectives: dict[str, float],
    bad: float = 1.0,
) -> list[Delay]:
    """Worst-case fault-to-page delays; `objectives` maps availability/latency to a ratio."""
    rules = _rules(rule_files)
    t = timings
    down = _alert(rules, "ServiceDown")
    health = _alert(rules, "HealthCheckFailing")
    window = _window(health["expr"], "max_over_time")
    if window / t.scrape - 1 < 3:
        raise ValueError("HealthCheckFailing's window cannot hold 3 samples after the last pass")
    publish = t.check_interval * t.failure_threshold
    delays = [
        Delay(
            "ServiceDown",
            "its target stops answering",
            t.scrape + t.evaluation + _for(down) + t.group_wait,
            f"failed scrape ≤{t.scrape:g}s + evaluation ≤{t.evaluation:g}s"
            f" + `for` {_for(down):g}s + group_wait {t.group_wait:g}s",
        ),
        Delay(
            "HealthCheckFailing",
            "a critical check starts failing",
            publish + window + t.evaluation + _for(health) + t.group_wait,
            f"the sidecar publishes after {t.failure_threshold} failed runs at"
            f" {t.check_interval:g}s ≤{publish:g}s + the last passing sample leaves the"
            f" {window:g}s window + evaluation ≤{t.evaluation:g}s + group_wait {t.group_wait:g}s",
        ),
    ]
    for kind, fault in (("availability", "errors"), ("latency", "slow requests")):
        name = f"{kind.capitalize()}BudgetBurn"
        burn = _burn_seconds(rules, kind, objectives[kind], bad)
        rule = _alert(rules, name)
        delays.append(
            Delay(
                name,
                f"{bad:.0%} {fault}, {objectives[kind]:.1%} objective",
                t.scrape + burn + t.evaluation + _for(rule) + t.group_wait,
                f"scrape ≤{t.scrape:g}s + {burn:.2f}s until the fast-burn windows cross"
                f" {generate.PAGE_BURNS[0][0]:g}x the budget + evaluation ≤{t.evaluation:g}s"
                f" (same group as the ratios) + group_wait {t.group_wait:g}s",
            )
        )
    return delays


def minutes(seconds: float) -> str:
    """2m07s, rounded up: a worst case is never shown shorter than it is."""
    whole = -int(-seconds // 1)
    return f"{whole // 60}m{whole % 60:02d}s"
