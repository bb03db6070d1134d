"""The rules inside the PrometheusRule objects, written back out, pass promtool: the checks,
every unit test of prometheus/tests/ run against the extracted files instead of
prometheus/rules/, and the example's objectives joined with those rules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.kubernetes.generator import cluster
from deploy.kubernetes.generator.rules import SOURCE_ANNOTATION
from tests.kubernetes.manifests import EXAMPLE, by_kind, kustomize
from tests.prometheus.rules import PROMTOOL_TESTS, generate, promtool_objectives_text
from tests.support import require_binary

OBJECTIVES = "objectives/services.rules.yml"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool")
    return subprocess.run([binary, *args], capture_output=True, text=True, cwd=cwd, check=False)


def _with_cluster_links(text: str) -> str:
    # The unit tests expect compose's default links; the rules carry cluster.py's.
    return text.replace(
        f"{generate.DEFAULT_RUNBOOK_BASE_URL}/", f"{cluster.RUNBOOK_BASE_URL}/"
    ).replace(f"{generate.DEFAULT_GRAFANA_URL}/d/", f"{cluster.GRAFANA_URL}/d/")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """From the rendered example: tmp/rules/<file> for each of the base's PrometheusRules,
    tmp/objectives/services.rules.yml for the example's objectives; tmp/tests/ beside them.

    The promtool tests name their rules as ../rules/<file>, so copied next to the
    extracted rules they load those instead of the originals. Their objectives are their
    own (prometheus/tests/services.yaml, rendered by render.py as in tests/prometheus).
    """
    root = tmp_path_factory.mktemp("k8s-rules")
    for directory in ("rules", "objectives", "tests"):
        (root / directory).mkdir()
    for rule in by_kind(kustomize(EXAMPLE), "PrometheusRule"):
        source = Path(rule["metadata"]["annotations"][SOURCE_ANNOTATION])
        name = f"rules/{source.name}" if source.parts[0] == "prometheus" else OBJECTIVES
        assert not (root / name).exists(), name
        (root / name).write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    assert (root / OBJECTIVES).exists(), "the example carries no objectives"
    for test in PROMTOOL_TESTS:
        (root / "tests" / test.name).write_text(_with_cluster_links(test.read_text()))
    (root / "tests" / "services.rules.yml").write_text(promtool_objectives_text())
    return root


def test_extracted_rules_pass_promtool_check(extracted: Path) -> None:
    files = sorted(str(path) for path in extracted.glob("*/*.rules.yml"))
    assert len(files) > 1
    result = promtool("check", "rules", *files, cwd=extracted)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass_on_the_extracted_rules(extracted: Path) -> None:
    assert PROMTOOL_TESTS, "no promtool tests found"
    for test in PROMTOOL_TESTS:
        for rule_file in yaml.safe_load(test.read_text())["rule_files"]:
            # Every rule file a test loads comes from a PrometheusRule, not the original.
            if rule_file.startswith("../rules/"):
                assert (extracted / "tests" / rule_file).resolve().is_file(), (test, rule_file)
    tests = sorted(str(path) for path in (extracted / "tests").glob("*_test.yml"))
    result = promtool("test", "rules", *tests, cwd=extracted / "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_extracted_rule_fails_the_unit_tests(extracted: Path, tmp_path: Path) -> None:
    # The unit tests really read the extracted files: weaken one alert there and they fail.
    copy = tmp_path / "copy"
    shutil.copytree(extracted, copy)
    health = copy / "rules" / "health.rules.yml"
    document = yaml.safe_load(health.read_text())
    (rule,) = [
        r for g in document["groups"] for r in g["rules"] if r.get("alert") == "HealthCheckFailing"
    ]
    assert ") >= 3" in rule["expr"]
    rule["expr"] = rule["expr"].replace(") >= 3", ") >= 300")
    health.write_text(yaml.safe_dump(document))
    result = promtool("test", "rules", "health_test.yml", cwd=copy / "tests")
    assert result.returncode != 0, result.stdout


def _up(pod: str, address: str, *, service_name: bool = True) -> dict[str, str]:
    """`up` as the example's ServiceMonitor yields it for one pod: the operator's target
    labels, plus service_name where the relabeling sets it."""
    labels = {
        "job": "sample-service",
        "namespace": cluster.SAMPLE_NAMESPACE,
        "service": "sample-service",
        "endpoint": "http",
        "pod": pod,
        "container": "sample-service",
        "instance": address,
    }
    if service_name:
        labels["service_name"] = "sample-service"
    return labels


def _series(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _service_down(labels: dict[str, str]) -> dict[str, Any]:
    alert = {"alertname": "ServiceDown", "alertstate": "firing", "severity": "critical"}
    return {"labels": _series("ALERTS", {**labels, **alert}), "value": 1}


def _service_down_at(eval_time: str, alerts: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "expr": 'ALERTS{alertname="ServiceDown"}',
        "eval_time": eval_time,
        "exp_samples": [_service_down(labels) for labels in alerts],
    }


def test_the_example_objectives_make_service_down_page_per_pod(
    extracted: Path, tmp_path: Path
) -> None:
    # The objectives (service:metrics_target:info) join `up` by the service_name the
    # ServiceMonitor sets: a replica that stops answering pages for that replica; a
    # service whose targets lack service_name (a monitor without the relabeling, or
    # none picked up yet) pages as "no scrape target".
    a, b = _up("sample-service-a", "10.0.0.1:8000"), _up("sample-service-b", "10.0.0.2:8000")
    unlabelled = _up("sample-service-a", "10.0.0.1:8000", service_name=False)
    test = {
        "rule_files": ["../rules/slo.rules.yml", f"../{OBJECTIVES}"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": "one replica down",
                "interval": "1m",
                "input_series": [
                    {"series": _series("up", a), "values": "1x10"},
                    {"series": _series("up", b), "values": "1 1 1 0 0 0 0 0 0 0 0"},
                ],
                "promql_expr_test": [
                    _service_down_at("2m", []),
                    _service_down_at("5m", [b]),
                ],
            },
            {
                "name": "targets without service_name",
                "interval": "1m",
                "input_series": [{"series": _series("up", unlabelled), "values": "1x10"}],
                "promql_expr_test": [
                    _service_down_at("5m", [{"service_name": "sample-service"}]),
                ],
            },
        ],
    }
    shutil.copytree(extracted, tmp_path / "copy")
    path = tmp_path / "copy" / "tests" / "k8s_service_down_test.yml"
    path.write_text(yaml.safe_dump(test))
    result = promtool("test", "rules", path.name, cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr
