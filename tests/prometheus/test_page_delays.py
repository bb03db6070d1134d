"""Every page reaches Alertmanager's receiver within 2m30s of the fault, in the worst case,
under the committed production settings; prometheus/README.md shows those figures."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from sidecar.services.model import HealthCheck, Slo

from tests.integration.transforms import parse_duration
from tests.prometheus.page_delays import Delay, Timings, minutes, page_delays
from tests.prometheus.rules import PROMETHEUS_DIR, REPO, RULES_DIR

BOUND_SECONDS = 150
PAGES = {"ServiceDown", "HealthCheckFailing", "AvailabilityBudgetBurn", "LatencyBudgetBurn"}


def production_rules() -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in sorted(RULES_DIR.glob("*.rules.yml"))]


def production_timings() -> Timings:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())["global"]
    routes = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())["route"]
    page = next(r for r in routes["routes"] if r["matchers"] == ['severity="critical"'])
    fields = HealthCheck.model_fields
    return Timings(
        scrape=parse_duration(config["scrape_interval"]),
        evaluation=parse_duration(config["evaluation_interval"]),
        group_wait=parse_duration(page["group_wait"]),
        check_interval=fields["interval_seconds"].default,
        failure_threshold=fields["failure_threshold"].default,
    )


def default_objectives() -> dict[str, float]:
    slo = Slo()
    return {"availability": slo.availability.objective, "latency": slo.latency.objective}


def readme_rows() -> list[Delay]:
    """The rows prometheus/README.md must show: complete faults, then partial ones."""
    rules, timings = production_rules(), production_timings()
    complete = page_delays(rules, timings, default_objectives())
    partial = page_delays(rules, timings, default_objectives(), bad=0.1)
    low = page_delays(rules, timings, {**default_objectives(), "latency": 0.99})
    return [
        *complete,
        next(d for d in partial if d.page == "AvailabilityBudgetBurn"),
        next(d for d in low if d.page == "LatencyBudgetBurn"),
    ]


def test_every_page_is_covered_by_the_model() -> None:
    pages = {
        rule["alert"]
        for data in production_rules()
        for group in data["groups"]
        for rule in group["rules"]
        if "alert" in rule and rule["labels"]["severity"] == "critical"
    }
    assert pages == PAGES
    assert {
        delay.page
        for delay in page_delays(production_rules(), production_timings(), default_objectives())
    } == PAGES


def test_every_page_arrives_within_2m30s_of_a_complete_fault() -> None:
    for delay in page_delays(production_rules(), production_timings(), default_objectives()):
        assert delay.seconds <= BOUND_SECONDS, (
            f"{delay.page}: {minutes(delay.seconds)} ({delay.how})"
        )


def test_the_bound_would_catch_a_long_for() -> None:
    # The check above can fail: the `for: 2m` the burn page used to have.
    rules = copy.deepcopy(production_rules())
    for data in rules:
        for group in data["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == "AvailabilityBudgetBurn":
                    rule["for"] = "2m"
    slow = {
        d.page: d.seconds for d in page_delays(rules, production_timings(), default_objectives())
    }
    assert slow["AvailabilityBudgetBurn"] > BOUND_SECONDS


@pytest.mark.parametrize("delay", readme_rows(), ids=lambda d: f"{d.page}-{d.fault}")
def test_the_readme_shows_the_computed_worst_case(delay: Delay) -> None:
    readme = (PROMETHEUS_DIR / "README.md").read_text()
    row = f"| {delay.page} | {delay.fault} | {minutes(delay.seconds)} | {delay.how} |"
    assert row in readme, f"prometheus/README.md lacks, or has another figure than:\n{row}"


def test_minutes_rounds_up() -> None:
    assert [minutes(s) for s in (120, 111.84, 59.01, 0.2)] == ["2m00s", "1m52s", "1m00s", "0m01s"]
