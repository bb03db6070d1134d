"""The committed rule files are what prometheus/generate.py writes, and the SLO rules
are generic: no service name and no objective is written into them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.prometheus.rules import PROMETHEUS_DIR, RULES_DIR, generate

GENERATOR = PROMETHEUS_DIR / "generate.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args], capture_output=True, text=True, check=False
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of the alert sources and the generated rules."""
    for name in ("alerts", "rules"):
        shutil.copytree(PROMETHEUS_DIR / name, tmp_path / name)
    return tmp_path


def args_for(workspace: Path) -> list[str]:
    return ["--alerts", str(workspace / "alerts"), "--out", str(workspace / "rules")]


def test_committed_rules_are_not_stale() -> None:
    result = run("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_names_the_stale_file_after_an_alert_source_change(workspace: Path) -> None:
    source = workspace / "alerts" / "stack.yml"
    source.write_text(source.read_text().replace("for: 10m", "for: 20m"))
    result = run("--check", *args_for(workspace))
    assert result.returncode == 1
    assert "stack.rules.yml" in result.stdout
    assert "slo.rules.yml" not in result.stdout
    assert run(*args_for(workspace)).returncode == 0
    assert run("--check", *args_for(workspace)).returncode == 0


def test_check_names_a_hand_edited_generated_file(workspace: Path) -> None:
    generated = workspace / "rules" / "slo.rules.yml"
    generated.write_text(generated.read_text().replace("14.4 *", "10 *"))
    result = run("--check", *args_for(workspace))
    assert result.returncode == 1
    assert "stale:" in result.stdout
    assert "slo.rules.yml" in result.stdout


def test_an_alert_source_without_a_dashboard_is_refused(workspace: Path) -> None:
    source = workspace / "alerts" / "logs.yml"
    source.write_text(source.read_text().replace("dashboard: obs-logs", "", 1))
    result = run(*args_for(workspace))
    assert result.returncode == 2
    assert "annotation 'dashboard'" in result.stderr


def test_the_slo_rules_name_no_service_and_no_objective() -> None:
    rules = yaml.safe_load((RULES_DIR / "slo.rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            expr = str(rule["expr"])
            assert "service_name=" not in expr, rule.get("record") or rule.get("alert")
            assert "vector(" not in expr
            assert "0.99" not in expr
            assert "service_name" not in rule.get("labels", {})


def test_burn_thresholds_are_factors_of_the_objective_series() -> None:
    rules = yaml.safe_load((RULES_DIR / "slo.rules.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if r.get("alert")]
    page = next(
        r
        for r in alerts
        if r["alert"] == "AvailabilityBudgetBurn" and r["labels"]["severity"] == "critical"
    )
    for factor, long, short in generate.PAGE_BURNS:
        limit = f'({factor:g} * (1 - slo:objective:ratio{{slo="availability"}}))'
        assert f"ratio_rate{long} > on (service_name) {limit}" in page["expr"]
        assert f"ratio_rate{short} > on (service_name) {limit}" in page["expr"]


def test_each_burn_alert_shares_the_group_of_the_ratios_it_reads() -> None:
    # A group evaluates its rules in order at one timestamp: the alerts see the
    # ratios of the same evaluation, one interval sooner than from another group.
    rules = yaml.safe_load((RULES_DIR / "slo.rules.yml").read_text())
    for group in rules["groups"]:
        recorded = {rule["record"] for rule in group["rules"] if "record" in rule}
        for rule in group["rules"]:
            if rule.get("alert", "").endswith("BudgetBurn"):
                for kind in ("availability", "latency"):
                    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
                        name = f"service_name:slo_{kind}_errors:ratio_rate{window}"
                        if name in rule["expr"]:
                            assert name in recorded, (rule["alert"], name)
