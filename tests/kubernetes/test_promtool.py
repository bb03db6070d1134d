"""The rules inside the PrometheusRule objects, written back out, pass promtool: the checks
and every unit test of prometheus/tests/, run against the extracted files instead of
prometheus/rules/."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.kubernetes.generator.rules import SOURCE_ANNOTATION
from tests.kubernetes.manifests import EXAMPLE, REPO, by_kind, kustomize
from tests.support import require_binary

PROMTOOL_TESTS = sorted((REPO / "prometheus" / "tests").glob("*_test.yml"))


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool")
    return subprocess.run([binary, *args], capture_output=True, text=True, cwd=cwd, check=False)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tmp/rules/<source file name> from each rendered PrometheusRule; tmp/tests/ beside it.

    The promtool tests name their rules as ../rules/<file>, so copied next to the
    extracted rules they load those instead of the originals.
    """
    root = tmp_path_factory.mktemp("k8s-rules")
    (root / "rules").mkdir()
    (root / "tests").mkdir()
    for rule in by_kind(kustomize(EXAMPLE), "PrometheusRule"):
        name = Path(rule["metadata"]["annotations"][SOURCE_ANNOTATION]).name
        (root / "rules" / name).write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    for test in PROMTOOL_TESTS:
        shutil.copy(test, root / "tests" / test.name)
    return root


def test_extracted_rules_pass_promtool_check(extracted: Path) -> None:
    files = sorted(str(path) for path in (extracted / "rules").glob("*.yml"))
    assert files
    result = promtool("check", "rules", *files, cwd=extracted)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass_on_the_extracted_rules(extracted: Path) -> None:
    assert PROMTOOL_TESTS, "no promtool tests found"
    for test in PROMTOOL_TESTS:
        for rule_file in yaml.safe_load(test.read_text())["rule_files"]:
            # Every file a test loads must come from a PrometheusRule, not be missing.
            assert (extracted / "tests" / rule_file).resolve().is_file(), (test.name, rule_file)
    tests = sorted(str(path) for path in (extracted / "tests").glob("*_test.yml"))
    result = promtool("test", "rules", *tests, cwd=extracted / "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_extracted_rule_fails_the_unit_tests(extracted: Path, tmp_path: Path) -> None:
    # The unit tests really read the extracted files: weaken one alert there and they fail.
    copy = tmp_path / "copy"
    shutil.copytree(extracted, copy)
    health = copy / "rules" / "health.rules.yml"
    text = health.read_text()
    assert "for: 30s" in text
    health.write_text(text.replace("for: 30s", "for: 30m"))
    result = promtool("test", "rules", "health_test.yml", cwd=copy / "tests")
    assert result.returncode != 0, result.stdout
