"""The rule files generated from the SLO spec are current, and bad specs are refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.prometheus.rules import PROMETHEUS_DIR

GENERATOR = PROMETHEUS_DIR / "slo" / "generate.py"


def generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args], capture_output=True, text=True, check=False
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of the spec, the alert sources and the generated rules."""
    for name in ("slo", "alerts", "rules"):
        shutil.copytree(PROMETHEUS_DIR / name, tmp_path / name)
    return tmp_path


def args_for(workspace: Path) -> list[str]:
    return [
        "--spec",
        str(workspace / "slo" / "slos.yaml"),
        "--alerts",
        str(workspace / "alerts"),
        "--out",
        str(workspace / "rules"),
    ]


def test_committed_rules_are_not_stale() -> None:
    result = generate("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_names_the_stale_file_after_a_spec_change(workspace: Path) -> None:
    spec = workspace / "slo" / "slos.yaml"
    spec.write_text(spec.read_text().replace("objective: 0.999", "objective: 0.995"))
    result = generate("--check", *args_for(workspace))
    assert result.returncode == 1
    assert "stale:" in result.stdout
    assert "slo.rules.yml" in result.stdout
    assert "stack.rules.yml" not in result.stdout


def test_check_names_the_stale_file_after_an_alert_source_change(workspace: Path) -> None:
    source = workspace / "alerts" / "stack.yml"
    source.write_text(source.read_text().replace("for: 10m", "for: 20m"))
    result = generate("--check", *args_for(workspace))
    assert result.returncode == 1
    assert "stack.rules.yml" in result.stdout
    assert "slo.rules.yml" not in result.stdout


def test_objective_drives_the_burn_thresholds(workspace: Path) -> None:
    spec = workspace / "slo" / "slos.yaml"
    spec.write_text(spec.read_text().replace("objective: 0.999", "objective: 0.99"))
    assert generate(*args_for(workspace)).returncode == 0
    rules = yaml.safe_load((workspace / "rules" / "slo.rules.yml").read_text())
    burns = [
        rule
        for group in rules["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "AvailabilityBudgetBurn"
    ]
    page = next(rule for rule in burns if rule["labels"]["severity"] == "critical")
    # 14.4 x (1 - 0.99) and 6 x (1 - 0.99)
    assert "> 0.144\n" in page["expr"]
    assert "> 0.06\n" in page["expr"]
    assert generate("--check", *args_for(workspace)).returncode == 0


def test_regenerating_with_the_runbook_base_moved_updates_every_alert(workspace: Path) -> None:
    spec = workspace / "slo" / "slos.yaml"
    old = yaml.safe_load(spec.read_text())["links"]["runbook_base_url"]
    spec.write_text(spec.read_text().replace(old, "https://wiki.example.org/runbooks"))
    assert generate(*args_for(workspace)).returncode == 0
    for path in (workspace / "rules").glob("*.rules.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    url = rule["annotations"]["runbook_url"]
                    assert url == f"https://wiki.example.org/runbooks/{rule['alert']}.md"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "threshold_seconds: 0.25",
            "threshold_seconds: 0.3",
            "spec.services[0].latency.threshold_seconds: 0.3 is not a bucket boundary",
        ),
        ("objective: 0.999", "objective: 1.5", "spec.services[0].availability.objective: 1.5"),
        ("objective: 0.999", "objective: high", "availability.objective: expected a number"),
        ("high_error_rate: 0.05", "", "spec.services[0].high_error_rate: missing"),
        ("window: 30d", "window: 7d", "spec.window: only 30d is supported"),
    ],
)
def test_bad_spec_is_refused_naming_the_field(
    workspace: Path, old: str, new: str, message: str
) -> None:
    spec = workspace / "slo" / "slos.yaml"
    before = (workspace / "rules" / "slo.rules.yml").read_text()
    spec.write_text(spec.read_text().replace(old, new, 1))
    result = generate(*args_for(workspace))
    assert result.returncode == 2
    assert message in result.stderr
    assert (workspace / "rules" / "slo.rules.yml").read_text() == before


def test_duplicate_service_is_refused(workspace: Path) -> None:
    spec = workspace / "slo" / "slos.yaml"
    data = yaml.safe_load(spec.read_text())
    data["services"].append(dict(data["services"][0]))
    spec.write_text(yaml.safe_dump(data))
    result = generate(*args_for(workspace))
    assert result.returncode == 2
    assert "service_name listed twice: ['sample-service']" in result.stderr
