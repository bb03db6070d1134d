"""The policy checker catches each kind of unsafe compose file, and ours pass it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compose.compose_cli import REPO
from tests.compose.policy import check_compose, image_reference_problem

FIXTURES = Path(__file__).parent / "fixtures" / "policy"
BAD_CASES: list[dict[str, Any]] = yaml.safe_load((FIXTURES / "bad.yaml").read_text())


def _good() -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / "good.yaml").read_text())


def test_the_good_fixture_passes() -> None:
    assert check_compose(_good(), FIXTURES) == []


@pytest.mark.parametrize("case", BAD_CASES, ids=[case["case"] for case in BAD_CASES])
def test_each_bad_fixture_fails_on_its_rule_only(case: dict[str, Any]) -> None:
    document = copy.deepcopy(_good())
    service = document["services"][case["service"]]
    service.update(case.get("set", {}))
    for key in case.get("unset", []):
        del service[key]

    violations = check_compose(document, FIXTURES)

    assert violations, f"{case['case']}: the policy found nothing wrong"
    assert {(v.service, v.rule) for v in violations} == {(case["service"], case["rule"])}, [
        str(v) for v in violations
    ]


@pytest.mark.parametrize(
    ("reference", "pinned"),
    [
        ("prom/prometheus:v3.5.3", True),
        ("python:3.13-slim", True),
        ("localhost:5000/team/app:2.0", True),
        ("localhost:5000/team/app", False),
        ("grafana/grafana:main", False),
        ("otel/opentelemetry-collector-contrib:LATEST", False),
    ],
)
def test_image_references(reference: str, pinned: bool) -> None:
    assert (image_reference_problem(reference) is None) is pinned


def test_the_secret_rules_are_skipped_on_interpolated_output() -> None:
    document = _good()
    document["services"]["grafana"]["environment"] = {
        "GF_SECURITY_ADMIN_PASSWORD": "the-value-from-.env",
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
    }
    assert check_compose(document, FIXTURES, interpolated=True) == []
    assert check_compose(document, FIXTURES) != []


def test_one_shot_jobs_are_the_ones_waited_on_to_complete() -> None:
    document = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    waited = {
        dependency
        for service in document["services"].values()
        for dependency, spec in (service.get("depends_on") or {}).items()
        if spec["condition"] == "service_completed_successfully"
    }
    assert waited == {"stack-config", "grafana-password"}
    for name in waited:
        assert document["services"][name]["restart"] == "no", name
    # Without the waits, the same service must pass as a long-running one, and fails.
    del document["services"]["prometheus"]["depends_on"]["stack-config"]
    del document["services"]["sidecar"]["depends_on"]["stack-config"]
    assert {(v.service, v.rule) for v in check_compose(document, REPO)} == {
        ("stack-config", "healthcheck"),
        ("stack-config", "restart"),
    }


def test_docker_compose_yml_passes_the_policy() -> None:
    document = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    violations = check_compose(document, REPO)
    assert violations == [], "\n".join(str(v) for v in violations)


def test_every_service_of_the_issue_is_in_the_stack() -> None:
    document = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert set(document["services"]) == {
        "sample_service",
        "sidecar",
        "prometheus",
        "alertmanager",
        "grafana",
        "loki",
        "tempo",
        "otel-collector",
        "oncall",
        "stack-config",
        "grafana-password",
    }
